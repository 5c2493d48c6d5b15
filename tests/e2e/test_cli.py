"""The ``loopml`` command line as a user runs it: the real console script in real processes,
over a real SQLite store (and, at the end, through a real ``loopml server``)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import loopml
from loopml.core.config import find_root, init_project, load_config
from tests.e2e.runner import LOOPML, cli, cli_each
from tests.fixtures.backends import free_port

SERVER_READY_TIMEOUT = 30.0
SECRET = "tok-do-not-print-0123456789"

HELP_COMMANDS = [
    [],
    ["init"],
    ["experiments"],
    ["experiments", "list"],
    ["experiments", "create"],
    ["runs"],
    ["runs", "list"],
    ["runs", "show"],
    ["runs", "compare"],
    ["runs", "delete"],
    ["server"],
    ["quickstart"],
    ["models"],
    ["models", "promote"],
    ["models", "rollback"],
    ["models", "alias", "history"],
    ["models", "diff"],
    ["models", "list"],
    ["models", "show"],
    ["models", "versions"],
    ["models", "alias", "set"],
    ["models", "register"],
    ["package"],
    ["monitor", "drift"],
    ["lineage"],
    ["card"],
    ["models", "describe"],
]


def strict_json(text: str) -> object:
    """Parse JSON refusing the non-standard NaN/Infinity literals Python would accept."""

    def refuse(constant: str) -> object:
        raise AssertionError(f"non-standard JSON constant {constant} in output")

    return json.loads(text, parse_constant=refuse)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@dataclass
class Project:
    folder: Path
    runs: dict[str, str]  # run name -> id

    def client(self) -> loopml.Client:
        config = load_config(self.folder, env={})
        return loopml.Client(store_uri=config.store_uri, artifact_uri=config.artifact_uri)


def log_runs(client: loopml.Client, scratch: Path) -> dict[str, str]:
    """Three runs in experiment 'exp' and one in 'other', logged through the Python API."""
    ids: dict[str, str] = {}
    scratch.mkdir(parents=True, exist_ok=True)
    report = scratch / "report.json"
    report.write_text('{"ok": true}\n', encoding="utf-8")
    specs = [
        ("alpha", "exp", {"model": "logreg", "C": 0.1}, [0.70, 0.80, 0.85]),
        ("beta", "exp", {"model": "rf", "n_estimators": 100}, [0.80, 0.95]),
        ("gamma", "exp", {"model": "logreg", "C": 10}, [0.60]),
        ("delta", "other", {"model": "rf", "n_estimators": 10}, [0.50]),
    ]
    for name, experiment, params, aucs in specs:
        with loopml.start_run(experiment, params=params, name=name, client=client) as run:
            for step, auc in enumerate(aucs):
                run.log_metric("auc", auc, step=step)
            run.log_metric("loss", math.nan if name == "alpha" else 1 - aucs[-1])
            run.log_metric("grad_norm", math.inf if name == "alpha" else 1.0)
            run.set_tag("team", "vision")
            if name == "beta":
                run.log_artifact(report, "reports")
        ids[name] = run.id
    return ids


def make_project(folder: Path) -> Project:
    init_project(folder)
    project = Project(folder, {})
    with project.client() as client:
        project.runs = log_runs(client, folder / "scratch")
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Shared by every test; a test that adds or deletes runs touches only runs it made."""
    return make_project(tmp_path_factory.mktemp("shared"))


# help and errors -----------------------------------------------------------------------------
def test_help_on_every_command_exits_zero_and_teaches_with_an_example(tmp_path: Path) -> None:
    # the console script's main() for each command, in one process (tests/e2e/runner.py)
    results = cli_each([[*c, "--help"] for c in HELP_COMMANDS], cwd=tmp_path)
    assert cli("--help", cwd=tmp_path).stdout == results[0].stdout  # as a real `loopml --help`
    for command, result in zip(HELP_COMMANDS, results, strict=True):
        name = " ".join(["loopml", *command])
        assert result.returncode == 0, f"{name} --help: {result.stderr}"
        assert "Usage: loopml" in result.stdout, name
        if command and command not in (["experiments"], ["runs"], ["models"]):
            assert "Examples:" in result.stdout, name
            assert f"loopml {command[0]}" in result.stdout.split("Examples:", 1)[1], name


def test_commands_outside_a_project_exit_2_and_say_loopml_init(tmp_path: Path) -> None:
    assert find_root(tmp_path) is None, "a .loopml folder above the temp folder spoils this test"
    for command in (["runs", "list"], ["runs", "show", "abc"]):
        result = cli(*command, cwd=tmp_path)
        assert result.returncode == 2, command
        assert "loopml init" in result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
    assert not (tmp_path / ".loopml").exists(), "a read must not create a project"


def test_unknown_option_is_a_usage_error_exit_2(tmp_path: Path) -> None:
    result = cli("runs", "list", "--no-such-option", cwd=tmp_path)
    assert result.returncode == 2
    assert "no-such-option" in result.stderr


# init and experiments ------------------------------------------------------------------------
def test_init_creates_the_project_and_says_where_the_store_lives(tmp_path: Path) -> None:
    result = ok(cli("init", "proj", cwd=tmp_path))
    root = (tmp_path / "proj" / ".loopml").resolve()
    assert root.is_dir()
    assert str(root) in result.stdout
    again = strict_json(ok(cli("init", "proj", "--json", cwd=tmp_path)).stdout)
    assert again == {
        "root": str(root),
        "created": False,
        "stores": "local",
        "store_uri": f"sqlite:///{root / 'loopml.db'}",
        "artifact_uri": str(root / "artifacts"),
        "server_url": None,
    }


def test_experiments_create_and_list_as_json(tmp_path: Path) -> None:
    init_project(tmp_path)
    created = strict_json(ok(cli("experiments", "create", "churn", "--json", cwd=tmp_path)).stdout)
    assert isinstance(created, dict) and created["name"] == "churn"
    assert "fraud" in ok(cli("experiments", "create", "fraud", cwd=tmp_path)).stdout
    duplicate = cli("experiments", "create", "churn", cwd=tmp_path)
    assert duplicate.returncode == 2
    assert "churn" in duplicate.stderr and "Traceback" not in duplicate.stderr
    listed = strict_json(ok(cli("experiments", "list", "--json", cwd=tmp_path)).stdout)
    assert isinstance(listed, list)
    assert [e["name"] for e in listed] == ["churn", "fraud"]
    assert listed[0]["id"] == created["id"]
    table = ok(cli("experiments", "list", cwd=tmp_path)).stdout
    assert "churn" in table and "fraud" in table


# runs list -----------------------------------------------------------------------------------
def test_runs_list_json_filters_and_orders(project: Project) -> None:
    result = ok(
        cli(
            "runs", "list", "--experiment", "exp", "--filter", "metrics.auc > 0.7",
            "--order-by", "metrics.auc DESC", "--json", cwd=project.folder,
        )
    )  # fmt: skip
    runs = strict_json(result.stdout)
    assert isinstance(runs, list)
    assert [r["name"] for r in runs] == ["beta", "alpha"]
    assert runs[0]["metrics"]["auc"] == pytest.approx(0.95)
    assert runs[0]["params"] == {"model": "rf", "n_estimators": "100"}
    assert runs[0]["status"] == "FINISHED" and runs[0]["experiment"] == "exp"
    assert runs[1]["metrics"]["loss"] == "NaN"
    assert runs[1]["metrics"]["grad_norm"] == "Infinity"


def test_runs_list_across_experiments_with_several_order_keys(project: Project) -> None:
    result = ok(
        cli(
            "runs", "list", "-f", "params.model = 'rf'", "-o", "params.model",
            "-o", "metrics.auc ASC", "--json", cwd=project.folder,
        )
    )  # fmt: skip
    runs = strict_json(result.stdout)
    assert isinstance(runs, list)
    assert [(r["name"], r["experiment"]) for r in runs] == [("delta", "other"), ("beta", "exp")]


def test_runs_list_pages_with_max_results_and_page_token(project: Project) -> None:
    first = ok(cli("runs", "list", "-e", "exp", "-n", "2", "--json", cwd=project.folder))
    page = strict_json(first.stdout)
    assert isinstance(page, list) and len(page) == 2
    token = first.stderr.split("--page-token", 1)[1].split()[0]
    rest = strict_json(
        ok(
            cli("runs", "list", "-e", "exp", "--page-token", token, "--json", cwd=project.folder)
        ).stdout
    )
    assert isinstance(rest, list)
    names = {r["name"] for r in page} | {r["name"] for r in rest}
    assert names == {"alpha", "beta", "gamma"}


def test_runs_list_table_shows_runs_params_and_metrics(project: Project) -> None:
    table = ok(cli("runs", "list", "-e", "exp", "-o", "metrics.auc DESC", cwd=project.folder))
    out = table.stdout
    for name in ("alpha", "beta", "gamma"):
        assert name in out
    assert out.index("beta") < out.index("alpha") < out.index("gamma")
    assert "auc" in out and "FINISHED" in out and "NaN" in out
    assert project.runs["beta"][:8] in out


def test_bad_filter_exits_2_and_points_at_the_position(project: Project) -> None:
    result = cli("runs", "list", "--filter", "metrics.auc >> 0.5", cwd=project.folder)
    assert result.returncode == 2
    assert "position 13" in result.stderr
    lines = result.stderr.splitlines()
    text_line = next(line for line in lines if "metrics.auc >> 0.5" in line)
    caret_line = lines[lines.index(text_line) + 1]
    assert caret_line.index("^") == text_line.index("metrics.auc") + 13
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_too_many_order_keys_exit_2_saying_the_limit(project: Project) -> None:
    # 31 keys crashed the process inside SQLite (exit 139)
    keys = ["metrics.auc", "metrics.loss", "params.model", "tags.team", "start_time"]
    order_by = [option for i in range(31) for option in ("--order-by", keys[i % len(keys)])]
    result = cli("runs", "list", *order_by, cwd=project.folder)
    assert result.returncode == 2, result.stderr
    assert "order_by has 31 keys; at most 10 are allowed" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_unknown_experiment_exits_2_naming_it(project: Project) -> None:
    result = cli("runs", "list", "-e", "no-such-exp", cwd=project.folder)
    assert result.returncode == 2
    assert "no-such-exp" in result.stderr


# runs show -----------------------------------------------------------------------------------
def test_runs_show_json_has_params_metrics_tags_system_info_and_artifacts(
    project: Project,
) -> None:
    run_id = project.runs["alpha"]
    shown = strict_json(ok(cli("runs", "show", run_id, "--json", cwd=project.folder)).stdout)
    assert isinstance(shown, dict)
    assert shown["id"] == run_id and shown["name"] == "alpha" and shown["experiment"] == "exp"
    assert shown["params"] == {"model": "logreg", "C": "0.1"}
    assert shown["metrics"]["auc"] == pytest.approx(0.85)
    assert shown["metrics"]["loss"] == "NaN"
    assert shown["metrics"]["grad_norm"] == "Infinity"
    assert shown["metric_history"]["auc"]["count"] == 3
    assert shown["metric_history"]["auc"]["min"] == pytest.approx(0.70)
    assert shown["tags"]["team"] == "vision"
    for key in ("loopml.python", "loopml.host", "loopml.packages", "loopml.command"):
        assert key in shown["tags"], key
    assert shown["artifacts"] == []

    beta = strict_json(
        ok(cli("runs", "show", project.runs["beta"], "--json", cwd=project.folder)).stdout
    )
    assert isinstance(beta, dict)
    assert [a["path"] for a in beta["artifacts"]] == ["reports/report.json"]
    assert beta["artifacts"][0]["size"] == len('{"ok": true}\n')


def test_runs_show_table_and_unique_id_prefix(project: Project) -> None:
    run_id = project.runs["beta"]
    out = ok(cli("runs", "show", run_id[:8], cwd=project.folder)).stdout
    assert run_id in out
    for text in ("Params", "n_estimators", "Metrics", "auc", "System info", "loopml.python"):
        assert text in out, text
    assert "reports/report.json" in out


def test_unknown_run_id_exits_2_naming_it(project: Project) -> None:
    for command in (["runs", "show"], ["runs", "delete", "--yes"]):
        result = cli(*command, "feedbeef" * 4, cwd=project.folder)
        assert result.returncode == 2, command
        assert "feedbeef" * 4 in result.stderr
        assert "Traceback" not in result.stderr


# runs compare --------------------------------------------------------------------------------
def test_runs_compare_json_shows_values_side_by_side_and_differences(project: Project) -> None:
    alpha, beta = project.runs["alpha"], project.runs["beta"]
    data = strict_json(ok(cli("runs", "compare", alpha, beta, "--json", cwd=project.folder)).stdout)
    assert isinstance(data, dict)
    assert [r["id"] for r in data["runs"]] == [alpha, beta]
    assert data["params"]["model"] == {alpha: "logreg", beta: "rf"}
    assert data["params"]["C"] == {alpha: "0.1", beta: None}
    assert data["metrics"]["auc"][beta] == pytest.approx(0.95)
    assert data["metrics"]["loss"][alpha] == "NaN"
    assert data["best"]["auc"] == beta
    assert data["best"]["loss"] == beta  # lower is better, NaN never wins
    assert set(data["differences"]["params"]) == {"model", "C", "n_estimators"}
    assert "auc" in data["differences"]["metrics"]
    assert data["metric_history"]["auc"][alpha]["count"] == 3


def test_runs_compare_table_marks_differences(project: Project) -> None:
    alpha, beta = project.runs["alpha"], project.runs["beta"]
    out = ok(cli("runs", "compare", alpha[:8], beta[:8], cwd=project.folder)).stdout
    assert "alpha" in out and "beta" in out
    assert "≠ params.model" in out
    assert "params.model" in out and "metrics.auc" in out
    assert "★" in out


def test_runs_compare_needs_two_runs(project: Project) -> None:
    result = cli("runs", "compare", project.runs["alpha"], cwd=project.folder)
    assert result.returncode == 2
    assert "two run ids" in result.stderr


# runs delete ---------------------------------------------------------------------------------
def test_runs_delete_asks_unless_yes_and_refuses_without_a_terminal(project: Project) -> None:
    with project.client() as client, loopml.start_run("doomed", client=client) as run:
        run.log_metric("auc", 0.5)
    folder, doomed = project.folder, run.id
    refused = cli("runs", "delete", doomed, cwd=folder)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr

    assert doomed in ok(cli("runs", "delete", doomed[:8], "--yes", cwd=folder)).stdout
    listed = strict_json(ok(cli("runs", "list", "--json", cwd=folder)).stdout)
    assert isinstance(listed, list)
    assert doomed not in {r["id"] for r in listed}, "deleted with --yes"
    assert set(project.runs.values()) <= {r["id"] for r in listed}, "others kept"
    assert cli("runs", "show", doomed, cwd=folder).returncode == 2


# environment overrides and the platform server -----------------------------------------------
def test_store_uri_from_the_environment_is_honoured(project: Project, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = load_config(project.folder, env={})
    assert config.store_uri and config.artifact_uri
    env = {"LOOPML_STORE_URI": config.store_uri, "LOOPML_ARTIFACT_URI": config.artifact_uri}
    runs = strict_json(
        ok(cli("runs", "list", "-e", "exp", "--json", cwd=elsewhere, env=env)).stdout
    )
    assert isinstance(runs, list)
    assert {r["id"] for r in runs} == {project.runs[name] for name in ("alpha", "beta", "gamma")}


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    startup_seconds: float


@pytest.fixture
def server(project: Project, tmp_path: Path) -> Iterator[ServerProcess]:
    """``loopml server`` over the shared project's stores, on a free loopback port."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    log_path = tmp_path / "server.log"
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(LOOPML), "server", "--port", str(port)],
            cwd=project.folder,
            env=clean,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process, log_path)
        elapsed = time.perf_counter() - started
        print(f"loopml server ready in {elapsed:.2f}s")
        yield ServerProcess(url, process, elapsed)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"loopml server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"loopml server at {url} was not healthy after {SERVER_READY_TIMEOUT}s")


def test_runs_logged_through_the_server_are_listed_by_a_remote_cli(
    server: ServerProcess, project: Project, tmp_path: Path
) -> None:
    with loopml.Client(server_url=server.url) as client:
        with loopml.start_run("remote", params={"via": "http"}, name="r1", client=client) as run:
            run.log_metric("auc", 0.91)
        remote_id = run.id
    elsewhere = tmp_path / "no-project-here"
    elsewhere.mkdir()
    env = {"LOOPML_SERVER_URL": server.url, "LOOPML_TOKEN": SECRET}
    runs = strict_json(
        ok(cli("runs", "list", "-e", "remote", "--json", cwd=elsewhere, env=env)).stdout
    )
    assert isinstance(runs, list)
    assert [(r["id"], r["metrics"]["auc"]) for r in runs] == [(remote_id, 0.91)]
    everything = strict_json(ok(cli("runs", "list", "--json", cwd=elsewhere, env=env)).stdout)
    assert isinstance(everything, list)
    assert {*project.runs.values(), remote_id} <= {r["id"] for r in everything}
    shown = strict_json(
        ok(cli("runs", "show", remote_id[:8], "--json", cwd=elsewhere, env=env)).stdout
    )
    assert isinstance(shown, dict) and shown["params"] == {"via": "http"}
    bad = cli("runs", "list", "-f", "metrics.auc >> 1", cwd=elsewhere, env=env)
    assert bad.returncode == 2 and "position 13" in bad.stderr
    init = ok(cli("init", "--json", cwd=elsewhere, env=env))
    for result in (bad, init):
        assert SECRET not in result.stdout + result.stderr
    print(f"server startup: {server.startup_seconds:.2f}s")
