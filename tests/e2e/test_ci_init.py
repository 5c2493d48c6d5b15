"""``loopml ci init`` as a user runs it: the workflow files it writes for GitHub Actions and
GitLab CI parse, run the four commands in order, promote only on the default branch, use
only commands and options the real CLI has, and their shell trains and registers a model."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from loopml.cli.main import app
from tests.e2e.runner import cli

FLOWS = """
import loopml
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


@loopml.step
def train(*, c: float = 1.0) -> LogisticRegression:
    x, y = load_iris(return_X_y=True)
    return LogisticRegression(C=c, max_iter=500).fit(x, y)


@loopml.pipeline
def training(c: float = 1.0) -> LogisticRegression:
    return train(c=c)
"""
PROJECT_FILE = """
pipelines:
  training: flows:training
  nightly:
    ref: flows:training
    params: {c: 0.5}
"""
WORKFLOW_FILES = {"github": ".github/workflows/loopml.yml", "gitlab": ".gitlab-ci.yml"}
GITHUB_DEFAULT_BRANCH = (
    "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
)
GITLAB_DEFAULT_BRANCH = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
THE_FOUR = [["pipeline", "run"], ["models", "register"], ["gate"], ["models", "promote"]]
SHELL_OPERATORS = {";", "&&", "||", "|", "&", "(", ")"}
SHELL_KEYWORDS = {"if", "then", "else", "elif", "do", "!"}


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh checkout of a project: a pipeline module and loopml.yaml, no .loopml/ yet."""
    folder = tmp_path / "Churn Model"
    folder.mkdir()
    (folder / "flows.py").write_text(FLOWS, encoding="utf-8")
    (folder / "loopml.yaml").write_text(PROJECT_FILE, encoding="utf-8")
    return folder


def write_workflow(project: Path, provider: str, *args: str) -> dict[str, Any]:
    """Run ``loopml ci init --provider PROVIDER ARGS --json`` and load the file it wrote."""
    out = expect(cli("ci", "init", "--provider", provider, *args, "--json", cwd=project), 0)
    written = json.loads(out)
    path = project / WORKFLOW_FILES[provider]
    assert written == {"path": str(path.resolve()), "provider": provider}
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


# reading the workflow's shell ----------------------------------------------------------------
def scripts_in_order(workflow: dict[str, Any]) -> list[str]:
    """The shell scripts the workflow runs, in the order it runs them (GitHub: the steps of its
    job; GitLab: each job's before_script then script, stage by stage)."""
    if "jobs" in workflow:
        (job,) = workflow["jobs"].values()
        return [step["run"] for step in job["steps"] if "run" in step]
    default_before = workflow.get("default", {}).get("before_script", [])
    scripts = []
    for stage in workflow["stages"]:
        for job in workflow.values():
            if isinstance(job, dict) and job.get("stage") == stage:
                scripts += [*job.get("before_script", default_before), *job["script"]]
    return scripts


def shell_commands(script: str) -> Iterator[list[str]]:
    """Each simple command of ``script`` as its words, redirections left out."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        tokens = iter(list(lexer))
        for token in tokens:
            if token in SHELL_OPERATORS:
                yield from [words] if words else []
                words = []
            elif set(token) <= set("<>&"):
                next(tokens, None)  # the file of a redirection
            elif words or token not in SHELL_KEYWORDS:
                words.append(token)
        yield from [words] if words else []


def loopml_commands(workflow: dict[str, Any]) -> list[list[str]]:
    """Every ``loopml …`` command the workflow runs, in order, without the ``loopml``."""
    return [
        words[1:]
        for script in scripts_in_order(workflow)
        for words in shell_commands(script)
        if words[0] == "loopml"
    ]


def subcommands(command: object) -> dict[str, Any] | None:
    """A group's commands by name; None for a command (duck-typed: newer Typer versions
    carry their own copy of click)."""
    found = getattr(command, "commands", None)
    return found if isinstance(found, dict) else None


def command_path(args: list[str]) -> list[str]:
    """The subcommand words at the start of ``args`` (before the first argument or option)."""
    command: object = typer.main.get_command(app)
    path = []
    for word in args:
        group = subcommands(command)
        if group is None or word not in group:
            break
        path.append(word)
        command = group[word]
    return path


def check_against_the_cli(args: list[str]) -> None:
    """``loopml ARGS`` names a real command, uses only its options and parses as its usage."""
    line = shlex.join(["loopml", *args])
    command: Any = typer.main.get_command(app)
    path, rest = ["loopml"], list(args)
    while (group := subcommands(command)) is not None:
        assert rest, f"{line}: names a group of commands, not a command"
        known = ", ".join(sorted(group))
        assert rest[0] in group, f"{line}: there is no command {rest[0]!r}; there are {known}"
        command = group[rest[0]]
        path, rest = [*path, rest[0]], rest[1:]
    options = {
        name
        for param in command.params
        if param.param_type_name == "option"
        for name in (*param.opts, *param.secondary_opts)
    }
    for word in rest:
        name = word.partition("=")[0]
        if name.startswith("-"):
            assert name in options, f"{line}: {' '.join(path)} has no option {name}"
    try:
        command.make_context(" ".join(path), list(rest))
    except Exception as exc:  # click's UsageError, from whichever click Typer uses
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        raise AssertionError(f"{line}: {message}") from exc


# the workflows ------------------------------------------------------------------------------
def test_github_workflow_trains_registers_gates_and_promotes_only_on_the_default_branch(
    project: Path,
) -> None:
    workflow = write_workflow(project, "github")
    (triggers,) = [value for key, value in workflow.items() if key in ("on", True)]  # YAML 1.1
    assert set(triggers) == {"push", "pull_request"}
    env = workflow["env"]
    assert env["LOOPML_SERVER_URL"] == "${{ secrets.LOOPML_SERVER_URL }}"
    assert env["LOOPML_TOKEN"] == "${{ secrets.LOOPML_TOKEN }}"
    assert (env["LOOPML_PIPELINE"], env["LOOPML_MODEL"]) == ("training", "churn-model")
    assert (env["LOOPML_MODEL_STEP"], env["LOOPML_POLICY"]) == ("train", "gates.yaml")

    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    uses = [step.get("uses", "").partition("@")[0] for step in steps]
    assert uses[:3] == ["actions/checkout", "actions/setup-python", "actions/cache"]
    assert steps[1]["with"]["python-version"] == "3.11"
    assert "pip install -e ." in steps[3]["run"]
    main = [c for c in loopml_commands(workflow) if command_path(c) != ["init"]]
    assert [c[: len(p)] for c, p in zip(main, THE_FOUR, strict=True)] == THE_FOUR

    (promote,) = [step for step in steps if "loopml models promote" in step.get("run", "")]
    assert promote["if"] == GITHUB_DEFAULT_BRANCH
    guarded = [step for step in steps if "if" in step]
    assert [step["if"] for step in guarded] == [GITHUB_DEFAULT_BRANCH, "always()"]
    upload = steps[-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert {"run.json", "gate.json"} <= set(upload["with"]["path"].split())


def test_the_default_model_is_the_projects_registered_model_not_the_folder(
    project: Path,
) -> None:
    from sklearn.datasets import load_iris  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    import loopml.models
    from loopml.core.config import init_project
    from loopml.tracking.client import Client

    x, y = load_iris(return_X_y=True)
    with Client(config=init_project(project), create=False) as client:
        loopml.models.register("iris-clf", LogisticRegression(max_iter=500).fit(x, y),
                               input_example=x[:2], client=client)  # fmt: skip
    workflow = write_workflow(project, "github")
    assert workflow["env"]["LOOPML_MODEL"] == "iris-clf"
    with Client(config=init_project(project), create=False) as client:
        loopml.models.register("other", LogisticRegression(max_iter=500).fit(x, y),
                               input_example=x[:2], client=client)  # fmt: skip
    several = cli("ci", "init", "--force", cwd=project)
    assert several.returncode == 2 and "--model NAME" in several.stderr
    assert "iris-clf, other" in several.stderr


def test_gitlab_pipeline_trains_registers_gates_then_promotes_only_on_the_default_branch(
    project: Path,
) -> None:
    workflow = write_workflow(project, "gitlab", "--python", "3.12")
    assert workflow["stages"] == ["train", "promote"]
    variables = workflow["variables"]
    assert (variables["LOOPML_PIPELINE"], variables["LOOPML_MODEL"]) == ("training", "churn-model")
    assert (variables["LOOPML_MODEL_STEP"], variables["LOOPML_POLICY"]) == ("train", "gates.yaml")
    assert workflow["default"]["image"] == "python:3.12"
    assert any("pip install -e ." in line for line in workflow["default"]["before_script"])

    main = [c for c in loopml_commands(workflow) if command_path(c) != ["init"]]
    assert [c[: len(p)] for c, p in zip(main, THE_FOUR, strict=True)] == THE_FOUR
    train, promote = workflow["train-and-gate"], workflow["promote"]
    assert train["stage"] == "train" and promote["stage"] == "promote"
    assert promote["rules"] == [{"if": GITLAB_DEFAULT_BRANCH}]
    assert promote["needs"] == [{"job": "train-and-gate", "artifacts": True}]
    (promoting,) = [c for line in promote["script"] for c in shell_commands(line)]
    assert promoting[:3] == ["loopml", "models", "promote"]
    assert train["artifacts"]["when"] == "always"
    assert {"run.json", "gate.json"} <= set(train["artifacts"]["paths"])
    assert train["artifacts"]["reports"]["dotenv"] == "loopml.env"


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_every_loopml_command_in_the_workflow_exists_with_the_options_it_uses(
    project: Path, provider: str
) -> None:
    # Fails until `loopml gate` and `loopml models promote --policy` exist (being written).
    commands = loopml_commands(write_workflow(project, provider))
    assert len(commands) >= 5
    for args in commands:
        check_against_the_cli(args)


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_the_workflow_shell_runs_the_pipeline_and_registers_the_challenger(
    project: Path, provider: str
) -> None:
    """Runs the workflow's own lines, from `loopml init` up to the gate, in a fresh checkout."""
    workflow = write_workflow(project, provider)
    lines = []
    for script in scripts_in_order(workflow):
        if "loopml gate" in script:
            break
        if "pip install" not in script:
            lines.append(script)
    settings = workflow.get("env") or workflow["variables"]
    variables = {k: str(v) for k, v in settings.items() if "$" not in str(v)}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    path = f"{Path(sys.executable).parent}{os.pathsep}{clean['PATH']}"
    github_env = project / "github.env"
    result = subprocess.run(
        ["bash", "-e", "-c", "\n".join(lines)],
        cwd=project,
        env={**clean, **variables, "PATH": path, "GITHUB_ENV": str(github_env)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    expect(result, 0)
    run = json.loads((project / "run.json").read_text(encoding="utf-8"))
    version = json.loads((project / "version.json").read_text(encoding="utf-8"))
    assert [step["call"] for step in run["steps"]] == ["train"]
    assert (version["model"], version["version"], version["run_id"]) == (
        "churn-model",
        1,
        run["run_id"],
    )
    passed = github_env if provider == "github" else project / "loopml.env"
    assert "MODEL_VERSION=1" in passed.read_text(encoding="utf-8").splitlines()
    shown = json.loads(expect(cli("models", "show", "churn-model@challenger", "--json",
                                  cwd=project), 0))  # fmt: skip
    assert shown["version"] == 1


# choosing what goes in it -------------------------------------------------------------------
def test_options_choose_the_pipeline_model_policy_and_python(project: Path) -> None:
    args = ("--pipeline", "flows:training", "--model", "churn", "--policy", "ci/gates.yaml")
    workflow = write_workflow(project, "github", *args, "--python", "3.12")
    env = workflow["env"]
    assert (env["LOOPML_PIPELINE"], env["LOOPML_MODEL"]) == ("flows:training", "churn")
    assert env["LOOPML_POLICY"] == "ci/gates.yaml"
    (job,) = workflow["jobs"].values()
    assert job["steps"][1]["with"]["python-version"] == "3.12"
    named = write_workflow(project, "gitlab", "--pipeline", "nightly")
    assert named["variables"]["LOOPML_PIPELINE"] == "nightly"


def test_written_at_the_project_root_from_a_subfolder(project: Path) -> None:
    (project / ".loopml").mkdir()
    inner = project / "src" / "deep"
    inner.mkdir(parents=True)
    out = expect(cli("ci", "init", cwd=inner), 0)
    assert (project / ".github" / "workflows" / "loopml.yml").is_file()
    assert not (inner / ".github").exists()
    assert "LOOPML_SERVER_URL" in out and "LOOPML_TOKEN" in out
    assert "gates.yaml" in out and "loopml gate" in out


def test_refuses_to_overwrite_without_force_and_overwrites_with_it(project: Path) -> None:
    path = project / ".gitlab-ci.yml"
    path.write_text("# mine\n", encoding="utf-8")
    refused = cli("ci", "init", "--provider", "gitlab", cwd=project)
    assert refused.returncode == 2 and ".gitlab-ci.yml" in refused.stderr
    assert "--force" in refused.stderr
    assert path.read_text(encoding="utf-8") == "# mine\n"
    expect(cli("ci", "init", "--provider", "gitlab", "--force", cwd=project), 0)
    assert "loopml pipeline run" in path.read_text(encoding="utf-8")
    assert [p.name for p in project.iterdir() if p.name.startswith(".gitlab-ci.yml.")] == []


def test_unknown_provider_exits_2_naming_the_allowed_ones(project: Path) -> None:
    result = cli("ci", "init", "--provider", "circleci", cwd=project)
    assert result.returncode == 2
    assert "circleci" in result.stderr
    assert "github" in result.stderr and "gitlab" in result.stderr
    assert not (project / ".github").exists()


def test_no_known_pipeline_exits_2_and_says_how_to_name_one(tmp_path: Path) -> None:
    result = cli("ci", "init", cwd=tmp_path)
    assert result.returncode == 2
    assert "loopml.yaml" in result.stderr and "--pipeline" in result.stderr
    unknown = cli("ci", "init", "--pipeline", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "'nope'" in unknown.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--model", "churn model"),
        ("--pipeline", "training; rm -rf /"),
        ("--policy", "/etc/gates.yaml"),
        ("--python", "3.11; echo"),
    ],
)
def test_values_that_would_break_the_yaml_or_the_shell_exit_2(
    project: Path, option: str, value: str
) -> None:
    result = cli("ci", "init", option, value, cwd=project)
    assert result.returncode == 2, result.stdout
    assert repr(value) in result.stderr or value in result.stderr
    assert not (project / ".github").exists()


def test_help_teaches_with_examples(tmp_path: Path) -> None:
    for command in (["ci"], ["ci", "init"]):
        result = expect(cli(*command, "--help", cwd=tmp_path), 0)
        assert "Usage: loopml ci" in result
    examples = result.split("Examples:", 1)[1]  # of `loopml ci init --help`
    assert "loopml ci init --provider gitlab" in examples
