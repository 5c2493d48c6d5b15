"""Gate policies: the checks a model version must pass, read from YAML.

A policy (``gates.yaml`` at the project root is the default)::

    evaluation:                     # both models are evaluated here, on this data
      dataset: churn_holdout@latest # a dataset version; resolved to its number and recorded
      target: churned               # the label column
      task: classification          # or regression
      # features: [a, b]            # array models: these columns, in order (default: the
      #                             # numeric columns but the target)
    metrics:                        # thresholds on metrics computed on that data
      accuracy: {min: 0.90}
      roc_auc: {min: 0.95}
    champion:                       # compared with the version this alias names (if any)
      alias: champion
      must_beat: {accuracy: 0.0}    # at least as good + margin, both evaluated here
      schema_compatible: true       # same inputs as the champion
    slices:                         # no group of rows worse than a bound
      - {column: region, metric: accuracy, min: 0.80}
      - {column: age, bins: 4, metric: recall, min: 0.75, min_rows: 20}
    latency: {p95_ms: 20}           # single-row predict on the input example
    fairness:                       # Fairlearn's numbers between groups of rows
      - {sensitive: sex, metric: demographic_parity_difference, max: 0.1}
      - {sensitive: [sex, race], metric: equalized_odds_difference, max: 0.2, positive: yes}
    promotion:                      # what 'loopml models promote' requires
      require_gate: true
      require_approval: false

Every error names the file, line, column and field, e.g. ``gates.yaml:7:3: metrics: unknown
metric 'acuracy'; allowed: accuracy, ...``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.yaml_nodes import YamlReader

__all__ = [
    "DEFAULT_POLICY_FILE",
    "METRICS",
    "FairnessRule",
    "GatePolicy",
    "Metric",
    "policy_from_yaml",
    "read_policy",
]

DEFAULT_POLICY_FILE = "gates.yaml"


@dataclass(frozen=True)
class Metric:
    """A metric a gate can compute: its task and whether larger is better."""

    task: str  # "classification" | "regression"
    higher_is_better: bool
    needs_scores: bool = False  # computed from predict_proba


METRICS: Mapping[str, Metric] = {
    "accuracy": Metric("classification", True),
    "balanced_accuracy": Metric("classification", True),
    "precision": Metric("classification", True),
    "recall": Metric("classification", True),
    "f1": Metric("classification", True),
    "roc_auc": Metric("classification", True, needs_scores=True),
    "log_loss": Metric("classification", False, needs_scores=True),
    "rmse": Metric("regression", False),
    "mae": Metric("regression", False),
    "r2": Metric("regression", True),
    "mape": Metric("regression", False),
}
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Bound:
    """``min`` and/or ``max`` for one metric."""

    metric: str
    min: float | None = None
    max: float | None = None

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> str:
        parts = ([f"≥ {self.min:g}"] if self.min is not None else []) + (
            [f"≤ {self.max:g}"] if self.max is not None else []
        )
        return " and ".join(parts)


@dataclass(frozen=True)
class SliceRule:
    """No group of rows (one value of ``column``, or one of ``bins`` quantile bins of it)
    may score worse than ``bound``; groups under ``min_rows`` rows are reported, not judged."""

    column: str
    bound: Bound
    bins: int | None = None
    min_rows: int = 1


@dataclass(frozen=True)
class FairnessRule:
    """A bound on one of :data:`loopml.models.fairness.FAIRNESS_METRICS` between the groups
    of rows of the ``sensitive`` columns (every combination of their values);
    ``positive``: the class that counts as selected (default: the later of two)."""

    sensitive: tuple[str, ...]
    bound: Bound
    positive: str | int | float | bool | None = None


@dataclass(frozen=True)
class GatePolicy:
    """A parsed policy; :attr:`source` is where it came from (for messages)."""

    dataset: str
    target: str
    task: str = "classification"
    table: str | None = None
    features: tuple[str, ...] | None = None
    metrics: tuple[Bound, ...] = ()
    champion_alias: str | None = None
    must_beat: Mapping[str, float] = field(default_factory=dict)
    schema_compatible: bool = False
    slices: tuple[SliceRule, ...] = ()
    latency_p95_ms: float | None = None
    latency_repeats: int = 100
    fairness: tuple[FairnessRule, ...] = ()
    require_gate: bool = False
    require_approval: bool = False
    source: str = "<policy>"

    def to_json(self) -> dict[str, Any]:
        """The policy as plain JSON (stored with every gate result)."""
        document = asdict(self)
        document.pop("source")
        if not self.fairness:  # policies without fairness keep the digests they had
            document.pop("fairness")
        return document

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the canonical JSON: equal policies, equal digests."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_policy(path: str | Path) -> GatePolicy:
    """The policy in the YAML file ``path``."""
    file = Path(path)
    if not file.is_file():
        raise NotFoundError(f"No gate policy at {file}; write one (see 'loopml gate --help').")
    return policy_from_yaml(file.read_text(encoding="utf-8"), source=str(file))


_TOP = ("evaluation", "metrics", "champion", "slices", "latency", "fairness", "promotion")
_EVALUATION = ("dataset", "target", "task", "table", "features")
_CHAMPION = ("alias", "must_beat", "schema_compatible")
_SLICE = ("column", "metric", "min", "max", "bins", "min_rows")
_LATENCY = ("p95_ms", "repeats")
_FAIRNESS = ("sensitive", "metric", "min", "max", "positive")
_PROMOTION = ("require_gate", "require_approval")


def policy_from_yaml(text: str, *, source: str = "<policy>") -> GatePolicy:
    """Parse a policy; errors name ``source``, line, column and field."""
    reader = YamlReader(source)
    root = reader.compose(text)
    if root is None:
        raise InvalidInputError(f"{source}:1:1: the policy is empty; it needs 'evaluation'.")
    top = reader.mapping(root, "policy", _TOP)
    if "evaluation" not in top:
        raise reader.error(root, "policy", "missing key 'evaluation' (dataset and target)")
    evaluation = reader.mapping(top["evaluation"], "evaluation", _EVALUATION)
    for key in ("dataset", "target"):
        if key not in evaluation:
            raise reader.error(top["evaluation"], "evaluation", f"missing key {key!r}")
    task = "classification"
    if "task" in evaluation:
        task = reader.text(evaluation["task"], "evaluation.task")
        if task not in TASKS:
            raise reader.error(
                evaluation["task"],
                "evaluation.task",
                f"unknown task {task!r}; allowed: " + ", ".join(TASKS),
            )
    values: dict[str, Any] = {
        "dataset": reader.text(evaluation["dataset"], "evaluation.dataset"),
        "target": reader.text(evaluation["target"], "evaluation.target"),
        "task": task,
        "source": source,
    }
    if "table" in evaluation:
        values["table"] = reader.text(evaluation["table"], "evaluation.table")
    if "features" in evaluation:
        nodes = reader.sequence(evaluation["features"], "evaluation.features", "column names")
        values["features"] = tuple(
            reader.text(node, f"evaluation.features[{i}]") for i, node in enumerate(nodes)
        )
    check_metric = _metric_checker(reader, task)
    if "metrics" in top:
        bounds = reader.mapping(top["metrics"], "metrics", tuple(METRICS))
        values["metrics"] = tuple(
            _bound(reader, node, name, f"metrics.{name}", check_metric)
            for name, node in bounds.items()
        )
    if "champion" in top:
        values.update(_champion(reader, top["champion"], check_metric))
    if "slices" in top:
        nodes = reader.sequence(top["slices"], "slices", "slice rules")
        values["slices"] = tuple(
            _slice(reader, node, f"slices[{i}]", check_metric) for i, node in enumerate(nodes)
        )
    if "latency" in top:
        latency = reader.mapping(top["latency"], "latency", _LATENCY)
        if "p95_ms" not in latency:
            raise reader.error(top["latency"], "latency", "missing key 'p95_ms'")
        values["latency_p95_ms"] = _positive(reader, latency["p95_ms"], "latency.p95_ms")
        if "repeats" in latency:
            values["latency_repeats"] = _count(reader, latency["repeats"], "latency.repeats")
    if "fairness" in top:
        nodes = reader.sequence(top["fairness"], "fairness", "fairness limits")
        if nodes and task != "classification":
            raise reader.error(
                nodes[0], "fairness", "fairness limits are for classification models"
            )
        values["fairness"] = tuple(
            _fairness(reader, node, f"fairness[{i}]") for i, node in enumerate(nodes)
        )
    if "promotion" in top:
        promotion = reader.mapping(top["promotion"], "promotion", _PROMOTION)
        for key, node in promotion.items():
            values[key] = reader.scalar(node, f"promotion.{key}", (bool,), "true or false")
    return GatePolicy(**values)


def _metric_checker(reader: YamlReader, task: str) -> Callable[[object, str, str], None]:
    def check(node: object, name: str, where: str) -> None:
        known = [m for m, spec in METRICS.items() if spec.task == task]
        if name not in known:
            raise reader.error(
                node, where, f"unknown {task} metric {name!r}; allowed: {', '.join(known)}"
            )

    return check


def _bound(
    reader: YamlReader,
    node: object,
    metric: str,
    where: str,
    check_metric: Callable[[object, str, str], None],
) -> Bound:
    check_metric(node, metric, where)
    limits = reader.mapping(node, where, ("min", "max"))
    if not limits:
        raise reader.error(node, where, "give 'min' and/or 'max'")
    found = {key: reader.number(value, f"{where}.{key}") for key, value in limits.items()}
    return Bound(metric, found.get("min"), found.get("max"))


def _champion(
    reader: YamlReader, node: object, check_metric: Callable[[object, str, str], None]
) -> dict[str, Any]:
    section = reader.mapping(node, "champion", _CHAMPION)
    values: dict[str, Any] = {"champion_alias": "champion"}
    if "alias" in section:
        values["champion_alias"] = reader.text(section["alias"], "champion.alias")
    if "must_beat" in section:
        margins = reader.mapping(section["must_beat"], "champion.must_beat", tuple(METRICS))
        for name, margin in margins.items():
            check_metric(margin, name, f"champion.must_beat.{name}")
        values["must_beat"] = {
            name: reader.number(margin, f"champion.must_beat.{name}")
            for name, margin in margins.items()
        }
    if "schema_compatible" in section:
        values["schema_compatible"] = reader.scalar(
            section["schema_compatible"], "champion.schema_compatible", (bool,), "true or false"
        )
    return values


def _slice(
    reader: YamlReader,
    node: object,
    where: str,
    check_metric: Callable[[object, str, str], None],
) -> SliceRule:
    rule = reader.mapping(node, where, _SLICE)
    for key in ("column", "metric"):
        if key not in rule:
            raise reader.error(node, where, f"missing key {key!r}")
    metric = reader.text(rule["metric"], f"{where}.metric")
    check_metric(rule["metric"], metric, f"{where}.metric")
    limits = {k: reader.number(rule[k], f"{where}.{k}") for k in ("min", "max") if k in rule}
    if not limits:
        raise reader.error(node, where, "give 'min' and/or 'max' for the metric")
    return SliceRule(
        column=reader.text(rule["column"], f"{where}.column"),
        bound=Bound(metric, limits.get("min"), limits.get("max")),
        bins=_count(reader, rule["bins"], f"{where}.bins") if "bins" in rule else None,
        min_rows=_count(reader, rule["min_rows"], f"{where}.min_rows") if "min_rows" in rule else 1,
    )


def _fairness(reader: YamlReader, node: object, where: str) -> FairnessRule:
    from loopml.models.fairness import FAIRNESS_METRICS

    rule = reader.mapping(node, where, _FAIRNESS)
    for key in ("sensitive", "metric"):
        if key not in rule:
            raise reader.error(node, where, f"missing key {key!r}")
    metric = reader.text(rule["metric"], f"{where}.metric")
    if metric not in FAIRNESS_METRICS:
        raise reader.error(
            rule["metric"],
            f"{where}.metric",
            f"unknown fairness metric {metric!r}; allowed: {', '.join(FAIRNESS_METRICS)}",
        )
    limits = {k: reader.number(rule[k], f"{where}.{k}") for k in ("min", "max") if k in rule}
    if not limits:
        smaller = "max" if not FAIRNESS_METRICS[metric] else "min"
        raise reader.error(node, where, f"give '{smaller}' (or 'min'/'max') for {metric}")
    sensitive = rule["sensitive"]
    if reader.kind(sensitive) != "a list":
        columns: tuple[str, ...] = (reader.text(sensitive, f"{where}.sensitive"),)
    else:
        nodes = reader.sequence(sensitive, f"{where}.sensitive", "column names")
        if not nodes:
            raise reader.error(sensitive, f"{where}.sensitive", "name at least one column")
        columns = tuple(
            reader.text(item, f"{where}.sensitive[{i}]") for i, item in enumerate(nodes)
        )
    positive = None
    if "positive" in rule:
        found = reader.scalar(
            rule["positive"], f"{where}.positive", (str, int, float, bool), "a class label"
        )
        positive = found if isinstance(found, str | int | float | bool) else str(found)
    return FairnessRule(columns, Bound(metric, limits.get("min"), limits.get("max")), positive)


def _positive(reader: YamlReader, node: object, where: str) -> float:
    value = reader.number(node, where)
    if value <= 0:
        raise reader.error(node, where, f"expected a number above 0, got {value:g}")
    return value


def _count(reader: YamlReader, node: object, where: str) -> int:
    value = reader.scalar(node, where, (int,), "a whole number")
    assert isinstance(value, int)
    if value < 1:
        raise reader.error(node, where, f"expected a whole number of 1 or more, got {value}")
    return value
