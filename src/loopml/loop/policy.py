"""The retraining policy: the ``retraining:`` section of ``loopml.yaml``, one entry per model
the loop looks after. Every error names the file, line, column and field::

    retraining:
      - model: churn@champion          # the model and the alias the loop moves
        pipeline: train-churn           # a name under `pipelines:`
        dataset: churn-data             # trained on its newest version ...
        data_param: data                # ... passed as this pipeline param ("churn-data@7")
        triggers:
          drift: {drift_share: 0.3, window: 1h, min_samples: 200}
          decay: {metric: accuracy, below: 0.85, window: 1h, min_labels: 200}
          schedule: {every: 1d}
          new_data: {dataset: churn-data}
        gate: gates.yaml                # default: the project's gates.yaml, if any
        promotion: auto                 # or approval (the default)
        rollback_guard: {metric: accuracy, margin: 0.02, watch: 1h, min_samples: 200}
        cooldown: 6h                    # between two retrainings of this model
        feedback: {append: true, since: 7d}  # labelled predictions → a new version of dataset
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from loopml.core.durations import DURATION_FORMS, parse_duration_ms
from loopml.core.errors import InvalidInputError
from loopml.core.refs import check_alias
from loopml.core.suggest import did_you_mean
from loopml.core.validation import validate_ref_name
from loopml.core.yaml_nodes import YamlReader
from loopml.models.gate_policy import DEFAULT_POLICY_FILE, read_policy
from loopml.pipelines.loading import PROJECT_FILE, named_pipelines

__all__ = [
    "LOWER_IS_BETTER",
    "DecayTrigger",
    "DriftTrigger",
    "FeedbackData",
    "LoopPolicy",
    "NewDataTrigger",
    "PromotionMode",
    "RetrainingPolicy",
    "RollbackGuard",
    "ScheduleTrigger",
    "load_loop_policy",
    "loop_policy_from_yaml",
]

SECTION = "retraining"
# performance signals of a window that need labels (feedback) to be computed
LABELLED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "rmse", "mae", "r2")
ESTIMATED_METRICS = ("estimated_accuracy", "estimated_roc_auc")
# 1 in a window where the labelled error stream's detector (ADWIN) found decay, else 0
CONCEPT_DRIFT = "concept_drift"
DECAY_METRICS = (*LABELLED_METRICS, *ESTIMATED_METRICS, CONCEPT_DRIFT)
GUARD_METRICS = (*DECAY_METRICS, "drift_share", "prediction_drift", "error_rate")
# signals where a larger value is worse; for every other one a smaller value is worse
LOWER_IS_BETTER = frozenset(
    {"rmse", "mae", "drift_share", "prediction_drift", "error_rate", CONCEPT_DRIFT}
)
DEFAULT_COOLDOWN_MS = 3_600_000
DEFAULT_MIN_SAMPLES = 100

_ENTRY = (
    "model",
    "pipeline",
    "dataset",
    "data_param",
    "triggers",
    "gate",
    "promotion",
    "rollback_guard",
    "cooldown",
    "feedback",
)
_FEEDBACK = ("append", "since", "target")
_TRIGGERS = ("drift", "decay", "schedule", "new_data")
_DRIFT = ("drift_share", "prediction_drift", "window", "min_samples")
_DECAY = ("metric", "below", "above", "drop", "window", "min_labels")
_GUARD = ("metric", "margin", "watch", "min_samples")


class PromotionMode(enum.StrEnum):
    AUTO = "auto"  # a challenger that passes the gate becomes the alias at once
    APPROVAL = "approval"  # it waits (held) for `loopml models approve`


@dataclass(frozen=True, slots=True)
class DriftTrigger:
    """Retrain when the champion's latest ``window_ms`` window has at least ``min_samples``
    predictions and its drift share (or prediction drift) is at or above the threshold."""

    window_ms: int
    drift_share: float | None = None
    prediction_drift: float | None = None
    min_samples: int = DEFAULT_MIN_SAMPLES


@dataclass(frozen=True, slots=True)
class DecayTrigger:
    """Retrain when ``metric`` over the latest window (with at least ``min_labels`` labelled
    predictions; estimated metrics need none) is below ``below`` (above ``above`` for an
    error like rmse), or worse than the champion's baseline by ``drop`` or more."""

    metric: str
    window_ms: int
    below: float | None = None
    above: float | None = None
    drop: float | None = None
    min_labels: int = DEFAULT_MIN_SAMPLES


@dataclass(frozen=True, slots=True)
class ScheduleTrigger:
    """Retrain once in every period of ``every_ms`` (periods counted from the epoch, UTC)."""

    every_ms: int


@dataclass(frozen=True, slots=True)
class NewDataTrigger:
    """Retrain when ``dataset`` has a version newer than the last one trained on."""

    dataset: str


@dataclass(frozen=True, slots=True)
class RollbackGuard:
    """For ``watch_ms`` after a promotion, roll the alias back when the new champion's
    ``metric`` is worse than the previous champion's by ``margin`` or more, both measured on
    at least ``min_samples`` predictions (labelled ones for a labelled metric)."""

    metric: str
    margin: float
    watch_ms: int
    min_samples: int = DEFAULT_MIN_SAMPLES


@dataclass(frozen=True, slots=True)
class FeedbackData:
    """Before a retraining, the champion's labelled predictions (its logged inputs joined to
    the feedback sent for them) made in the last ``since_ms`` (None: all) become the next
    version of the entry's ``dataset``, after the rows of its newest version when ``append``;
    ``target`` names the column the labels fill when the model's training data does not
    tell. The agent does it when a trigger fires (``loop.agent_tick``)."""

    append: bool = True
    since_ms: int | None = None
    target: str | None = None

    def since(self, now_ms: int) -> int | None:
        """The first moment whose predictions are exported, at ``now_ms``."""
        return None if self.since_ms is None else now_ms - self.since_ms


@dataclass(frozen=True, slots=True)
class RetrainingPolicy:
    """How the loop looks after ``model@alias`` (one entry of ``retraining:``)."""

    model: str
    alias: str
    pipeline: str
    source: str  # "loopml.yaml:3:5", where the entry starts
    dataset: str | None = None
    data_param: str | None = None
    drift: DriftTrigger | None = None
    decay: DecayTrigger | None = None
    schedule: ScheduleTrigger | None = None
    new_data: NewDataTrigger | None = None
    gate: Path | None = None  # None: the project's gates.yaml, if there is one
    promotion: PromotionMode = PromotionMode.APPROVAL
    rollback_guard: RollbackGuard | None = None
    cooldown_ms: int = DEFAULT_COOLDOWN_MS
    feedback: FeedbackData | None = None  # export labelled predictions to ``dataset`` first

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.alias}"

    def window_lengths(self) -> frozenset[int]:
        """The window lengths (ms) the agent summarises for this model's triggers."""
        return frozenset(t.window_ms for t in (self.drift, self.decay) if t is not None)


@dataclass(frozen=True, slots=True)
class LoopPolicy:
    """Every retraining policy of the project; empty when ``loopml.yaml`` has none."""

    source: str
    retraining: tuple[RetrainingPolicy, ...] = field(default=())

    def for_model(self, model: str, alias: str) -> RetrainingPolicy | None:
        return next((p for p in self.retraining if (p.model, p.alias) == (model, alias)), None)


def load_loop_policy(project: Path) -> LoopPolicy:
    """The policy in ``<project>/loopml.yaml`` (an empty one if the file or section is
    missing); gate files are found relative to ``project``."""
    path = project / PROJECT_FILE
    if not path.is_file():
        return LoopPolicy(str(path))
    text = path.read_text(encoding="utf-8")
    return loop_policy_from_yaml(text, source=str(path), project=project)


def loop_policy_from_yaml(text: str, *, source: str, project: Path) -> LoopPolicy:
    """Parse the ``retraining:`` section of a ``loopml.yaml`` text."""
    reader = YamlReader(source, InvalidInputError)
    root = reader.compose(text)
    section = _section(reader, root)
    if section is None:
        return LoopPolicy(source)
    pipelines = sorted(named_pipelines(project)) if section.value else []
    entries = reader.sequence(section, SECTION, "models to retrain (each with 'model:')")
    parsed: list[RetrainingPolicy] = []
    for index, node in enumerate(entries):
        entry = _Entry(reader, node, f"{SECTION}[{index}]", project, pipelines).parse()
        if any(p.ref == entry.ref for p in parsed):
            raise reader.error(node, f"{SECTION}[{index}].model", f"{entry.ref} is listed twice")
        parsed.append(entry)
    return LoopPolicy(source, tuple(parsed))


def _section(reader: YamlReader, root: yaml.Node | None) -> yaml.Node | None:
    if root is None:
        return None
    if not isinstance(root, yaml.MappingNode):
        raise reader.error(root, PROJECT_FILE, "expected a mapping of sections (pipelines, …)")
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == SECTION:
            if isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:null":
                return None
            return value
    return None


class _Entry:
    """One entry of ``retraining:`` as it is read (so the field paths stay in one place)."""

    def __init__(
        self, reader: YamlReader, node: object, where: str, project: Path, pipelines: list[str]
    ) -> None:
        self.reader, self.node, self.where = reader, node, where
        self.project, self.pipelines = project, pipelines

    def parse(self) -> RetrainingPolicy:
        reader, where = self.reader, self.where
        fields = reader.mapping(self.node, where, _ENTRY)
        for required in ("model", "pipeline", "triggers"):
            if required not in fields:
                raise reader.error(self.node, where, f"missing key {required!r}")
        model, alias = self._model(fields["model"])
        pipeline = self._pipeline(fields["pipeline"])
        dataset = self._name(fields, "dataset")
        data_param = (
            reader.text(fields["data_param"], f"{where}.data_param")
            if ("data_param" in fields)
            else None
        )
        if (dataset is None) != (data_param is None):
            raise reader.error(
                self.node,
                where,
                "give 'dataset' and 'data_param' together (the dataset whose "
                "newest version the pipeline trains on, and the param that takes it)",
            )
        drift, decay, schedule, new_data = self._triggers(fields["triggers"], dataset)
        mark = getattr(self.node, "start_mark", None)
        line = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "1:1"
        return RetrainingPolicy(
            model=model,
            alias=alias,
            pipeline=pipeline,
            source=f"{reader.source}:{line}",
            dataset=dataset,
            data_param=data_param,
            gate=self._gate(fields.get("gate")),
            promotion=self._promotion(fields.get("promotion")),
            rollback_guard=self._guard(fields.get("rollback_guard")),
            cooldown_ms=self._duration(fields, "cooldown", DEFAULT_COOLDOWN_MS, allow_zero=True),
            drift=drift,
            decay=decay,
            schedule=schedule,
            new_data=new_data,
            feedback=self._feedback(fields.get("feedback"), dataset),
        )

    def _feedback(self, node: object | None, dataset: str | None) -> FeedbackData | None:
        if node is None:
            return None
        reader, where = self.reader, f"{self.where}.feedback"
        if dataset is None:
            raise reader.error(
                node, where, "give 'dataset' (and 'data_param'): the labelled predictions "
                "become its next version",
            )  # fmt: skip
        spec = reader.mapping(node, where, _FEEDBACK)
        append = True
        if "append" in spec:
            value = reader.scalar(spec["append"], f"{where}.append", (bool,), "true or false")
            append = bool(value)
        since = self._duration(spec, "since", 0, prefix=where) if "since" in spec else None
        target = reader.text(spec["target"], f"{where}.target") if "target" in spec else None
        return FeedbackData(append=append, since_ms=since, target=target)

    def _model(self, node: object) -> tuple[str, str]:
        where = f"{self.where}.model"
        text = self.reader.text(node, where)
        name, _, alias = text.partition("@")
        try:
            return validate_ref_name("model", name), check_alias(alias or "champion")
        except InvalidInputError as exc:
            raise self.reader.error(node, where, f"expected NAME@ALIAS: {exc.message}") from None

    def _pipeline(self, node: object) -> str:
        where = f"{self.where}.pipeline"
        name = self.reader.text(node, where)
        if name not in self.pipelines:
            known = ", ".join(self.pipelines) or "none: add a 'pipelines:' section"
            hint = did_you_mean(name, self.pipelines)
            raise self.reader.error(
                node, where, f"no pipeline named {name!r} in 'pipelines:' ({known}).{hint}"
            )
        return name

    def _name(self, fields: dict[str, object], key: str, prefix: str | None = None) -> str | None:
        if key not in fields:
            return None
        where = f"{prefix or self.where}.{key}"
        text = self.reader.text(fields[key], where)
        try:
            return validate_ref_name("dataset", text)
        except InvalidInputError as exc:
            raise self.reader.error(fields[key], where, exc.message) from None

    def _triggers(
        self, node: object, dataset: str | None
    ) -> tuple[
        DriftTrigger | None, DecayTrigger | None, ScheduleTrigger | None, NewDataTrigger | None
    ]:
        reader, where = self.reader, f"{self.where}.triggers"
        found = reader.mapping(node, where, _TRIGGERS)
        if not found:
            raise reader.error(node, where, f"name at least one trigger: {', '.join(_TRIGGERS)}")
        drift = self._drift(found["drift"], f"{where}.drift") if "drift" in found else None
        decay = self._decay(found["decay"], f"{where}.decay") if "decay" in found else None
        schedule = new_data = None
        if "schedule" in found:
            spec = reader.mapping(found["schedule"], f"{where}.schedule", ("every",))
            if "every" not in spec:
                raise reader.error(found["schedule"], f"{where}.schedule", "missing key 'every'")
            schedule = ScheduleTrigger(self._duration(spec, "every", 0, prefix=f"{where}.schedule"))
        if "new_data" in found:
            sub = f"{where}.new_data"
            spec = reader.mapping(found["new_data"], sub, ("dataset",))
            name = self._name(spec, "dataset", sub) or dataset
            if name is None:
                raise reader.error(found["new_data"], sub, "name the 'dataset' to watch")
            new_data = NewDataTrigger(name)
        return drift, decay, schedule, new_data

    def _drift(self, node: object, where: str) -> DriftTrigger:
        spec = self.reader.mapping(node, where, _DRIFT)
        share = self._fraction(spec, "drift_share", where)
        prediction = self._fraction(spec, "prediction_drift", where)
        if share is None and prediction is None:
            raise self.reader.error(node, where, "give 'drift_share' and/or 'prediction_drift'")
        return DriftTrigger(
            window_ms=self._window(spec, node, where),
            drift_share=share,
            prediction_drift=prediction,
            min_samples=self._count(spec, "min_samples", where),
        )

    def _decay(self, node: object, where: str) -> DecayTrigger:
        reader = self.reader
        spec = reader.mapping(node, where, _DECAY)
        metric = self._metric(spec, node, where, DECAY_METRICS)
        given = [key for key in ("below", "above", "drop") if key in spec]
        if len(given) != 1:
            raise reader.error(node, where, "give exactly one of 'below', 'above' or 'drop'")
        lower_better = metric in LOWER_IS_BETTER
        if given == ["below"] and lower_better:
            raise reader.error(
                spec["below"], f"{where}.below", f"{metric} decays upwards: use 'above'"
            )
        if given == ["above"] and not lower_better:
            raise reader.error(
                spec["above"], f"{where}.above", f"{metric} decays downwards: use 'below'"
            )
        value = reader.number(spec[given[0]], f"{where}.{given[0]}")
        if given == ["drop"] and value <= 0:
            raise reader.error(spec["drop"], f"{where}.drop", f"expected a number > 0, got {value}")
        return DecayTrigger(
            metric=metric,
            window_ms=self._window(spec, node, where),
            min_labels=self._count(spec, "min_labels", where),
            **{given[0]: value},
        )

    def _guard(self, node: object | None) -> RollbackGuard | None:
        if node is None:
            return None
        reader, where = self.reader, f"{self.where}.rollback_guard"
        spec = reader.mapping(node, where, _GUARD)
        for key in ("metric", "margin", "watch"):
            if key not in spec:
                raise reader.error(node, where, f"missing key {key!r}")
        margin = reader.number(spec["margin"], f"{where}.margin")
        if margin < 0:
            raise reader.error(spec["margin"], f"{where}.margin", f"expected >= 0, got {margin}")
        return RollbackGuard(
            metric=self._metric(spec, node, where, GUARD_METRICS),
            margin=margin,
            watch_ms=self._duration(spec, "watch", 0, prefix=where),
            min_samples=self._count(spec, "min_samples", where),
        )

    def _gate(self, node: object | None) -> Path | None:
        if node is None:
            default = self.project / DEFAULT_POLICY_FILE
            return default if default.is_file() else None
        where = f"{self.where}.gate"
        path = self.project / self.reader.text(node, where)
        if not path.is_file():
            raise self.reader.error(node, where, f"no gate policy file at {path}")
        read_policy(path)  # a malformed gate policy is an error now, not at the first gate
        return path

    def _promotion(self, node: object | None) -> PromotionMode:
        if node is None:
            return PromotionMode.APPROVAL
        where = f"{self.where}.promotion"
        text = self.reader.text(node, where)
        if text not in tuple(PromotionMode):
            raise self.reader.error(node, where, f"expected auto or approval, got {text!r}")
        return PromotionMode(text)

    def _metric(
        self, spec: dict[str, object], node: object, where: str, allowed: tuple[str, ...]
    ) -> str:
        if "metric" not in spec:
            raise self.reader.error(node, where, "missing key 'metric'")
        metric = self.reader.text(spec["metric"], f"{where}.metric")
        if metric not in allowed:
            hint = did_you_mean(metric, allowed)
            raise self.reader.error(
                spec["metric"],
                f"{where}.metric",
                f"{metric!r} is not one of {', '.join(allowed)}.{hint}",
            )
        return metric

    def _fraction(self, spec: dict[str, object], key: str, where: str) -> float | None:
        if key not in spec:
            return None
        value = self.reader.number(spec[key], f"{where}.{key}")
        if not 0 < value <= 1:
            raise self.reader.error(
                spec[key], f"{where}.{key}", f"expected 0 < x <= 1, got {value}"
            )
        return value

    def _count(self, spec: dict[str, object], key: str, where: str) -> int:
        if key not in spec:
            return DEFAULT_MIN_SAMPLES
        value = self.reader.scalar(spec[key], f"{where}.{key}", (int,), "a whole number >= 1")
        if not isinstance(value, int) or value < 1:
            raise self.reader.error(spec[key], f"{where}.{key}", f"expected >= 1, got {value!r}")
        return value

    def _window(self, spec: dict[str, object], node: object, where: str) -> int:
        if "window" not in spec:
            raise self.reader.error(node, where, "missing key 'window' (like 1h)")
        return self._duration(spec, "window", 0, prefix=where)

    def _duration(
        self,
        spec: dict[str, object],
        key: str,
        default: int,
        *,
        prefix: str | None = None,
        allow_zero: bool = False,
    ) -> int:
        if key not in spec:
            return default
        where = f"{prefix or self.where}.{key}"
        node = spec[key]
        text = str(self.reader.scalar(node, where, (str, int), "a duration like 30m, 1h or 1d"))
        value = parse_duration_ms(text)
        if value is None or (value == 0 and not allow_zero):
            raise self.reader.error(node, where, f"expected {DURATION_FORMS}, got {text!r}")
        return value
