"""``loopml quickstart --loop`` as a user runs it, on a copy of the e2e quickstart project: a
real model server answers the replayed traffic, labels go back through ``/feedback``, the
prediction log is read by ``monitor_windows``, and ``loopml agent --once`` acts as its own
process. Minutes long: the loop's windows are one minute and the agent acts on complete ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loopml.cli.quickstart_loop_config import DRIFT_SHARE, MIN_ACCURACY
from tests.e2e.conftest import QUICKSTART_TIMEOUT, QuickstartProject
from tests.e2e.runner import cli

LOOP_TIMEOUT = 1200  # two window waits, a server, a training and a rollback on a busy machine


@pytest.mark.timeout(QUICKSTART_TIMEOUT + LOOP_TIMEOUT)
def test_the_loop_sees_drift_and_decay_then_retrains_promotes_and_rolls_back(
    quickstart_project: QuickstartProject, tmp_path: Path
) -> None:
    assert quickstart_project.done.returncode == 0, quickstart_project.done.stderr
    demo = tmp_path / "demo"
    shutil.copytree(quickstart_project.demo, demo, symlinks=True)

    done = cli(
        "quickstart", str(demo), "--loop", "--json", "--quiet",
        cwd=tmp_path, timeout=LOOP_TIMEOUT, columns=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    story = json.loads(done.stdout)
    # the quickstart's champion (2) takes an array: the loop's first model takes named columns
    assert story["first_model"] == "breast-cancer@3"
    assert "schema compatible" in story["first_model_forced"]  # an array before, columns now
    phases = {p["phase"]: p for p in story["phases"]}
    assert phases["normal"]["served_by"] == phases["drift"]["served_by"] == "breast-cancer@3"
    normal, drift = phases["normal"]["monitoring"], phases["drift"]["monitoring"]
    assert normal["drift_share"] < DRIFT_SHARE and normal["accuracy"] > 0.9
    assert normal["labelled"] == phases["normal"]["rows"] == 200
    # the new scanner moves 9 of the 30 features; the new protocol costs the champion accuracy
    assert drift["drift_share"] >= DRIFT_SHARE
    assert drift["accuracy"] < MIN_ACCURACY
    assert drift["labelled"] == phases["drift"]["rows"] == 455
    assert story["data_versions"] == {
        "training": "breast_cancer@2",
        "holdout": "breast_cancer_holdout@2",
    }
    decided = story["policy_decides"]
    assert decided["trigger"] == "decay"
    assert decided["evidence"]["metric"] == "accuracy"
    assert decided["evidence"]["samples"] == 455
    assert decided["evidence"]["data_version"] == 2  # retrained on the labelled traffic
    assert decided["drift_alone"]["value"] >= DRIFT_SHARE

    assert story["notes"] == []
    retraining = story["retraining"]
    assert retraining["trigger"] == "decay" and retraining["state"] == "promoted"
    assert retraining["champion_version"] == 3 and retraining["candidate_version"] == 4
    assert phases["recovered"]["served_by"] == "breast-cancer@4"
    assert phases["worse"]["served_by"] == "breast-cancer@5"
    assert phases["recovered"]["monitoring"]["accuracy"] > 0.9
    assert phases["worse"]["monitoring"]["accuracy"] < 0.8
    rollback = story["rollback"]
    assert rollback["trigger"] == "rollback_guard" and rollback["state"] == "rolled_back"
    timings = story["timings_s"]
    assert timings["training"] > 0
    assert timings["first_drifted_request_to_promotion"] > timings["training"]
    states = {(d["trigger"], d["state"]) for d in story["loop_log"]}
    assert states == {("decay", "promoted"), ("rollback_guard", "rolled_back")}
