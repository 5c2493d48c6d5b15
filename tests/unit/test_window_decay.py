"""The decay detector over a version's labelled error stream (``window_decay``): fed across
reports as labels arrive, its kept state (JSON) gives the detections one pass over the whole
stream gives, a window owns the detections of its predictions, and a report that brings no
new label feeds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.monitoring.concept_drift import detect
from loopml.monitoring.label_scores import CLASSIFICATION
from loopml.monitoring.part_summaries import SummaryCache
from loopml.monitoring.window_decay import detect_decay
from loopml.monitoring.windows import Window

MINUTE = 60_000
COUNT, DRIFT = 6_000, 4_000


def _pairs() -> pa.Table:
    """A prediction a second; each label a minute later; errors 5% → 30% from DRIFT."""
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 2, COUNT)
    wrong = rng.random(COUNT) < np.where(np.arange(COUNT) < DRIFT, 0.05, 0.3)
    times = np.arange(COUNT, dtype=np.int64) * 1_000
    return pa.table(
        {
            "prediction_id": [f"p{i:05d}-0" for i in range(COUNT)],
            "time": pa.array(times, pa.timestamp("ms", tz="UTC")),
            "model_version": ["m@1"] * COUNT,
            "prediction": np.where(wrong, 1 - labels, labels),
            "label": pa.array(labels.astype(str)),
            "label_time": pa.array(times + MINUTE, pa.timestamp("ms", tz="UTC")),
        }
    )


def _windows() -> list[Window]:
    return [
        Window(start, start + 10 * MINUTE, "m@1") for start in range(0, COUNT * 1_000, 10 * MINUTE)
    ]


def test_fed_in_two_reports_it_finds_what_one_pass_finds(tmp_path: Path) -> None:
    pairs = _pairs()
    cache = SummaryCache(tmp_path)
    early = pairs.filter(pc.less(pairs["label_time"].cast(pa.int64()), 3_000_000))
    detect_decay(_windows(), early, CLASSIFICATION, cache=cache, identity="sha256:ab")
    windows = _windows()
    detect_decay(windows, pairs, CLASSIFICATION, cache=cache, identity="sha256:ab")

    errors = (np.asarray(pairs["prediction"]) != np.asarray(pairs["label"]).astype(int)).astype(
        float
    )
    whole = [d.index for d in detect(errors, "adwin").detections if d.direction == "up"]
    found = [d["index"] for w in windows for d in w.checks.concept_drift["detections"]]  # type: ignore[index]
    assert found == whole and whole and min(whole) >= DRIFT
    decayed = [w.checks.concept_drift["decayed"] for w in windows]  # type: ignore[index]
    owner = whole[0] * 1_000 // (10 * MINUTE)  # the window of the prediction that set it off
    assert decayed[owner] and not any(decayed[:owner])
    (kept,) = (tmp_path / "decay").iterdir()
    assert json.loads(kept.read_text())["state"]["seen"] == COUNT

    detect_decay(_windows(), pairs, CLASSIFICATION, cache=cache, identity="sha256:ab")
    assert json.loads(kept.read_text())["state"]["seen"] == COUNT  # nothing new: nothing fed
