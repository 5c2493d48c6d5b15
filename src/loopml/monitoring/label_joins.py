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

from collections.abc import Callable, Sequence
from typing import Any

from loopml.monitoring.log_parts import LogPart, read_part
from loopml.monitoring.part_summaries import SCORE, PartSummary, SummaryCache
from loopml.tracking.client import Client

__all__ = ["labelled_pairs"]

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
    when no label arrived for them), newest label per prediction."""
    import pyarrow as pa

    labels: dict[str, Any] = {}
    tables = []
    for part, summary in predictions:
        if summary.min_ms is None:
            continue
        judged = [
            (f, s) for f, s in feedback if s.max_ms is not None and s.max_ms >= summary.min_ms
        ]
        missing = [f for f, _ in judged if not cache.join_path(part.digest, f.digest).is_file()]
        if missing:
            _join(client, part, missing, labels, cache)
        for f, _ in judged:
            found = _read(cache.join_path(part.digest, f.digest))
            if found.num_rows:
                tables.append(found)
        if step is not None:
            step()
    if not tables:
        return None
    return _newest(pa.concat_tables(tables, promote_options="permissive"))


def _join(
    client: Client,
    part: LogPart,
    feedback: Sequence[LogPart],
    labels: dict[str, Any],
    cache: SummaryCache,
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    predicted = read_part(client, part, _PREDICTED)
    ids = predicted["prediction_id"]
    for each in feedback:
        if each.digest not in labels:
            table = read_part(client, each, ["prediction_id", "label", "time"])
            labels[each.digest] = table.set_column(
                1, "label", table["label"].cast(pa.string())
            ).rename_columns(["prediction_id", "label", "label_time"])
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
