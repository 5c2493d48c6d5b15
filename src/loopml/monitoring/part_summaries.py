"""Each stored part of the prediction log summarised once, and the summary kept.

A part is content-addressed, so its summary never goes stale: it is computed the first time a
report needs the part and kept in the project's ``.loopml/cache/monitor`` (else the user's
cache), named by the part's digest. A window then merges the summaries of its parts and never
reads a part twice; a long-running deployment adds parts, and only those are read.

A summary holds, per minute (``BUCKET_MS``), model version and traffic: rows, requests, a
latency sketch (per request), errors (5xx and all), and a sample of rows (inputs and
prediction) for drift, written beside it as Parquet. The sample is a bottom-k sketch: every
row draws a random ``sample_key`` and each group keeps its ``SAMPLE_ROWS`` smallest, so the
rows of a window with the smallest keys over all its groups are a uniform sample of the
window, and the file, sorted by key in small row groups, is read only up to the key needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml.monitoring.latency_sketch import LatencySketch
from loopml.monitoring.log_parts import LogPart, read_part
from loopml.monitoring.log_records import ERRORS, FEEDBACK, PREDICTIONS
from loopml.tracking.client import Client

__all__ = [
    "BUCKET_MS",
    "SAMPLE_KEY",
    "SAMPLE_ROWS",
    "GroupSummary",
    "PartRead",
    "PartSummary",
    "SummaryCache",
    "summarise_part",
]

BUCKET_MS = 60_000
SAMPLE_ROWS = 5_000
FORMAT = 2
SAMPLE_KEY = "sample_key"
SAMPLE_ROW_GROUP = 1_000
SCORE = "score"  # an optional column of class-1 probabilities (ROC AUC, estimated performance)
_SAMPLED = ("time", "model_version", "traffic", "inputs", "prediction", SCORE)


@dataclass
class GroupSummary:
    """One minute of one version's traffic in one part."""

    bucket_ms: int
    model_version: str
    traffic: str
    rows: int = 0
    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    latency: LatencySketch = field(default_factory=LatencySketch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket_ms": self.bucket_ms,
            "model_version": self.model_version,
            "traffic": self.traffic,
            "rows": self.rows,
            "requests": self.requests,
            "errors": self.errors,
            "server_errors": self.server_errors,
            "latency": self.latency.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupSummary:
        return cls(
            **{k: v for k, v in data.items() if k != "latency"},
            latency=LatencySketch.from_dict(data["latency"]),
        )


@dataclass
class PartSummary:
    """What one part holds: its time range and its groups; ``sample`` (prediction parts) is
    the Parquet file of its sampled rows, with a ``bucket_ms`` column."""

    digest: str
    kind: str
    min_ms: int | None
    max_ms: int | None
    groups: list[GroupSummary]
    sample: Path | None = None


class SummaryCache:
    """Part summaries (``<digest>.json`` and ``<digest>.sample.parquet``) and label joins
    (``joins/<prediction part>/<feedback part>.parquet``) under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_client(cls, client: Client) -> SummaryCache:
        """The project's ``.loopml/cache/monitor``, else the user's cache (a remote store)."""
        if client.project_root is not None:
            return cls(client.project_root / "cache" / "monitor")
        from loopml.data.versions import user_cache_dir

        return cls(user_cache_dir() / "monitor")

    def path(self, digest: str, suffix: str) -> Path:
        return self.folder / f"{digest.replace(':', '-')}{suffix}"

    def join_path(self, prediction_digest: str, feedback_digest: str) -> Path:
        folder = self.folder / "joins" / prediction_digest.replace(":", "-")
        return folder / f"{feedback_digest.replace(':', '-')}.parquet"

    def load(self, part: LogPart) -> PartSummary | None:
        try:
            data = json.loads(self.path(part.digest, ".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("format") != FORMAT:
            return None
        sample = self.path(part.digest, ".sample.parquet")
        return PartSummary(
            part.digest,
            data["kind"],
            data["min_ms"],
            data["max_ms"],
            [GroupSummary.from_dict(group) for group in data["groups"]],
            sample if sample.is_file() else None,
        )

    def save(self, summary: PartSummary) -> None:
        data = {
            "format": FORMAT,
            "kind": summary.kind,
            "min_ms": summary.min_ms,
            "max_ms": summary.max_ms,
            "groups": [group.to_dict() for group in summary.groups],
        }
        with self.writing(self.path(summary.digest, ".json")) as temporary:
            temporary.write_text(json.dumps(data), encoding="utf-8")

    def writing(self, path: Path) -> _Replacing:
        """A temporary file beside ``path`` that becomes ``path`` when the block ends well."""
        return _Replacing(path)


class _Replacing:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.temporary

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            os.replace(self.temporary, self.path)
        else:
            self.temporary.unlink(missing_ok=True)


PartRead = Callable[[LogPart, Any, "PartSummary"], None]
"""Called with a prediction part's table (``pyarrow.Table``) and summary once it is read,
so what else needs its rows (the label joins) is made without reading it again."""


def summarise_part(
    client: Client, part: LogPart, cache: SummaryCache, *, on_read: PartRead | None = None
) -> PartSummary:
    """``part``'s summary: from the cache, else read (once) and kept."""
    found = cache.load(part)
    if found is not None:
        return found
    if part.kind == PREDICTIONS:
        summary = _predictions(client, part, cache, on_read)
    elif part.kind == ERRORS:
        summary = _errors(client, part)
    elif part.kind == FEEDBACK:
        times = _millis(read_part(client, part, ["time"])["time"])
        summary = PartSummary(part.digest, FEEDBACK, *_range(times), [])
    else:  # pragma: no cover - the kinds are listed by the reader
        raise ValueError(f"unknown log part kind {part.kind!r}")
    cache.save(summary)
    return summary


def _predictions(
    client: Client, part: LogPart, cache: SummaryCache, on_read: PartRead | None
) -> PartSummary:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = read_part(client, part, ["prediction_id", "latency_ms", *_SAMPLED])
    times = _millis(table["time"])
    first_rows = pc.ends_with(table["prediction_id"], "-0").to_numpy(zero_copy_only=False)
    latencies = table["latency_ms"].to_numpy()
    groups, members = _grouped(table, times)
    rng = np.random.default_rng(int(part.digest.rsplit(":", 1)[-1][:12], 16))
    keys = rng.random(table.num_rows)
    picked: list[Any] = []
    for group, rows in zip(groups, members, strict=True):
        group.rows = int(rows.size)
        starts = rows[first_rows[rows]]
        group.requests = int(starts.size)
        group.latency = LatencySketch.of(latencies[starts])
        if rows.size > SAMPLE_ROWS:  # the group's smallest keys
            rows = rows[np.argpartition(keys[rows], SAMPLE_ROWS - 1)[:SAMPLE_ROWS]]
        picked.append(rows)
    order = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    order = order[np.argsort(keys[order], kind="stable")]
    sample = table.select([n for n in _SAMPLED if n in table.column_names]).take(pa.array(order))
    buckets = (times[order] // BUCKET_MS) * BUCKET_MS
    sample = sample.append_column("bucket_ms", pa.array(buckets, pa.int64()))
    sample = sample.append_column(SAMPLE_KEY, pa.array(keys[order], pa.float64()))
    path = cache.path(part.digest, ".sample.parquet")
    with cache.writing(path) as temporary:
        pq.write_table(sample, temporary, row_group_size=SAMPLE_ROW_GROUP)
    summary = PartSummary(part.digest, PREDICTIONS, *_range(times), groups, path)
    if on_read is not None:
        on_read(part, table, summary)
    return summary


def _errors(client: Client, part: LogPart) -> PartSummary:
    import numpy as np

    table = read_part(client, part, ["time", "model_version", "traffic", "status"])
    times = _millis(table["time"])
    statuses = table["status"].to_numpy()
    groups, members = _grouped(table, times)
    for group, rows in zip(groups, members, strict=True):
        group.errors = int(rows.size)
        group.server_errors = int(np.count_nonzero(statuses[rows] >= 500))
    return PartSummary(part.digest, ERRORS, *_range(times), groups)


def _grouped(table: Any, times: Any) -> tuple[list[GroupSummary], list[Any]]:
    """The (minute, version, traffic) groups of ``table``'s rows, in that order, and each
    group's rows (ascending indices).

    The three keys are packed into one integer, so grouping is one sort of a flat array
    (``np.unique`` over rows of a 2-D array sorts far more slowly), and the rows of every
    group are slices of one stable argsort instead of a scan of the part per group."""
    import numpy as np

    versions = table["model_version"].combine_chunks().dictionary_encode()
    traffics = table["traffic"].combine_chunks().dictionary_encode()
    if len(times) == 0:
        return [], []
    minutes = times // BUCKET_MS
    first = int(minutes.min())
    n_versions, n_traffics = len(versions.dictionary), len(traffics.dictionary)
    packed = (minutes - first) * n_versions + versions.indices.to_numpy().astype(np.int64)
    packed = packed * n_traffics + traffics.indices.to_numpy().astype(np.int64)
    order = np.argsort(packed, kind="stable")
    unique, starts = np.unique(packed[order], return_index=True)
    names, kinds = versions.dictionary.to_pylist(), traffics.dictionary.to_pylist()
    groups = []
    for key in unique.tolist():
        rest, traffic = divmod(key, n_traffics)
        minute, version = divmod(rest, n_versions)
        groups.append(GroupSummary((first + minute) * BUCKET_MS, names[version], kinds[traffic]))
    return groups, np.split(order, starts[1:])


def _millis(column: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    return np.asarray(column.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _range(times: Any) -> tuple[int | None, int | None]:
    if len(times) == 0:
        return None, None
    return int(times.min()), int(times.max())


def iter_groups(summaries: list[PartSummary]) -> Iterator[GroupSummary]:
    """Every group of every summary."""
    for summary in summaries:
        yield from summary.groups
