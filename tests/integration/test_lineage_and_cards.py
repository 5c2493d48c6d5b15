"""Lineage queries and model cards on a real pipeline-trained model, embedded (SQLite and a
local artifact folder) and through a real ``loopml server``: the same store queries, the same
graph, the same card; the CLI (``loopml lineage``, ``loopml card``) run as a user runs it."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loopml
import loopml.data
from loopml.core.entities import DatasetVersion, GateResult
from loopml.core.hashing import Digest
from loopml.core.ids import new_id, now_ms
from loopml.core.loop_records import NewDeployment
from loopml.governance.card_render import card_html, card_markdown
from loopml.governance.lineage import data_lineage, model_lineage, run_lineage
from loopml.governance.lineage_graph import to_dot
from loopml.governance.model_card import EXPLANATIONS_FILE, build_card
from loopml.governance.model_description import describe
from loopml.models.registry import register, set_alias
from loopml.pipelines import dataset_version, run
from loopml.serving.batch import score
from loopml.stores.artifacts.trees import materialize_tree, put_directory
from loopml.tracking.client import Client
from tests.e2e.runner import cli
from tests.fixtures.server import PlatformServer

MODEL = "lineage-model"
DATASET = "lineage_train"
FEATURES = ("a", "b")


@loopml.step
def fit(version: DatasetVersion, *, c: float = 1.0) -> Any:
    """A logistic regression on the dataset version's two features."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    table = loopml.data.get(f"{version.dataset}@{version.version}").to_arrow()
    x = np.column_stack([table.column(name).to_numpy() for name in FEATURES])
    return LogisticRegression(C=c).fit(x, table.column("label").to_numpy())


@loopml.pipeline
def training(data: str = f"{DATASET}@latest", c: float = 1.0) -> Any:
    return fit(dataset_version(ref=data), c=c)


@dataclass(frozen=True)
class Story:
    """What the test made: whom to ask (a client, and the env a CLI needs) and what happened."""

    client: Client
    env: dict[str, str]
    deployment_id: str
    batch_run_id: str
    batch_output: Path
    pipeline_run_id: str


def _write_rows(path: Path, rows: int = 40) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow([*FEATURES, "label"])
        for i in range(rows):
            writer.writerow([i / rows, (i % 7) / 7, int(i >= rows // 2)])


@pytest.fixture(scope="module", params=["embedded", "remote"])
def story(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Story]:
    """One story per backend, read by every test of the module (the last one adds a version)."""
    tmp_path = tmp_path_factory.mktemp(f"lineage-{request.param}")
    if request.param == "remote":
        server: PlatformServer = request.getfixturevalue("shared_platform_server")
        env = {"LOOPML_SERVER_URL": server.url}
        client = Client(server_url=server.url)
    else:
        store, artifacts = f"sqlite:///{tmp_path / 'loopml.db'}", str(tmp_path / "artifacts")
        env = {"LOOPML_STORE_URI": store, "LOOPML_ARTIFACT_URI": artifacts}
        client = Client(store_uri=store, artifact_uri=artifacts)
    with client:
        yield _make_story(client, env, tmp_path)


def _make_story(client: Client, env: dict[str, str], tmp_path: Path) -> Story:
    rows = tmp_path / "train.csv"
    _write_rows(rows)
    loopml.data.add(DATASET, rows, message="two features", client=client)
    trained = run(training, client=client)
    model = trained.value()
    example = np.array([[0.1, 0.2], [0.9, 0.5]])
    first = register(
        MODEL,
        model,
        input_example=example,
        run=trained.run_id,
        metrics={"accuracy": 0.9},
        client=client,
    )
    describe(
        MODEL, owner="risk-team@example.com", intended_use="Rank renewals only.", client=client
    )
    set_alias(MODEL, "champion", first.version, reason="first one", client=client)
    deployment = client.loop.register_deployment(
        NewDeployment(
            id=new_id(),
            model=MODEL,
            address="http://127.0.0.1:9",
            heartbeat_ms=600_000,
            alias="champion",
            version=first.version,
        )
    )
    second = register(
        MODEL,
        model,
        input_example=example,
        run=trained.run_id,
        metrics={"accuracy": 0.95},
        client=client,
    )
    set_alias(MODEL, "champion", second.version, reason="beats v1", client=client)
    client.loop.heartbeat_deployment(deployment.id, version=second.version)
    scored = tmp_path / "scores.csv"
    batch = score(f"{MODEL}@{second.version}", rows, scored, features=FEATURES, client=client)
    fairness = {
        "check": "fairness",
        "name": "demographic parity difference by region",
        "passed": False,
        "observed": 0.31,
        "limit": 0.1,
        "detail": "north vs south",
    }
    client.metadata.add_gate_result(
        GateResult(
            id=new_id(),
            model=MODEL,
            version=second.version,
            passed=False,
            checks=(fairness,),
            policy={"fairness": []},
            policy_digest="sha256:" + "0" * 64,
            evaluated_at=now_ms(),
            against=first.version,
            dataset=f"{DATASET}@1",
        )
    )
    client.metadata.add_model_approval(MODEL, second.version, actor="ana", comment="reviewed")
    return Story(client, env, deployment.id, batch.run_id, scored.resolve(), trained.run_id)


def test_a_model_versions_lineage_goes_up_to_its_pipeline_and_data_and_down_to_serving(
    story: Story,
) -> None:
    graph = model_lineage(story.client, f"{MODEL}@champion")
    assert graph.subject == f"model:{MODEL}@2"
    up = {node.id: node for node in graph.reachable(graph.subject, downstream=False)}
    pipeline = up[f"run:{story.pipeline_run_id}"]
    assert pipeline.kind == "pipeline" and pipeline.details["status"] == "FINISHED"
    assert f"dataset:{DATASET}@1" in up
    steps = {node.label.split(" ")[0]: node.id for node in up.values() if node.kind == "step"}
    assert set(steps) == {"dataset_version", "fit"}
    relations = {(e.source, e.target, e.relation) for e in graph.edges}
    assert (steps["dataset_version"], steps["fit"], "output as version") in relations
    assert (f"dataset:{DATASET}@1", steps["dataset_version"], "read by") in relations

    down = {node.id: node for node in graph.reachable(graph.subject, downstream=True)}
    alias = down[f"alias:{MODEL}@champion"]
    assert alias.details["now"] == "this version" and "1 → 2 (beats v1)" in alias.details["move 1"]
    served = down[f"deployment:{story.deployment_id}"]
    assert served.details["served"] == "serving it now" and served.details["state"] == "live"
    batch = down[f"batch:{story.batch_run_id}"]
    assert batch.details["output"] == str(story.batch_output) and batch.details["rows"] == "40"

    # the first version: promoted, then replaced; served through the alias meanwhile
    earlier = model_lineage(story.client, f"{MODEL}@1", upstream=False)
    moved = earlier.node(f"alias:{MODEL}@champion")
    assert (
        moved.details["now"] == "version 2" and "unset → 1 (first one)" in moved.details["move 1"]
    )
    deployment = earlier.node(f"deployment:{story.deployment_id}")
    assert deployment.details["served"] == "served it through @champion"
    assert not any(node.kind == "batch" for node in earlier.nodes)

    dot = to_dot(graph)
    assert dot.startswith('digraph "lineage" {') and dot.rstrip().endswith("}")
    assert f'"run:{story.pipeline_run_id}" -> "model:{MODEL}@2" [label="registered"];' in dot


def test_a_data_versions_downstream_reaches_every_model_and_deployment(story: Story) -> None:
    graph = data_lineage(story.client, f"{DATASET}@1", upstream=False)
    reached = graph.reachable(graph.subject, downstream=True)
    ids = {node.id for node in reached}
    assert {f"model:{MODEL}@1", f"model:{MODEL}@2", f"run:{story.pipeline_run_id}",
            f"deployment:{story.deployment_id}", f"batch:{story.batch_run_id}"} <= ids  # fmt: skip
    # the pipeline's step that read it stands behind its pipeline run
    assert not any(node.kind == "step" for node in reached)


def test_a_runs_lineage_shows_its_pipeline_the_step_it_read_from_and_the_data(
    story: Story, tmp_path: Path
) -> None:
    pipeline = run_lineage(story.client, story.pipeline_run_id)
    steps = {
        node.label.split(" ")[0]: node.id
        for node in pipeline.upstream_of(pipeline.subject)  # a step flows into its pipeline
        if node.kind == "step"
    }
    assert set(steps) == {"dataset_version", "fit"}
    fit_id = steps["fit"].removeprefix("run:")
    graph = run_lineage(story.client, fit_id)
    assert graph.subject == f"run:{fit_id}"
    up = [(relation, node.id) for _, relation, node in graph.walk(downstream=False)]
    assert ("output as version", steps["dataset_version"]) in up
    down = [(relation, node.id) for _, relation, node in graph.walk(downstream=True)]
    assert down == [("step of", f"run:{story.pipeline_run_id}")]
    read = run_lineage(story.client, steps["dataset_version"].removeprefix("run:"))
    reached = [(relation, node.id) for _, relation, node in read.walk(downstream=True)]
    assert ("output as version", steps["fit"]) in reached
    assert f"dataset:{DATASET}@1" in {node.id for node in read.upstream_of(read.subject)}
    # and as `loopml lineage run ID` shows it
    shown = cli("lineage", "run", fit_id, "--json", cwd=tmp_path, env=story.env)
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout)
    assert found["subject"] == f"run:{fit_id}"
    assert f"run:{story.pipeline_run_id}" in {node["id"] for node in found["nodes"]}
    tree = cli("lineage", "run", fit_id, "--downstream", cwd=tmp_path, env=story.env)
    assert tree.returncode == 0 and "step of" in tree.stdout and "output as" not in tree.stdout


def test_the_card_shows_what_the_store_knows_in_markdown_and_one_offline_html_file(
    story: Story, tmp_path: Path
) -> None:
    card = build_card(story.client, f"{MODEL}@2")
    markdown = card_markdown(card)
    for expected in (
        "# Model card: lineage-model@2",
        "- **Owner**: risk-team@example.com (as set on version 1)",
        "- **Intended use**: Rank renewals only. (as set on version 1)",
        "- **Dataset**: lineage_train@1",
        "*train.csv: 40 rows, 3 columns*",
        "| training | c | 1.0 |",
        "| accuracy | 0.95 |",
        "| demographic parity difference by region | FAIL | 0.31 | 0.1 | north vs south |",
        " | reviewed |",
        "| champion | ",
        "- **Aliases now**: @champion",
        "served by: deployment http://127.0.0.1:9",
    ):
        assert expected in markdown, expected
    html = card_html(card)
    assert not re.search(r"[A-Za-z]+://", html)  # nothing to fetch: no scheme at all
    assert not re.search(r"<(script|link|img|iframe)\b|\b(src|href)=", html)
    # a heading may say more ("Explanations (mean |SHAP value|)": registration explains)
    sections = [h.split(" (")[0] for h in re.findall(r"<h2>([^<]+)</h2>", html)]
    assert sections == ["Model details", "Owner and intended use", "Training data", "Parameters",
                        "Metrics", "Quality gates", "Fairness", "Explanations", "Lineage",
                        "Approvals", "Alias history"]  # fmt: skip
    assert "risk-team@example.com" in html and "deployment 127.0.0.1:9" in html
    assert '<td class="fail">FAIL</td>' in html and "0.31" in html

    # written by the CLI, as a user runs it (embedded, or LOOPML_SERVER_URL)
    target = tmp_path / "card.html"
    done = cli("card", f"{MODEL}@champion", "-o", str(target), cwd=tmp_path, env=story.env)
    assert done.returncode == 0, done.stderr
    assert "<h2>Fairness</h2>" in target.read_text(encoding="utf-8")
    shown = cli("lineage", "data", f"{DATASET}@1", "--json", cwd=tmp_path, env=story.env)
    assert shown.returncode == 0, shown.stderr
    kinds = {node["kind"] for node in json.loads(shown.stdout)["nodes"]}
    assert {"dataset", "pipeline", "model", "alias", "deployment", "batch"} <= kinds


def test_a_stored_global_explanation_is_on_the_card(story: Story, tmp_path: Path) -> None:
    """``explain/global_importance.json`` in a version's files is what the card shows:
    registration wrote one; a copy of the version with known numbers in it shows those."""
    client = story.client
    version = client.metadata.get_model_version(MODEL, 2)
    folder = tmp_path / "files"
    materialize_tree(client.artifacts, Digest.parse(version.tree_digest), folder)
    explained = folder / EXPLANATIONS_FILE
    assert explained.is_file()  # registration explained the model
    explained.write_text(
        json.dumps(
            {
                "method": "linear",
                "feature_names": ["a", "b"],
                "mean_abs_shap": [0.05, 0.4],
                "expected_value": 0.5,
                "rows": 40,
            }
        )
    )
    digest, _ = put_directory(client.artifacts, folder)
    third = client.metadata.add_model_version(replace(version, tree_digest=str(digest)))
    card = build_card(client, f"{MODEL}@{third.version}")
    assert card.explanation is not None and card.explanation.features == [("b", 0.4), ("a", 0.05)]
    markdown = card_markdown(card)
    assert "- **Method**: linear" in markdown and "- b: 0.4\n- a: 0.05" in markdown
    assert 'style="width:360px"' in card_html(card)  # the largest bar is full width
