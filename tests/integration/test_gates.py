"""Quality gates over a real embedded store (and a real server): both models scored here on
the same dataset version, results stored with the version, promotion held back until the
policy is satisfied, bad input refused with nothing stored."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import accuracy_score, recall_score  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
from sklearn.tree import DecisionTreeClassifier  # type: ignore[import-untyped]

import loopml.data
import loopml.models
from loopml.core.errors import InvalidInputError, NotFoundError, PromotionBlockedError
from loopml.models import policy_from_yaml
from loopml.tracking.client import Client
from tests.fixtures.server import start_platform_server, wait_until_ready

SITES = ("north", "south", "east")


class Holdout:
    """The breast-cancer data split in two; the held-out part versioned with a site column."""

    def __init__(self, folder: Path) -> None:
        data = load_breast_cancer()
        x_train, self.x, y_train, self.y = train_test_split(
            data.data, data.target, test_size=0.3, random_state=0, stratify=data.target
        )
        self.train = (x_train, y_train)
        self.sites = np.array([SITES[i % 3] for i in range(len(self.y))])
        self.path = folder / "holdout.csv"
        names = [f"f{i}" for i in range(self.x.shape[1])]
        with self.path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow([*names, "site", "target"])
            for row, site, label in zip(self.x, self.sites, self.y, strict=True):
                writer.writerow([*(repr(float(v)) for v in row), site, int(label)])


@pytest.fixture
def holdout(tmp_path: Path) -> Holdout:
    return Holdout(tmp_path)


def strong(data: Holdout) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(*data.train)


def weak(data: Holdout) -> Any:
    return DecisionTreeClassifier(max_depth=1, random_state=0).fit(*data.train)


POLICY = """\
evaluation: {dataset: bc_holdout@latest, target: target}
metrics: {accuracy: {min: 0.85}, roc_auc: {min: 0.9}}
champion: {alias: champion, must_beat: {accuracy: 0.0}, schema_compatible: true}
slices: [{column: site, metric: recall, min: 0.5}]
latency: {p95_ms: 5000, repeats: 20}
promotion: {require_gate: true}
"""


def register_both(client: Client, data: Holdout) -> None:
    loopml.data.add("bc_holdout", data.path, client=client)
    for model in (strong(data), weak(data)):
        loopml.models.register("bc", model, input_example=data.x[:5], client=client)


def test_a_better_model_passes_and_the_result_is_stored_with_its_numbers(
    client: Client, holdout: Holdout
) -> None:
    register_both(client, holdout)
    result = loopml.models.gate("bc@1", policy_from_yaml(POLICY), client=client)
    assert result.passed and result.dataset == "bc_holdout@1" and result.against is None
    checks = {check["name"]: check for check in result.checks}
    expected = accuracy_score(holdout.y, strong(holdout).predict(holdout.x))
    assert checks["accuracy"]["observed"] == pytest.approx(expected, abs=1e-6)
    assert checks["accuracy"]["limit"] == "≥ 0.85"
    assert "no champion yet" in checks["beats champion on accuracy"]["detail"]
    assert checks["p95 single-row latency (ms)"]["observed"] > 0
    (stored,) = client.metadata.list_gate_results("bc", 1)
    assert stored == result


def test_a_worse_challenger_fails_against_the_champion_scored_on_the_same_data(
    client: Client, holdout: Holdout
) -> None:
    register_both(client, holdout)
    loopml.models.set_alias("bc", "champion", 1, client=client)
    result = loopml.models.gate("bc@2", policy_from_yaml(POLICY), client=client)
    assert not result.passed and result.against == 1
    beat = next(c for c in result.checks if c["name"] == "beats champion on accuracy")
    mine = accuracy_score(holdout.y, weak(holdout).predict(holdout.x))
    theirs = accuracy_score(holdout.y, strong(holdout).predict(holdout.x))
    assert not beat["passed"] and beat["observed"] == pytest.approx(mine - theirs, abs=1e-6)
    assert beat["detail"] == f"v2 {mine:.6g} vs v1 {theirs:.6g}"
    schema = next(c for c in result.checks if c["check"] == "schema")
    assert schema["passed"] and schema["detail"] == "same inputs and outputs as v1"


def test_a_tie_with_the_champion_passes_a_zero_margin_and_says_it_was_a_tie(
    client: Client, holdout: Holdout
) -> None:
    loopml.data.add("bc_holdout", holdout.path, client=client)
    for _ in range(2):  # the same model twice: equal scores
        loopml.models.register("bc", strong(holdout), input_example=holdout.x[:5], client=client)
    loopml.models.set_alias("bc", "champion", 1, client=client)
    result = loopml.models.gate("bc@2", policy_from_yaml(POLICY), client=client)
    beat = next(c for c in result.checks if c["name"] == "beats champion on accuracy")
    assert beat["passed"] and beat["observed"] == 0
    assert "a tie, passed because the margin is 0" in beat["detail"]


def test_slices_judge_the_worst_group_and_skip_small_ones(client: Client, holdout: Holdout) -> None:
    register_both(client, holdout)
    model = weak(holdout)
    recalls = {
        site: recall_score(
            holdout.y[holdout.sites == site], model.predict(holdout.x[holdout.sites == site])
        )
        for site in SITES
    }
    worst_site = min(recalls, key=lambda site: recalls[site])
    bound = (sorted(recalls.values())[0] + sorted(recalls.values())[1]) / 2
    policy = policy_from_yaml(
        "evaluation: {dataset: bc_holdout@1, target: target}\n"
        f"slices: [{{column: site, metric: recall, min: {bound}}}]\n"
    )
    result = loopml.models.gate("bc@2", policy, client=client)
    scored, check = result.checks  # first: which variant was scored (bc has no ONNX variant)
    assert (scored["check"], scored["observed"], scored["passed"]) == ("variant", "native", True)
    assert not check["passed"] and check["observed"] == pytest.approx(recalls[worst_site])
    assert f"worst site={worst_site}" in check["detail"]
    assert f"failing: {worst_site}" in check["detail"]
    lenient = policy_from_yaml(
        "evaluation: {dataset: bc_holdout@1, target: target}\n"
        f"slices: [{{column: site, metric: recall, min: {bound}, min_rows: 1000}}]\n"
    )
    _, skipped = loopml.models.gate("bc@2", lenient, client=client).checks
    assert skipped["passed"] and skipped["detail"] == "no group to judge"


def test_a_latency_budget_no_model_can_meet_fails(client: Client, holdout: Holdout) -> None:
    register_both(client, holdout)
    policy = policy_from_yaml(
        "evaluation: {dataset: bc_holdout@1, target: target}\n"
        "latency: {p95_ms: 0.000001, repeats: 10}\n"
    )
    _, check = loopml.models.gate("bc@1", policy, client=client).checks
    assert not check["passed"] and check["observed"] > 0.000001
    assert check["detail"].startswith("10 calls, median ")


def test_changed_inputs_are_not_schema_compatible(client: Client, holdout: Holdout) -> None:
    import pandas

    register_both(client, holdout)
    names = [f"f{i}" for i in range(30)]
    frame = pandas.DataFrame(holdout.train[0], columns=names)
    for columns in (names, names[:29]):  # v3 takes 30 named columns, v4 only 29
        model = DecisionTreeClassifier(max_depth=3).fit(frame[columns], holdout.train[1])
        loopml.models.register("bc", model, input_example=frame[columns][:3], client=client)
    loopml.models.set_alias("bc", "champion", 3, client=client)
    policy = policy_from_yaml(
        "evaluation: {dataset: bc_holdout@1, target: target}\n"
        "champion: {schema_compatible: true, must_beat: {accuracy: -1}}\n"
    )
    result = loopml.models.gate("bc@4", policy, client=client)
    _, beat, schema = result.checks
    assert beat["passed"]  # both scored, each on its own columns
    assert not schema["passed"] and "column 'f29' removed" in schema["detail"]


def test_promotion_waits_for_a_passed_gate_under_the_same_policy_and_an_approval(
    client: Client, holdout: Holdout
) -> None:
    register_both(client, holdout)
    strict = POLICY.replace("{require_gate: true}", "{require_gate: true, require_approval: true}")
    policy = policy_from_yaml(strict, source="gates.yaml")
    with pytest.raises(PromotionBlockedError, match=r"no gate under gates.yaml yet"):
        loopml.models.promote("bc@2", policy=policy, client=client)
    loopml.models.promote("bc@1", policy=policy, force=True, reason="bootstrap", client=client)
    loopml.models.gate("bc@2", policy, client=client)
    with pytest.raises(
        PromotionBlockedError,
        match=r"failed: roc_auc, beats champion on accuracy; it needs an approval",
    ):
        loopml.models.promote("bc@2", policy=policy, client=client)
    loopml.models.set_alias("bc", "champion", None, client=client)
    loopml.models.gate("bc@1", policy, client=client)
    laxer = policy_from_yaml(POLICY)
    with pytest.raises(PromotionBlockedError, match=r"no gate under <policy> yet"):
        loopml.models.promote("bc@1", policy=laxer, client=client)  # another policy's gate
    with pytest.raises(PromotionBlockedError, match=r"it needs an approval"):
        loopml.models.promote("bc@1", policy=policy, client=client)
    assert client.metadata.list_alias_history("bc", "champion")[-1].to_version is None

    def approve_soon() -> None:
        time.sleep(1.5)
        loopml.models.approve("bc@1", comment="looked at the slices", client=client)

    approver = threading.Thread(target=approve_soon)
    approver.start()
    change = loopml.models.promote("bc@1", policy=policy, wait=60, client=client)
    approver.join()
    assert (change.to_version, change.reason) == (1, "promote bc@1")
    (approval,) = client.metadata.list_model_approvals("bc", 1)
    assert approval.comment == "looked at the slices" and approval.actor
    forced = client.metadata.list_alias_history("bc", "champion")[0]
    assert forced.reason == "forced: bootstrap"


def test_forcing_needs_a_reason(client: Client, holdout: Holdout) -> None:
    register_both(client, holdout)
    with pytest.raises(InvalidInputError, match=r"forced promotion needs a reason"):
        loopml.models.promote("bc@2", force=True, client=client)
    assert client.metadata.list_alias_history("bc") == []


def test_bad_evaluation_input_is_refused_and_nothing_is_stored(
    client: Client, holdout: Holdout
) -> None:
    register_both(client, holdout)
    cases = [
        ("evaluation: {dataset: nope@1, target: target}", NotFoundError, r"nope"),
        (
            "evaluation: {dataset: bc_holdout@1, target: label}",
            InvalidInputError,
            r"evaluation.target: bc_holdout@1 has no column 'label'",
        ),
        (
            "evaluation: {dataset: bc_holdout@1, target: target, features: [f1, f2]}",
            InvalidInputError,
            r"evaluation: The model takes \[30\] features per row but bc_holdout@1 gives 2",
        ),
        (
            "evaluation: {dataset: bc_holdout@1, target: target}\n"
            "slices: [{column: f0, metric: recall, min: 0.5}]",
            InvalidInputError,
            r"column 'f0' of bc_holdout@1 has \d+ distinct values .* give 'bins: N'",
        ),
    ]
    for text, error, message in cases:
        with pytest.raises(error, match=message):
            loopml.models.gate("bc@1", policy_from_yaml(text), client=client)
    assert client.metadata.list_gate_results("bc") == []


def test_gate_approve_and_promote_through_the_server(tmp_path: Path, holdout: Holdout) -> None:
    server = start_platform_server(tmp_path / "server")
    try:
        assert wait_until_ready(server, 60), server.log()
        with Client(server_url=server.url) as remote:
            register_both(remote, holdout)
            strict = POLICY.replace(
                "require_gate: true", "require_gate: true, require_approval: true"
            )
            policy = policy_from_yaml(strict)
            assert loopml.models.gate("bc@1", policy, client=remote).passed
            loopml.models.approve("bc@1", client=remote)
            loopml.models.promote("bc@1", policy=policy, client=remote)
            assert loopml.models.get("bc@champion", client=remote).version == 1
            assert not loopml.models.gate("bc@2", policy, client=remote).passed
            with pytest.raises(PromotionBlockedError):
                loopml.models.promote("bc@2", policy=policy, client=remote)
            (stored,) = remote.metadata.list_gate_results("bc", 2)
            assert not stored.passed and stored.against == 1
    finally:
        server.stop()
