"""A prediction part's rows grouped by (minute, model version, traffic) with one sort of a
packed key: the same groups, in the same order, with the same rows as grouping the three keys
as rows of a 2-D array (the former, slower way), whatever the keys."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.monitoring.part_summaries import BUCKET_MS, _grouped

rows = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=30 * BUCKET_MS),
        st.sampled_from(["m@1", "m@2", "m@10"]),
        st.sampled_from(["main", "canary", "shadow"]),
    ),
    max_size=200,
)


def _grouped_as_rows(table: pa.Table, times: np.ndarray) -> list[tuple[int, str, str, list[int]]]:
    buckets = (times // BUCKET_MS) * BUCKET_MS
    versions = table["model_version"].combine_chunks().dictionary_encode()
    traffics = table["traffic"].combine_chunks().dictionary_encode()
    keys = np.stack(
        [buckets, versions.indices.to_numpy(), traffics.indices.to_numpy()], axis=1
    ).astype(np.int64)
    unique, which = np.unique(keys, axis=0, return_inverse=True)
    names, kinds = versions.dictionary.to_pylist(), traffics.dictionary.to_pylist()
    return [
        (int(b), names[v], kinds[t], np.flatnonzero(which.reshape(-1) == i).tolist())
        for i, (b, v, t) in enumerate(unique.tolist())
    ]


@settings(max_examples=80, deadline=None)
@given(rows, st.integers(min_value=0, max_value=2_000_000_000).map(lambda m: m * BUCKET_MS))
def test_grouping_by_a_packed_key_equals_grouping_the_keys_as_rows(
    found: list[tuple[int, str, str]], offset: int
) -> None:
    times = np.asarray([offset + t for t, _, _ in found], dtype=np.int64)
    table = pa.table(
        {
            "model_version": pa.array([v for _, v, _ in found], pa.string()),
            "traffic": pa.array([k for _, _, k in found], pa.string()),
        }
    )
    groups, members = _grouped(table, times)
    got = [
        (g.bucket_ms, g.model_version, g.traffic, rows.tolist())
        for g, rows in zip(groups, members, strict=True)
    ]
    assert got == _grouped_as_rows(table, times)
    assert sum(len(r) for *_, r in got) == len(found)
