"""Read a model's prediction log back, with the labels that arrived for it joined by id.

>>> table = read_predictions("cancer", client)                      # doctest: +SKIP
>>> table.select(["prediction_id", "model_version", "prediction", "label"])  # doctest: +SKIP

Parts are read from every run of the model in the ``serving`` experiment, only those of the
days asked for (``since_ms``/``until_ms``); the newest label of a prediction wins.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from loopml.core.entities import ArtifactEntry, RunStatus
from loopml.core.hashing import Digest
from loopml.monitoring.log_parts import DAY_MS
from loopml.monitoring.log_records import FEEDBACK, PREDICTIONS
from loopml.monitoring.log_store import KIND_TAG, SERVER, serving_runs
from loopml.tracking.client import Client

__all__ = ["LogStorage", "log_storage", "read_feedback", "read_predictions"]

ROLL_PARAM = "log_roll_seconds"  # the server run's param: its --log-roll-seconds


@dataclass(frozen=True)
class LogStorage:
    """How a model's servers store its log: ``running`` servers (their newest predictions are
    not stored yet) and how often they store it (``roll_seconds``: the longest of the running
    servers', else the newest server's; None when no server ever logged)."""

    servers: int
    running: int
    roll_seconds: float | None

    def note(self) -> str | None:
        """What a reader of the log should know about what is not in it yet."""
        if self.roll_seconds is None:
            return None
        every = (
            f"Servers store the log every {self.roll_seconds:g} s (--log-roll-seconds) and "
            "when they stop"
        )
        if self.running == 0:
            return f"{every}; none is running now."
        which = "1 server is" if self.running == 1 else f"{self.running} servers are"
        whose = "its" if self.running == 1 else "their"
        return (
            f"{every}; {which} still running, so {whose} newest predictions (up to "
            f"{self.roll_seconds:g} s) may not be here yet."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "servers": self.servers,
            "running": self.running,
            "roll_seconds": self.roll_seconds,
            "note": self.note(),
        }


def log_storage(model: str, client: Client) -> LogStorage:
    """The servers of ``model`` that log (every ``loopml serve`` is a run) and their settings;
    a server whose run stopped beating (killed) does not count as running."""
    from loopml.core.ids import now_ms
    from loopml.tracking.heartbeat import lapse_seconds, lost_for_ms

    servers = [run for run in serving_runs(client, model) if run.tags.get(KIND_TAG) == SERVER]
    now, lapse = now_ms(), lapse_seconds()
    running = [
        run
        for run in servers
        if run.status == RunStatus.RUNNING and lost_for_ms(run, now, lapse) is None
    ]
    rolls = [_seconds(run.params.get(ROLL_PARAM)) for run in (running or servers[-1:])]
    known = [seconds for seconds in rolls if seconds is not None]
    return LogStorage(len(servers), len(running), max(known) if known else None)


def _seconds(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def read_predictions(
    model: str,
    client: Client,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    with_feedback: bool = True,
) -> Any:
    """A ``pyarrow.Table`` of ``model``'s logged predictions in ``[since_ms, until_ms)``,
    oldest first, with ``label`` and ``label_time`` columns (null where none arrived)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _read(model, client, PREDICTIONS, since_ms, until_ms)
    if table is None:  # nothing logged yet: the columns, without rows
        table = pa.table(
            {
                "prediction_id": pa.array([], pa.string()),
                "request_id": pa.array([], pa.string()),
                "time": pa.array([], pa.timestamp("ms", tz="UTC")),
                "model_version": pa.array([], pa.string()),
                "traffic": pa.array([], pa.string()),
                "latency_ms": pa.array([], pa.float64()),
                "inputs": pa.array([], pa.null()),
                "prediction": pa.array([], pa.null()),
            }
        )
    table = _within(table, since_ms, until_ms).sort_by([("time", "ascending")])
    if not with_feedback:
        return table
    labels = read_feedback(model, client)
    if labels.num_rows == 0:
        return table.append_column("label", pa.nulls(table.num_rows)).append_column(
            "label_time", pa.nulls(table.num_rows, pa.timestamp("ms", tz="UTC"))
        )
    latest = _latest(labels)
    where = pc.index_in(table["prediction_id"], value_set=latest["prediction_id"])
    return table.append_column("label", latest["label"].take(where)).append_column(
        "label_time", latest["time"].take(where)
    )


def read_feedback(model: str, client: Client) -> Any:
    """Every label sent for ``model``'s predictions: ``prediction_id``, ``label``, ``time``."""
    import pyarrow as pa

    table = _read(model, client, FEEDBACK, None, None)
    if table is None:
        return pa.table(
            {
                "prediction_id": pa.array([], pa.string()),
                "label": pa.array([], pa.string()),
                "time": pa.array([], pa.timestamp("ms", tz="UTC")),
            }
        )
    return table


def _latest(labels: Any) -> Any:
    """One row per prediction id: its newest label."""
    import pyarrow as pa

    ordered = labels.sort_by([("time", "ascending")])
    newest: dict[str, int] = {}
    for index, pid in enumerate(ordered["prediction_id"].to_pylist()):
        newest[pid] = index
    return ordered.take(pa.array(list(newest.values()), pa.int64()))


def _read(model: str, client: Client, kind: str, since_ms: int | None, until_ms: int | None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    read = [
        pq.read_table(io.BytesIO(_blob(client, entry)))
        for entry in _parts(model, client, kind, since_ms, until_ms)
    ]
    if not read:
        return None
    # each part cut to the span first: a day's parts of other versions do not have to fit
    cut = [_within(table, since_ms, until_ms) for table in read]
    tables = [table for table in cut if table.num_rows] or cut[:1]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if kind != FEEDBACK:
            # versions that take an array and versions that take named columns: inputs as JSON
            return pa.concat_tables(
                [_inputs_as_text(table) for table in tables], promote_options="permissive"
            )
        # labels sent as numbers once and as text another time: all as text
        return pa.concat_tables(
            [t.set_column(1, "label", t["label"].cast(pa.string())) for t in tables]
        )


def _inputs_as_text(table: Any) -> Any:
    """``table`` with its ``inputs`` (a struct of named columns, or a list of values) as JSON
    text, so that parts of versions that take different inputs read as one table."""
    import json

    import pyarrow as pa

    values = table["inputs"].to_pylist()
    text = pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
    return table.set_column(table.schema.get_field_index("inputs"), "inputs", text)


def _parts(
    model: str, client: Client, kind: str, since_ms: int | None, until_ms: int | None
) -> Iterator[ArtifactEntry]:
    # a part is filed under the UTC day its first row was spooled, which need not be the day
    # of its rows (a part rolled over midnight, entries stamped before they were written): the
    # days either side are read too, and _within keeps the rows of the window (as log_parts)
    first = _day(since_ms - DAY_MS) if since_ms is not None else ""
    last = _day(until_ms + DAY_MS) if until_ms is not None else "9999"
    for run in serving_runs(client, model):
        for entry in client.metadata.list_artifact_entries(run.id, kind):
            day = entry.path.split("/")[1].removeprefix("date=") if "/" in entry.path else ""
            if first <= day <= last and entry.path.endswith(".parquet"):
                yield entry


def _blob(client: Client, entry: ArtifactEntry) -> bytes:
    with client.artifacts.open(Digest.parse(entry.digest)) as stream:
        return stream.read()


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def _within(table: Any, since_ms: int | None, until_ms: int | None) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = pa.timestamp("ms", tz="UTC")
    if since_ms is not None:
        table = table.filter(pc.greater_equal(table["time"], pa.scalar(since_ms, kind)))
    if until_ms is not None:
        table = table.filter(pc.less(table["time"], pa.scalar(until_ms, kind)))
    return table
