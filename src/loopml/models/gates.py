"""Quality gates: evaluate a model version against a policy, here and now, and keep the result.

Both the challenger and the champion are loaded from the registry (every file checked against
its digest) and scored on the same evaluation dataset version — nothing is trusted from logs.
The result (every check with what was observed and the limit) is stored with the version, so
``promote`` can require a passed gate and a model card can show it.

>>> result = gate("churn@7", read_policy("gates.yaml"))  # doctest: +SKIP
>>> result.passed, [c["name"] for c in result.checks if not c["passed"]]  # doctest: +SKIP
(False, ['must beat champion on accuracy'])
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.entities import GATE_VARIANT_CHECK, GateResult, ModelVersion
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.gate_validation import gate_verdict
from loopml.core.ids import new_id, now_ms
from loopml.models import gate_metrics
from loopml.models.compare import signature_changes
from loopml.models.gate_policy import METRICS, FairnessRule, GatePolicy, SliceRule
from loopml.models.inputs import example_input, to_model_input
from loopml.models.registry import ONNX_FOLDER, OpenedVersion, open_preferred, resolve
from loopml.tracking.client import Client, client_scope
from loopml.tracking.system_info import local_user

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["gate", "latest_gate"]

MAX_SLICE_GROUPS = 50  # a column with more distinct values needs 'bins'


def gate(
    ref: str,
    policy: GatePolicy,
    *,
    against: str | None = None,
    trust_code: bool = False,
    prefer_onnx: bool = True,
    client: Client | None = None,
) -> GateResult:
    """Evaluate the version ``ref`` names against ``policy`` and store the result with it.

    ``against`` (an alias) overrides the policy's ``champion.alias``; with neither, there is
    no comparison. A check that fails makes the result fail; bad input (an unknown column, a
    dataset that does not exist) raises instead and stores nothing, and so does a version
    whose loading runs code it names, unless ``trust_code`` (UntrustedCodeError).

    Versions are scored as predict and serve run them: through their ONNX variant when they
    have one (registration checked it against the native model), unless ``prefer_onnx`` is
    False. The first check (kind ``"variant"``) records which variant was scored."""
    with client_scope(client, create=False) as active:
        challenger = resolve(ref, active)
        data = _evaluation_data(policy, active)
        opened = open_preferred(challenger, active, prefer_onnx=prefer_onnx, trust_code=trust_code)
        scored = _score(opened, policy, data)
        checks = [_variant_check(opened)]
        checks += [_metric_check(bound.metric, scored, bound) for bound in policy.metrics]
        alias = against or policy.champion_alias
        champion = _champion(challenger, alias, active) if alias else None
        if alias:
            checks += _champion_checks(
                challenger, champion, alias, policy, data, scored, active, trust_code, prefer_onnx
            )
        checks += [_slice_check(rule, scored, data) for rule in policy.slices]
        checks += [
            _fairness_check(rule, f"{policy.source}: fairness[{i}]", scored, data)
            for i, rule in enumerate(policy.fairness)
        ]
        if policy.latency_p95_ms is not None:
            checks.append(_latency_check(opened, policy))
        result = GateResult(
            id=new_id(),
            model=challenger.model,
            version=challenger.version,
            passed=gate_verdict(checks),
            checks=tuple(checks),
            policy=policy.to_json(),
            policy_digest=policy.digest,
            evaluated_at=now_ms(),
            against=champion.version if champion is not None else None,
            dataset=data.ref,
            actor=local_user(),
        )
        return active.metadata.add_gate_result(result)


def latest_gate(
    version: ModelVersion, policy: GatePolicy | None, client: Client
) -> GateResult | None:
    """The newest stored gate result of ``version`` (under ``policy`` when given)."""
    results = client.metadata.list_gate_results(version.model, version.version)
    if policy is not None:
        results = [r for r in results if r.policy_digest == policy.digest]
    return results[-1] if results else None


@dataclass(frozen=True)
class _Data:
    """The evaluation table, its labels and where it came from."""

    ref: str  # "name@N"
    table: pa.Table
    labels: np.ndarray


@dataclass(frozen=True)
class _Scored:
    """One model's predictions on the evaluation data (scores: predict_proba, if any)."""

    labels: np.ndarray
    predictions: np.ndarray
    scores: np.ndarray | None
    classes: list[Any]
    task: str
    variant: str  # "onnx" or "native": what produced them


def _evaluation_data(policy: GatePolicy, client: Client) -> _Data:
    import numpy as np

    from loopml.data.versions import get as get_dataset

    handle = get_dataset(policy.dataset, client=client)
    table = handle.to_arrow(policy.table)
    if policy.target not in table.column_names:
        raise InvalidInputError(
            f"{policy.source}: evaluation.target: {handle.ref} has no column "
            f"{policy.target!r}; its columns: {', '.join(table.column_names)}."
        )
    labels = np.asarray(table.column(policy.target).to_pylist())
    return _Data(handle.ref, table, labels)


def _model_input(signature: Mapping[str, Any] | None, policy: GatePolicy, data: _Data) -> Any:
    try:
        return to_model_input(
            signature,
            data.table,
            features=policy.features,
            exclude=(policy.target,),
            source=data.ref,
        )
    except InvalidInputError as exc:
        raise InvalidInputError(f"{policy.source}: evaluation: {exc.message}") from exc


def _score(opened: OpenedVersion, policy: GatePolicy, data: _Data) -> _Scored:
    import numpy as np

    model = opened.model
    features = _model_input(opened.version.signature, policy, data)
    predictions = np.asarray(model.predict(features))
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions[:, 0]
    scores = None
    wants_scores = any(METRICS[name].needs_scores for name in _metric_names(policy))
    if policy.task == "classification" and wants_scores:
        if not hasattr(model, "predict_proba"):
            raise InvalidInputError(
                f"{opened.version.model}@{opened.version.version} has no predict_proba, which "
                f"{policy.source} needs for roc_auc / log_loss; use label metrics."
            )
        scores = np.asarray(model.predict_proba(features))
    known = opened.classes
    classes = known if known is not None else sorted(set(data.labels.tolist()))
    return _Scored(data.labels, predictions, scores, classes, policy.task, opened.variant)


def _metric_names(policy: GatePolicy) -> set[str]:
    return {
        *(bound.metric for bound in policy.metrics),
        *policy.must_beat,
        *(rule.bound.metric for rule in policy.slices),
    }


def _metric_value(name: str, scored: _Scored, rows: Any = None) -> float | None:
    """``name`` computed on ``scored`` (restricted to ``rows``, a mask, when given); None
    when it is undefined there (AUC of a group holding one class)."""
    y, predicted = scored.labels, scored.predictions
    scores = scored.scores
    if rows is not None:
        y, predicted = y[rows], predicted[rows]
        scores = scores[rows] if scores is not None else None
    if len(y) == 0:
        return None
    if scored.task == "regression":
        y, predicted = y.astype(float), predicted.astype(float)
        error: dict[str, Callable[[], float | None]] = {
            "rmse": lambda: gate_metrics.rmse(y, predicted),
            "mae": lambda: gate_metrics.mae(y, predicted),
            "r2": lambda: gate_metrics.r2(y, predicted) if len(y) > 1 else None,
            "mape": lambda: gate_metrics.mape(y, predicted),
        }
        return error[name]()
    binary = len(scored.classes) <= 2
    if name == "accuracy":
        return gate_metrics.accuracy(y, predicted)
    if name == "balanced_accuracy":
        return gate_metrics.balanced_accuracy(y, predicted)
    if name in gate_metrics.LABEL_SCORES:
        positive = scored.classes[-1] if binary else None
        return gate_metrics.label_score(name, y, predicted, positive)
    assert scores is not None  # metrics that need scores made _score compute them
    if name == "log_loss":
        return gate_metrics.log_loss(y, scores, scored.classes)
    return gate_metrics.roc_auc(y, scores, scored.classes)


def _check(
    kind: str, name: str, passed: bool, observed: Any, limit: Any, detail: str = ""
) -> dict[str, Any]:
    if isinstance(observed, float) and not math.isfinite(observed):  # JSON has no NaN / ∞
        observed, passed, detail = None, False, f"{observed} {detail}".strip()
    return {
        "check": kind,
        "name": name,
        "passed": bool(passed),
        "observed": observed,
        "limit": limit,
        "detail": detail,
    }


def _variant_check(opened: OpenedVersion) -> dict[str, Any]:
    """Which model was scored: a record, not a limit (it always passes)."""
    if opened.variant == ONNX_FOLDER:
        checked = (opened.manifest.get(ONNX_FOLDER) or {}).get("max_probability_diff")
        within = f", probabilities within {checked:.2g}" if isinstance(checked, float) else ""
        detail = (
            "the ONNX variant, as predict and serve run it (it predicted the native model's "
            f"labels on the input example at registration{within}); --no-onnx scores the "
            "native model"
        )
    else:
        detail = f"the native {opened.version.flavor} model"
    return _check(GATE_VARIANT_CHECK, "scored variant", True, opened.variant, None, detail)


def _metric_check(metric: str, scored: _Scored, bound: Any) -> dict[str, Any]:
    value = _metric_value(metric, scored)
    if value is None:
        return _check("metric", metric, False, None, bound.describe(), "undefined on this data")
    return _check("metric", metric, bound.holds(value), round(value, 6), bound.describe())


def _champion(challenger: ModelVersion, alias: str, client: Client) -> ModelVersion | None:
    try:
        number = client.metadata.get_model_alias(challenger.model, alias)
    except NotFoundError:
        return None
    return client.metadata.get_model_version(challenger.model, number)


def _champion_checks(
    challenger: ModelVersion,
    champion: ModelVersion | None,
    alias: str,
    policy: GatePolicy,
    data: _Data,
    scored: _Scored,
    client: Client,
    trust_code: bool,
    prefer_onnx: bool,
) -> list[dict[str, Any]]:
    """must-beat per metric and schema compatibility; passed with a note when there is no
    champion yet or the challenger is the champion."""
    names = [f"beats {alias} on {metric}" for metric in policy.must_beat]
    if policy.schema_compatible:
        names.append(f"schema compatible with {alias}")
    if champion is None or champion.version == challenger.version:
        note = f"no {alias} yet" if champion is None else f"this version is the {alias} already"
        return [
            _check("champion", name, True, None, None, note + "; nothing to compare")
            for name in names
        ]
    checks = []
    if policy.must_beat:
        theirs = _score(
            open_preferred(champion, client, prefer_onnx=prefer_onnx, trust_code=trust_code),
            policy,
            data,
        )
        for metric, margin in policy.must_beat.items():
            mine, before = _metric_value(metric, scored), _metric_value(metric, theirs)
            name = f"beats {alias} on {metric}"
            if mine is None or before is None:
                checks.append(_check("champion", name, False, None, margin, "undefined here"))
                continue
            better = mine - before if METRICS[metric].higher_is_better else before - mine
            detail = f"v{challenger.version} {mine:.6g} vs v{champion.version} {before:.6g}"
            if theirs.variant != scored.variant:
                detail += f" (v{champion.version} scored with its {theirs.variant} model)"
            if better == 0 and margin <= 0:
                detail += "; a tie, passed because the margin is 0 (raise it to need a gain)"
            checks.append(
                _check("champion", name, better >= margin, round(better, 6), margin, detail)
            )
    if policy.schema_compatible:
        changes = signature_changes(champion.signature, challenger.signature)["changes"]
        detail = "; ".join(changes) or f"same inputs and outputs as v{champion.version}"
        checks.append(
            _check("schema", f"schema compatible with {alias}", not changes, None, None, detail)
        )
    return checks


def _slice_check(rule: SliceRule, scored: _Scored, data: _Data) -> dict[str, Any]:
    """The worst group of ``rule.column`` (values, or quantile bins) against the bound."""
    import numpy as np

    if rule.column not in data.table.column_names:
        raise InvalidInputError(
            f"slices: {data.ref} has no column {rule.column!r}; its columns: "
            f"{', '.join(data.table.column_names)}."
        )
    values = np.asarray(data.table.column(rule.column).to_pylist(), dtype=object)
    groups = _groups(rule, values, data.ref)
    name = f"{rule.bound.metric} by {rule.column}"
    judged = []
    small = 0
    for label, rows in groups:
        if int(rows.sum()) < rule.min_rows:
            small += 1
            continue
        value = _metric_value(rule.bound.metric, scored, rows)
        if value is not None:
            judged.append((value, label, int(rows.sum())))
    if not judged:
        return _check("slice", name, True, None, rule.bound.describe(), "no group to judge")
    higher = METRICS[rule.bound.metric].higher_is_better
    worst = min(judged) if higher else max(judged)
    failing = [label for value, label, _ in judged if not rule.bound.holds(value)]
    detail = f"worst {rule.column}={worst[1]} ({worst[2]} rows) of {len(judged)} groups"
    if failing:
        detail += f"; failing: {', '.join(failing[:5])}" + (" …" if len(failing) > 5 else "")
    if small:
        detail += f"; {small} under {rule.min_rows} rows not judged"
    return _check("slice", name, not failing, round(worst[0], 6), rule.bound.describe(), detail)


def _fairness_check(rule: FairnessRule, where: str, scored: _Scored, data: _Data) -> dict[str, Any]:
    """A Fairlearn number between the groups of the sensitive columns, against the bound;
    the detail gives each group's rate it is made of."""
    from loopml.models.fairness import fairness_report

    missing = [name for name in rule.sensitive if name not in data.table.column_names]
    if missing:
        raise InvalidInputError(
            f"{where}.sensitive: {data.ref} has no column {missing[0]!r}; its columns: "
            f"{', '.join(data.table.column_names)}."
        )
    try:
        report = fairness_report(
            scored.labels,
            scored.predictions,
            {name: data.table.column(name).to_pylist() for name in rule.sensitive},
            positive=rule.positive,
            classes=scored.classes,
        )
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc.message}") from exc
    metric = rule.bound.metric
    name = f"{metric} by {', '.join(rule.sensitive)}"
    value = report.differences[metric]
    if value is None:
        return _check("fairness", name, False, None, rule.bound.describe(), "undefined here")
    rates = (
        ("selection_rate",)
        if metric.startswith("demographic")
        else (
            "true_positive_rate",
            "false_positive_rate",
        )
    )
    detail = f"positive: {report.positive}; " + "; ".join(
        f"{rate.replace('_', ' ')}: {report.group_values(rate)}" for rate in rates
    )
    return _check(
        "fairness", name, rule.bound.holds(value), round(value, 6), rule.bound.describe(), detail
    )


def _groups(rule: SliceRule, values: np.ndarray, ref: str) -> list[tuple[str, np.ndarray]]:
    import numpy as np

    if rule.bins is not None:
        numbers = values.astype(float)
        edges = np.unique(np.quantile(numbers, np.linspace(0, 1, rule.bins + 1)))
        index = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, len(edges) - 2)
        return [
            (f"[{edges[i]:.4g}, {edges[i + 1]:.4g}]", index == i) for i in range(len(edges) - 1)
        ]
    distinct = sorted({str(v) for v in values})
    if len(distinct) > MAX_SLICE_GROUPS:
        raise InvalidInputError(
            f"slices: column {rule.column!r} of {ref} has {len(distinct)} distinct values "
            f"(at most {MAX_SLICE_GROUPS} make groups); give 'bins: N' to cut it into N "
            "quantile bins."
        )
    text = np.asarray([str(v) for v in values])
    return [(value, text == value) for value in distinct]


def _latency_check(opened: OpenedVersion, policy: GatePolicy) -> dict[str, Any]:
    """p95 of single-row predict calls on the first row of the input example."""
    import numpy as np

    name = "p95 single-row latency (ms)"
    limit = policy.latency_p95_ms
    if opened.input_example is None:
        return _check("latency", name, False, None, limit, "the version has no input example")
    row = _example_row(opened)
    for _ in range(5):  # warm caches, lazy imports and thread pools first
        opened.model.predict(row)
    timings = []
    for _ in range(policy.latency_repeats):
        start = time.perf_counter()
        opened.model.predict(row)
        timings.append((time.perf_counter() - start) * 1000)
    p95 = float(np.percentile(timings, 95))
    detail = f"{policy.latency_repeats} calls, median {float(np.median(timings)):.3g} ms"
    return _check("latency", name, p95 <= (limit or 0), round(p95, 4), limit, detail)


def _example_row(opened: OpenedVersion) -> Any:
    return example_input(opened.version.signature, opened.input_example)
