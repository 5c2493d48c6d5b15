"""Labels joined to the predictions they judge, one (prediction part, feedback part) pair at a
time, each pair joined once and kept: feedback that arrives late is a new feedback part, so
only it is joined to the prediction parts it can judge (those older than its newest label),
and nothing else is read again.

The pairs of a prediction part: ``prediction_id``, ``time`` (of the prediction, ms),
``model_version``, ``traffic``, ``prediction`` (and ``score`` when logged), ``label`` (as
text: classes compare by :func:`label_scores.class_name`, numbers parse back) and
``label_time``; the newest label of a prediction wins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from loopml.monitoring.log_parts import LogPart, read_part
from loopml.monitoring.part_summaries import SCORE, PartSummary, SummaryCache
from loopml.tracking.client import Client

__all__ = ["JoinsOnRead", "labelled_pairs"]

JOIN_THREADS = 4  # prediction parts joined to new labels at once
_PREDICTED = ("prediction_id", "time", "model_version", "traffic", "prediction", SCORE)


def labelled_pairs(
    client: Client,
    predictions: Sequence[tuple[LogPart, PartSummary]],
    feedback: Sequence[tuple[LogPart, PartSummary]],
    cache: SummaryCache,
    *,
    step: Callable[[], None] | None = None,
) -> Any:
    """The labelled predictions of the ``predictions`` parts (a ``pyarrow.Table``, or None
    when no label arrived for them), newest label per prediction. The pairs not joined yet
    are joined side by side (reading Parquet and hashing ids release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    plan = []
    missing: dict[str, tuple[LogPart, list[LogPart]]] = {}
    for part, summary in predictions:
        if summary.min_ms is None:
            continue
        judged = [f for f, s in feedback if _judges(s, summary)]
        plan.append((part, judged))
        unjoined = [f for f in judged if not cache.join_path(part.digest, f.digest).is_file()]
        if unjoined:
            missing.setdefault(part.digest, (part, unjoined))
    labels: dict[str, Any] = {}
    if missing:
        _load_labels(client, [f for _, each in missing.values() for f in each], labels)
        with ThreadPoolExecutor(min(len(missing), JOIN_THREADS)) as pool:
            done = [
                pool.submit(_read_and_join, client, part, each, labels, cache)
                for part, each in missing.values()
            ]
            for future in done:
                future.result()
    tables = []
    for part, judged in plan:
        for f in judged:
            found = _read(cache.join_path(part.digest, f.digest))
            if found.num_rows:
                tables.append(found)
        if step is not None:
            step()
    if not tables:
        return None
    return _newest(pa.concat_tables(tables, promote_options="permissive"))


def _read_and_join(
    client: Client,
    part: LogPart,
    feedback: Sequence[LogPart],
    labels: dict[str, Any],
    cache: SummaryCache,
) -> None:
    _join(read_part(client, part, _PREDICTED), part, feedback, labels, cache)


class JoinsOnRead:
    """A ``part_summaries.PartRead``: joins each prediction part read for its summary to the
    feedback parts that judge it while its table is in memory (a cold report reads every part
    once, not again for its labels), if it has rows in ``[since_ms, until_ms)``. Safe to call
    from several threads: each feedback part's labels are read once, under a lock."""

    def __init__(
        self,
        client: Client,
        feedback: Sequence[tuple[LogPart, PartSummary]],
        cache: SummaryCache,
        span: tuple[int, int],
    ) -> None:
        self.client = client
        self.feedback = feedback
        self.cache = cache
        self.span = span
        self.labels: dict[str, Any] = {}
        self.lock = threading.Lock()

    def __call__(self, part: LogPart, table: Any, summary: PartSummary) -> None:
        since_ms, until_ms = self.span
        if not any(since_ms <= group.bucket_ms < until_ms for group in summary.groups):
            return
        judged = [f for f, s in self.feedback if _judges(s, summary)]
        missing = [f for f in judged if not self.cache.join_path(part.digest, f.digest).is_file()]
        if not missing:
            return
        with self.lock:
            _load_labels(self.client, missing, self.labels)
        predicted = table.select([name for name in _PREDICTED if name in table.column_names])
        _join(predicted, part, missing, self.labels, self.cache)


def _judges(feedback: PartSummary, predictions: PartSummary) -> bool:
    """Whether a feedback part can hold labels of a prediction part: it is not older."""
    return (
        predictions.min_ms is not None
        and feedback.max_ms is not None
        and feedback.max_ms >= predictions.min_ms
    )


def _load_labels(client: Client, feedback: Sequence[LogPart], labels: dict[str, Any]) -> None:
    """Each feedback part's labels (as text), read into ``labels`` if not there yet."""
    import pyarrow as pa

    for each in feedback:
        if each.digest not in labels:
            table = read_part(client, each, ["prediction_id", "label", "time"])
            labels[each.digest] = table.set_column(
                1, "label", table["label"].cast(pa.string())
            ).rename_columns(["prediction_id", "label", "label_time"])


def _join(
    predicted: Any,
    part: LogPart,
    feedback: Sequence[LogPart],
    labels: dict[str, Any],
    cache: SummaryCache,
) -> None:
    """The pairs of ``part`` (its ``_PREDICTED`` columns: ``predicted``) and each feedback
    part, kept in the cache."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ids = predicted["prediction_id"]
    for each in feedback:
        given = labels[each.digest]
        rows = pc.index_in(given["prediction_id"], value_set=ids)  # one hash of the ids
        judged = rows.is_valid()
        given, rows = given.filter(judged), rows.filter(judged)
        pairs = predicted.take(rows)
        pairs = pairs.append_column("label", given["label"]).append_column(
            "label_time", given["label_time"]
        )
        with cache.writing(cache.join_path(part.digest, each.digest)) as temporary:
            pq.write_table(pairs, temporary)


def _read(path: Any) -> Any:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        return parquet.read()


def _newest(pairs: Any) -> Any:
    """One row per prediction id: the one with its newest label."""
    import numpy as np
    import pyarrow as pa

    ordered = pairs.sort_by([("label_time", "descending")])
    _, first = np.unique(
        np.asarray(ordered["prediction_id"].to_numpy(zero_copy_only=False)), return_index=True
    )
    return ordered.take(pa.array(np.sort(first)))
