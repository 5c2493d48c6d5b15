"""Governance as a team runs it: ``loopml server --auth`` over PostgreSQL and S3 (moto) with
artifact encryption on, and the CLI driven with each user's token (``LOOPML_TOKEN``).

One story for the module (one server, one training on the Palmer penguins: a string label,
string categoricals, missing values): an admin bootstraps herself embedded, starts the
server, makes an editor, a viewer and an approver with tokens; the editor versions the data,
trains with a pipeline and registers the model; the viewer is refused every write; the
approver promotes under the server's policy. Then lineage, explanations, fairness, the model
card, the audit log (verified, anchored, exported, and caught when a row is edited in
PostgreSQL), and the bucket, which holds only ciphertext.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from loopml.serving import read_predictions
from loopml.tracking.client import Client
from tests.e2e.runner import LOOPML, cli
from tests.e2e.test_real_table import FEATURES, penguins_rows, value, write_csv
from tests.fixtures.backends import free_port
from tests.fixtures.model_server import start_model_server, wait_for, wait_until_serving
from tests.fixtures.server import PlatformServer, wait_until_ready

pytestmark = [pytest.mark.postgres, pytest.mark.s3]

MODEL = "penguins"
PIPELINE = textwrap.dedent(
    """
    import loopml
    from loopml.pipelines import dataset_version
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    WORDS = ["island", "sex"]

    @loopml.step
    def train(version: loopml.core.entities.DatasetVersion) -> Pipeline:
        frame = loopml.data.get(f"{version.dataset}@{version.version}").to_arrow().to_pandas()
        features = ColumnTransformer([
            ("numbers", SimpleImputer(), NUMBERS),
            ("words", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                    OneHotEncoder(handle_unknown="ignore")), WORDS),
        ])
        model = Pipeline([("features", features), ("classify", LogisticRegression(max_iter=50))])
        return model.fit(frame[NUMBERS + WORDS], frame["species"])

    @loopml.pipeline
    def penguins(data: str = "penguins@latest") -> Pipeline:
        return train(dataset_version(ref=data))
    """
)
POLICY = textwrap.dedent(
    """
    evaluation: {dataset: penguins-2009@latest, target: species}
    metrics: {accuracy: {min: 0.5}}
    promotion: {require_gate: true, require_approval: true}
    """
)


@dataclass
class Team:
    """The running server, the project folder the CLI runs in, and each user's token."""

    server: PlatformServer
    project: Path
    tokens: dict[str, str]
    store_uri: str
    bucket: str
    s3_endpoint: str
    scratch: Path

    def env(self, user: str) -> dict[str, str]:
        """What a CLI of ``user`` sets: the server's URL and the user's token."""
        return {
            "LOOPML_SERVER_URL": self.server.url,
            "LOOPML_TOKEN": self.tokens[user],
            "TMPDIR": str(self.scratch),
        }

    def run(self, user: str, *args: str, code: int = 0, cwd: Path | None = None) -> str:
        """``loopml ARGS`` as ``user`` (in the project folder, or ``cwd``); asserts its exit
        code, returns its stdout (and its stderr when it fails)."""
        done = cli(*args, cwd=cwd or self.project, env=self.env(user), timeout=180)
        return expect(done, code)


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (
        f"{' '.join(result.args[1:])}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout + result.stderr if code else result.stdout


def _start_server(folder: Path, env: dict[str, str], store_uri: str, artifact_uri: str) -> Any:
    log_path = folder / "server.log"
    for attempt in range(3):  # a free port can be taken by someone else before bind
        port = free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(LOOPML), "server", "--auth", "--port", str(port), "--store-uri", store_uri,
                 "--artifact-uri", artifact_uri, "--policy", "gates.yaml"],
                cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        server = PlatformServer(
            f"http://127.0.0.1:{port}", process, folder, store_uri, folder, log_path
        )
        if wait_until_ready(server, timeout=60):
            return server
        server.stop()
        assert attempt < 2, server.log()
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def team(
    postgres_uri_factory: Callable[[], str],
    s3_server: str,
    s3_admin_filesystem: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Team]:
    project = tmp_path_factory.mktemp("team")
    scratch = project / "scratch"
    scratch.mkdir()
    bucket = f"loopml-gov-{uuid.uuid4().hex[:12]}"
    s3_admin_filesystem.mkdir(bucket)
    store_uri, artifact_uri = postgres_uri_factory(), f"s3://{bucket}/artifacts"
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    key = expect(cli("encryption", "new-key", cwd=project), 0)
    (project / "loopml.key").write_text(key, encoding="utf-8")
    (project / "loopml.key").chmod(0o600)
    stores = {
        "LOOPML_STORE_URI": store_uri,
        "LOOPML_ARTIFACT_URI": artifact_uri,
        "LOOPML_S3_ENDPOINT_URL": s3_server,
        "LOOPML_ENCRYPTION_KEY_FILE": str(project / "loopml.key"),
        "TMPDIR": str(scratch),
    }
    # the first admin, embedded, directly on the stores: no server and no token needed
    expect(cli("users", "add", "ada", "--role", "admin", cwd=project, env=stores), 0)
    admin_token = expect(cli("tokens", "create", "ada", "--expires", "1d", cwd=project,
                             env=stores), 0).strip()  # fmt: skip
    (project / "gates.yaml").write_text(POLICY, encoding="utf-8")
    (project / "flows.py").write_text(PIPELINE, encoding="utf-8")
    server_env = {**base, **stores, "LOOPML_AUTH_CACHE_SECONDS": "0"}
    server = _start_server(project, server_env, store_uri, artifact_uri)
    try:
        team = Team(server, project, {"ada": admin_token}, store_uri, bucket, s3_server, scratch)
        for user, role in (("eve", "editor"), ("val", "viewer"), ("abe", "approver")):
            team.run("ada", "users", "add", user, "--role", role)
            team.tokens[user] = team.run("ada", "tokens", "create", user, "--label", "ci").strip()
        _train_and_register(team)
        yield team
    finally:
        server.stop()
        s3_admin_filesystem.rm(bucket, recursive=True)


def _train_and_register(team: Team) -> None:
    """The editor versions two slices of the penguins, trains on the first, registers."""
    header, rows = penguins_rows()
    year = header.index("year")
    p = team.project
    write_csv(p / "penguins.csv", header, [r for r in rows if r[year] < "2009"])
    write_csv(p / "penguins-2009.csv", header, [r for r in rows if r[year] == "2009"])
    columns = [header.index(name) for name in FEATURES]
    write_csv(p / "example.csv", FEATURES, [[r[i] for i in columns] for r in rows[:6]])
    team.run("eve", "data", "add", "penguins", "penguins.csv")
    team.run("eve", "data", "add", "penguins-2009", "penguins-2009.csv")
    run = json.loads(team.run("eve", "pipeline", "run", "flows:penguins", "--json"))
    # an editor registers; moving an alias is an approver's: the CLI says the version is in
    said = team.run(
        "eve",
        "models",
        "register",
        MODEL,
        "--run",
        run["run_id"],
        "--step",
        "train",
        "--input-example",
        "example.csv",
        "--alias",
        "challenger",
        code=2,
    )
    assert f"Registered {MODEL}@1, but did not point {MODEL}@challenger at it" in said, said
    assert "models:promote" in said
    team.run("abe", "models", "alias", "set", MODEL, "challenger", "1")


def test_admin_manages_users_and_tokens_through_the_server(team: Team) -> None:
    users = {u["name"]: u for u in json.loads(team.run("ada", "users", "list", "--json"))}
    assert {name: user["roles"] for name, user in users.items()} == {
        "ada": {"default": "admin"},
        "eve": {"default": "editor"},
        "val": {"default": "viewer"},
        "abe": {"default": "approver"},
    }
    tokens = json.loads(team.run("ada", "tokens", "list", "--json"))
    assert {t["user"] for t in tokens} == {"ada", "eve", "val", "abe"}
    assert not any(secret in json.dumps(tokens) for secret in team.tokens.values())
    refused = team.run("eve", "tokens", "list", code=2)
    assert "users:admin" in refused
    assert not any(secret in team.server.log() for secret in team.tokens.values())

    # a revoked token stops working at once (the server's token cache is off here)
    spare = json.loads(team.run("ada", "tokens", "create", "val", "--label", "spare", "--json"))
    team.tokens["spare"] = spare["token"]
    assert MODEL in team.run("spare", "models", "list")
    team.run("ada", "tokens", "revoke", spare["id"])
    assert "revoked" in team.run("spare", "models", "list", code=2)


def test_viewer_reads_but_every_write_is_refused(team: Team) -> None:
    assert MODEL in team.run("val", "models", "list")
    for args in (
        ("data", "add", "penguins", "penguins-2009.csv"),
        ("models", "alias", "set", MODEL, "viewer-pick", "1"),
        ("models", "describe", MODEL, "--owner", "val"),
        ("users", "add", "mallory", "--role", "admin"),
    ):
        said = team.run("val", *args, code=2)
        assert "val lacks the permission" in said, (args, said)
    listed = json.loads(team.run("val", "data", "list", "--json"))
    assert {d["dataset"]: d["version"] for d in listed} == {"penguins": 1, "penguins-2009": 1}


def test_the_server_holds_promotion_to_its_policy(team: Team) -> None:
    refused = team.run("eve", "models", "promote", f"{MODEL}@challenger", code=2)
    assert "models:promote" in refused
    # from a folder without gates.yaml the CLI checks nothing itself: the server refuses
    elsewhere = team.project / "elsewhere"
    elsewhere.mkdir()
    blocked = team.run("abe", "models", "promote", f"{MODEL}@challenger", code=1, cwd=elsewhere)
    assert "gate" in blocked and "approv" in blocked
    gate = json.loads(
        team.run("eve", "gate", f"{MODEL}@challenger", "--policy", "gates.yaml", "--json")
    )
    assert gate["passed"] is True, gate
    team.run("abe", "models", "approve", f"{MODEL}@1")
    team.run("abe", "models", "promote", f"{MODEL}@challenger", "--reason", "first model")
    shown = json.loads(team.run("val", "models", "show", f"{MODEL}@champion", "--json"))
    assert shown["version"] == 1


def test_lineage_of_the_model_and_of_its_data(team: Team) -> None:
    text = team.run("val", "lineage", f"{MODEL}@1")
    assert "penguins@1" in text and "challenger" in text
    graph = json.loads(team.run("val", "lineage", f"{MODEL}@1", "--json"))
    ids = {node["id"] for node in graph["nodes"]}
    assert {f"model:{MODEL}@1", "dataset:penguins@1"} <= ids
    assert team.run("val", "lineage", f"{MODEL}@1", "--dot").startswith("digraph")
    reached = json.loads(team.run("val", "lineage", "data", "penguins@1", "--downstream", "--json"))
    assert f"model:{MODEL}@1" in {node["id"] for node in reached["nodes"]}
    assert "penguins-2009" not in json.dumps(reached)


def test_explanations_and_fairness_through_the_server(team: Team) -> None:
    explained = json.loads(
        team.run("val", "explain", f"{MODEL}@challenger", "--input", "example.csv", "--json")
    )
    assert explained["model_version"] == f"{MODEL}@1"
    assert len(explained["contributions"]) == 6
    report = json.loads(team.run(
        "val", "fairness", f"{MODEL}@1", "--data", "penguins-2009.csv", "--target", "species",
        "--sensitive", "sex", "--positive", "Adelie", "--json",
    ))  # fmt: skip
    assert report["positive"] == "Adelie"
    assert {g["group"]["sex"] for g in report["groups"]} == {"female", "male", "(missing)"}


def test_the_model_card_is_one_offline_html_file(team: Team) -> None:
    team.run("eve", "models", "describe", MODEL, "--owner", "birds@example.com",
             "--intended-use", "Teaching only.")  # fmt: skip
    team.run("val", "card", f"{MODEL}@1", "--html", "-o", "card.html")
    html = (team.project / "card.html").read_text(encoding="utf-8")
    assert "birds@example.com" in html and "Teaching only." in html and "penguins@1" in html
    assert "<script" not in html and "://" not in html


def test_the_bucket_holds_only_ciphertext_that_reads_back_through_the_cli(
    team: Team, s3_admin_filesystem: Any
) -> None:
    """The training CSV's bytes are nowhere in the bucket, yet the CLI reads them back."""
    known = (team.project / "penguins.csv").read_bytes()
    objects = [o for o in s3_admin_filesystem.find(team.bucket) if "/blobs/" in o]
    assert objects
    probes = (known[:64], known[len(known) // 2 : len(known) // 2 + 64], b"Adelie,Torgersen")
    for key in objects:
        stored = s3_admin_filesystem.cat_file(key)
        assert not any(probe in stored for probe in probes), key
    team.run("val", "data", "get", "penguins@1", "--to", "back")
    assert (team.project / "back" / "penguins.csv").read_bytes() == known


def test_the_audit_log_names_each_user_verifies_and_catches_an_edit(team: Team) -> None:
    mine = json.loads(team.run("ada", "audit", "log", "--actor", "eve", "--json"))
    actions = {e["action"] for e in mine}
    assert {"dataset.add_version", "model.add_version"} <= actions, actions
    assert all(e["actor"] == "eve" for e in mine)
    assert any(e["actor"] == "abe" for e in json.loads(
        team.run("ada", "audit", "log", "--target", f"model:{MODEL}", "--json")))  # fmt: skip
    assert "OK:" in team.run("val", "audit", "verify")
    anchor = team.run("val", "audit", "anchor").strip()
    exported = [json.loads(line) for line in team.run("val", "audit", "export").splitlines()]
    assert anchor == f"{exported[-1]['hash']}@{len(exported)}"

    import psycopg

    conninfo = team.store_uri.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as database:
        (actor,) = database.execute("SELECT actor FROM events WHERE seq = 3").fetchone()
        database.execute("UPDATE events SET actor = 'mallory' WHERE seq = 3")
        try:
            broken = team.run("val", "audit", "verify", code=1)
            assert "position 3" in broken and "edited" in broken, broken
        finally:
            database.execute("UPDATE events SET actor = %s WHERE seq = 3", (actor,))
    assert "OK:" in team.run("val", "audit", "verify", "--anchor", anchor)


def test_a_model_server_with_an_editor_token_logs_without_the_sensitive_column(
    team: Team,
) -> None:
    """``loopml serve`` with the editor's token (the role docs/access.md gives a model
    server) registers its deployment and stores its prediction log through the server,
    with the column marked sensitive left out; the deployment shows in the lineage."""
    header, rows = penguins_rows()
    columns = [header.index(name) for name in FEATURES]
    data = [[value(r[i], name) for i, name in zip(columns, FEATURES, strict=True)]
            for r in rows[:8]]  # fmt: skip
    env = {**team.env("eve"), "LOOPML_SERVE_SENSITIVE": "sex"}
    server = wait_until_serving(
        start_model_server(
            team.project, f"{MODEL}@challenger", "--log-roll-seconds", "0.2", env=env
        )
    )
    try:
        answer = httpx.post(
            f"{server.url}/invocations",
            json={"dataframe_split": {"columns": FEATURES, "data": data}},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        with Client(server_url=team.server.url, token=team.tokens["val"]) as client:
            assert wait_for(lambda: read_predictions(MODEL, client).num_rows == len(data), 60)
            logged = read_predictions(MODEL, client).column("inputs").to_pylist()
    finally:
        server.stop()
    assert [set(row) for row in logged] == [set(FEATURES) - {"sex"}] * len(data), server.log()
    graph = json.loads(team.run("val", "lineage", f"{MODEL}@1", "--json"))
    assert "deployment" in {node["kind"] for node in graph["nodes"]}
