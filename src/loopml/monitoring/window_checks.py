"""What a window's rows say beyond counts: drift against the version's reference, and how
right the labelled predictions were.

Drift compares a uniform sample of the window's rows (at most ``SAMPLE_ROWS``, drawn from its
parts' samples in proportion to their rows) with the reference through
``monitoring.drift.compare``, so the tests, thresholds and choices are ``loopml monitor
drift``'s. Predictions are compared with the reference's column of the version's output
(its signature's name) when the reference has it, else with the version's first window.

Performance before labels arrive (``estimated_performance``, CBPE on the logged scores) is
``window_estimates``'; decay seen by labels (``concept_drift``, a River detector over the error
stream) is ``window_decay``'s; both None where there is nothing to compute them from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopMLError
from loopml.monitoring.label_joins import labelled_pairs
from loopml.monitoring.label_scores import task_of
from loopml.monitoring.log_parts import LogPart
from loopml.monitoring.part_summaries import (
    SAMPLE_KEY,
    SAMPLE_ROWS,
    SCORE,
    PartSummary,
    SummaryCache,
)
from loopml.monitoring.performance import realised_performance
from loopml.tracking.client import Client

if TYPE_CHECKING:
    from loopml.monitoring.references import TableSource
    from loopml.monitoring.windows import LogSelection, Window

__all__ = ["WindowChecks", "check_windows", "version_output"]

PREDICTION = "prediction"
_COLUMN_DTYPES = {"long": "int64", "integer": "int64", "boolean": "bool", "string": "str"}


@dataclass
class WindowChecks:
    """Drift (``drift``: the features; ``prediction_drift``) and ``performance`` (realised,
    from labels) of one window; None where there was nothing to compute from."""

    drift: dict[str, Any] | None = None
    prediction_drift: dict[str, Any] | None = None
    performance: dict[str, Any] | None = None
    estimated_performance: dict[str, Any] | None = None  # CBPE (window_estimates)
    concept_drift: dict[str, Any] | None = None  # a River detector (window_decay)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift": self.drift,
            "prediction_drift": self.prediction_drift,
            "performance": self.performance,
            "estimated_performance": self.estimated_performance,
            "concept_drift": self.concept_drift,
        }


def version_output(client: Client, label: str) -> tuple[str | None, str | None]:
    """What version ``NAME@N`` returns, as its signature says: the dtype (``int64``,
    ``float64``, ``str``...) and the output column's name (None: unknown)."""
    name, _, number = label.rpartition("@")
    try:
        signature = client.metadata.get_model_version(name, int(number)).signature or {}
    except (LoopMLError, ValueError):
        return None, None
    outputs = signature.get("outputs") or {}
    if outputs.get("kind") == "tensor":
        return str(outputs.get("dtype") or "") or None, None
    columns = outputs.get("columns") or []
    if len(columns) == 1:
        kind = str(columns[0].get("type", ""))
        dtype = _COLUMN_DTYPES.get(kind, "float64" if kind in ("double", "float") else None)
        return dtype, columns[0].get("name")
    return None, None


def check_windows(
    client: Client,
    selection: LogSelection,
    windows: Sequence[Window],
    predictions: Sequence[tuple[LogPart, PartSummary]],
    feedback: Sequence[tuple[LogPart, PartSummary]],
    cache: SummaryCache,
) -> list[str]:
    """Fill each window's checks; what could not be checked, said once per version."""
    notes: list[str] = []
    samples = _Samples(selection, predictions)
    outputs = {w.model_version: version_output(client, w.model_version) for w in windows}
    for version in sorted(outputs):
        mine = [w for w in windows if w.model_version == version]
        reference = _reference(client, version, notes)
        baseline = None
        for window in mine:
            current = samples.rows(window)
            if current is None:
                continue
            if reference is not None:
                window.checks.drift = _feature_drift(reference, current, window, notes)
            target = outputs[version][1]
            if reference is not None and target in reference.columns:
                expected = reference.column(target)
            else:
                baseline = baseline if baseline is not None else current[PREDICTION]
                expected = baseline
            window.checks.prediction_drift = _prediction_drift(expected, current, notes)
    pairs = _performance(client, selection, windows, (predictions, feedback), cache, outputs)
    _estimates_and_decay(client, windows, pairs, samples, cache, outputs, notes)
    return notes


def _estimates_and_decay(
    client: Client,
    windows: Sequence[Window],
    pairs: Any,
    samples: _Samples,
    cache: SummaryCache,
    outputs: dict[str, tuple[str | None, str | None]],
    notes: list[str],
) -> None:
    import pyarrow.compute as pc

    from loopml.monitoring.window_decay import detect_decay
    from loopml.monitoring.window_estimates import estimate_windows

    identities = {w.model_version: _identity(client, w.model_version) for w in windows}
    estimate_windows(windows, pairs, samples.rows, cache, identities, notes)
    if pairs is None:
        return
    for version in sorted(identities):
        mine = pairs.filter(pc.equal(pairs["model_version"], version))
        predicted = mine[PREDICTION].slice(0, 1000).to_pylist()
        task = task_of(outputs[version][0], predicted) if mine.num_rows else None
        if task is None:
            continue
        try:
            detect_decay(
                [w for w in windows if w.model_version == version],
                mine,
                task,
                cache=cache,
                identity=identities[version],
            )
        except LoopMLError as exc:  # River not installed, a detector that refused
            _once(notes, f"No concept drift for {version}: {exc.message}")


def _identity(client: Client, label: str) -> str | None:
    """The digest of version ``NAME@N``'s files: names what is kept for it."""
    name, _, number = label.rpartition("@")
    try:
        return client.metadata.get_model_version(name, int(number)).tree_digest
    except (LoopMLError, ValueError):
        return None


class _Samples:
    """Uniform samples of windows, from the selected prediction parts' bottom-k samples: the
    window's rows with the smallest sample keys; each part's sample is read only up to the
    key the window needs (its row groups are sorted by key)."""

    def __init__(
        self, selection: LogSelection, predictions: Sequence[tuple[LogPart, PartSummary]]
    ) -> None:
        self.selection = selection
        self.predictions = predictions
        self._read: dict[tuple[int, str], Any] = {}  # drift and CBPE read each window once

    def rows(self, window: Window) -> Any:
        """A uniform sample of ``window``'s rows (a ``pyarrow.Table``), None if none."""
        key = (window.start_ms, window.model_version)
        if key not in self._read:
            self._read[key] = self._rows(window)
        return self._read[key]

    def _rows(self, window: Window) -> Any:
        target = min(window.rows, SAMPLE_ROWS)
        if target == 0:
            return None
        # rows with a key below the cut are a uniform sample, about twice the target
        cut = min(1.0, 2 * target / window.rows)
        found = self._below(window, cut)
        if found is not None and found.num_rows < target and cut < 1.0:
            found = self._below(window, 1.0)
        if found is None:
            return None
        return found.sort_by(SAMPLE_KEY).slice(0, target)

    def _below(self, window: Window, cut: float) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        pieces = []
        for _part, summary in self.predictions:
            groups = [
                g
                for g in summary.groups
                if window.start_ms <= g.bucket_ms < window.end_ms
                and g.model_version == window.model_version
                and self.selection.wants(g)
            ]
            if not groups or summary.sample is None:
                continue
            table = pq.read_table(summary.sample, filters=[(SAMPLE_KEY, "<=", cut)])
            inside = pc.and_(
                pc.and_(
                    pc.greater_equal(table["bucket_ms"], window.start_ms),
                    pc.less(table["bucket_ms"], window.end_ms),
                ),
                pc.equal(table["model_version"], window.model_version),
            )
            if self.selection.traffic is not None:
                inside = pc.and_(inside, pc.equal(table["traffic"], self.selection.traffic))
            pieces.append(table.filter(inside))
        if not pieces:
            return None
        return pa.concat_tables(pieces, promote_options="permissive")


def _reference(client: Client, version: str, notes: list[str]) -> TableSource | None:
    """The version's reference, its columns in memory (read once for every window)."""
    from loopml.monitoring.references import TableSource, resolve_table

    try:
        found = resolve_table(f"models:/{version}", role="reference", client=lambda: client)
        table = found.table
        if table is None:
            import pyarrow.parquet as pq

            table = pq.read_table(found.path)
    except LoopMLError as exc:
        notes.append(f"No drift for {version}: {exc.message}")
        return None
    return TableSource(found.label, None, profile=found.profile, table=table)


def _feature_drift(
    reference: TableSource, current: Any, window: Window, notes: list[str]
) -> dict[str, Any] | None:
    import pyarrow as pa

    from loopml.monitoring.drift import DriftOptions, compare
    from loopml.monitoring.references import TableSource

    inputs = current["inputs"].combine_chunks()
    if not pa.types.is_struct(inputs.type):
        _once(notes, f"No feature drift for {window.model_version}: its inputs are arrays.")
        return None
    names = [inputs.type.field(i).name for i in range(inputs.type.num_fields)]
    shared = [name for name in names if name in reference.columns]
    if not shared:
        _once(notes, f"No feature drift for {window.model_version}: no input is in its reference.")
        return None
    table = pa.table({name: inputs.field(names.index(name)) for name in shared})
    try:
        report = compare(
            reference, TableSource.in_memory(table, "window"), DriftOptions(columns=tuple(shared))
        )
    except LoopMLError as exc:
        _once(notes, f"No feature drift for {window.model_version}: {exc.message}")
        return None
    return {
        "drifted": report.dataset_drifted,
        "share": report.share,
        "drifted_features": report.drifted_features,
        "sample_rows": table.num_rows,
        "features": {c.column: _column(c) for c in report.features},
    }


def _prediction_drift(expected: Any, current: Any, notes: list[str]) -> dict[str, Any] | None:
    import pyarrow as pa

    from loopml.monitoring.drift import DriftOptions, compare
    from loopml.monitoring.references import TableSource

    try:
        report = compare(
            TableSource.in_memory(pa.table({PREDICTION: expected}), "expected"),
            TableSource.in_memory(pa.table({PREDICTION: current[PREDICTION]}), "window"),
            DriftOptions(prediction=PREDICTION),
        )
    except LoopMLError as exc:
        _once(notes, f"No prediction drift: {exc.message}")
        return None
    return _column(report.prediction) if report.prediction is not None else None


def _column(result: Any) -> dict[str, Any]:
    return {
        "method": result.method,
        "statistic": result.statistic,
        "p_value": result.p_value,
        "drifted": result.drifted,
    }


def _performance(
    client: Client,
    selection: LogSelection,
    windows: Sequence[Window],
    parts: tuple[Sequence[tuple[LogPart, PartSummary]], Sequence[tuple[LogPart, PartSummary]]],
    cache: SummaryCache,
    outputs: dict[str, tuple[str | None, str | None]],
) -> Any:
    """Fill each window's realised performance; the labelled pairs (None: no label)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    predictions, feedback = parts
    if not windows or not feedback:
        return None
    used = [(p, s) for p, s in predictions if any(_touches(s, w) for w in windows)]
    pairs = labelled_pairs(client, used, feedback, cache)
    if pairs is None:
        return None
    if selection.traffic is not None:
        pairs = pairs.filter(pc.equal(pairs["traffic"], selection.traffic))
    moments = pairs["time"].cast(pa.int64())
    for window in windows:
        mine = pc.and_(
            pc.and_(pc.greater_equal(moments, window.start_ms), pc.less(moments, window.end_ms)),
            pc.equal(pairs["model_version"], window.model_version),
        )
        rows = pairs.filter(mine)
        if rows.num_rows == 0:
            continue
        predicted = rows[PREDICTION]
        task = task_of(outputs[window.model_version][0], predicted.slice(0, 1000).to_pylist())
        if task is None:
            continue
        scores = None
        if SCORE in rows.column_names and pa.types.is_floating(rows[SCORE].type):
            scores = rows[SCORE].cast(pa.float64()).fill_null(float("nan")).to_numpy()
        window.checks.performance = realised_performance(predicted, rows["label"], task, scores)
    return pairs


def _touches(summary: PartSummary, window: Window) -> bool:
    return any(window.start_ms <= g.bucket_ms < window.end_ms for g in summary.groups)


def _once(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)
