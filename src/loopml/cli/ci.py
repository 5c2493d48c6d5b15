"""``loopml ci init``: write a CI workflow that trains, registers, gates and promotes a model.

The workflows are package data (``templates/``) with ``%{name}`` placeholders, so the ``$`` of
shell and CI variables stays as written. Every value put in them is checked first, against
the characters a name, a path or a version may hold, so none can break the YAML or the shell.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated

import typer

from loopml.cli import output
from loopml.core.config import DIR_NAME
from loopml.core.errors import AlreadyExistsError, InvalidInputError
from loopml.core.validation import validate_ref_name
from loopml.core.version import __version__

DEFAULT_POLICY = "gates.yaml"
DEFAULT_PYTHON = "3.11"
MODEL_STEP = "train"  # LOOPML_MODEL_STEP in the templates

_PIPELINE = re.compile(r"[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.]+)?")
_POLICY = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")
_PYTHON = re.compile(r"3\.[0-9]+")
_NOT_IN_MODEL_NAME = re.compile(r"[^a-z0-9_.\-]+")


class Provider(StrEnum):
    github = "github"
    gitlab = "gitlab"


@dataclass(frozen=True)
class CIWorkflow:
    """Where one provider reads its workflow, the template it is written from, and where its
    users set the secrets."""

    label: str
    path: str
    template: str
    secrets_where: str


WORKFLOWS = {
    Provider.github: CIWorkflow(
        "GitHub Actions",
        ".github/workflows/loopml.yml",
        "github-actions.yml",
        "the repository secrets (Settings → Secrets and variables → Actions)",
    ),
    Provider.gitlab: CIWorkflow(
        "GitLab CI",
        ".gitlab-ci.yml",
        "gitlab-ci.yml",
        "CI/CD variables, the token masked (Settings → CI/CD → Variables)",
    ),
}

app = typer.Typer(
    help=(
        "Continuous integration for models: a workflow that runs the training pipeline, "
        "registers the model, gates it against the champion and promotes it."
    ),
    no_args_is_help=True,
)


class _WorkflowTemplate(Template):
    """``%{name}`` placeholders; a stray ``%`` is an error, never copied through."""

    delimiter = "%"
    idpattern = r"[a-z_]+"
    flags = re.NOFLAG


def render_workflow(
    provider: Provider, *, pipeline: str, model: str, policy: str, python: str
) -> str:
    """The workflow file of ``provider`` for these values (checked; see :func:`check_values`).

    >>> 'LOOPML_MODEL: "churn"' in render_workflow(
    ...     Provider.github, pipeline="training", model="churn", policy="gates.yaml",
    ...     python="3.11")
    True
    """
    check_values(pipeline=pipeline, model=model, policy=policy, python=python)
    source = (
        resources.files("loopml.cli").joinpath("templates").joinpath(WORKFLOWS[provider].template)
    )
    return _WorkflowTemplate(source.read_text(encoding="utf-8")).substitute(
        pipeline=pipeline,
        model=model,
        policy=policy,
        python=python,
        loopml_version=__version__,
        loopml_requirement=f"loopml[sklearn]>={__version__}",
    )


def check_values(*, pipeline: str, model: str, policy: str, python: str) -> None:
    """Refuse a value that is not a plain name, relative path or version (it would be pasted
    into YAML and shell)."""
    _check("--pipeline", pipeline, _PIPELINE, "a name from loopml.yaml or package.module:function")
    validate_ref_name("model", model)
    _check("--policy", policy, _POLICY, "a relative path of letters, digits and _ - . /")
    _check("--python", python, _PYTHON, "a Python version like 3.11")


def _check(option: str, value: str, pattern: re.Pattern[str], allowed: str) -> None:
    if not pattern.fullmatch(value):
        raise InvalidInputError(
            f"The {option!r} option of loopml ci init must be {allowed}. Got {value!r} instead."
        )


def project_folder(start: Path) -> Path:
    """The nearest folder, ``start`` or a parent, with ``.loopml/`` or ``loopml.yaml``; else
    ``start`` itself."""
    from loopml.pipelines.loading import PROJECT_FILE

    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / DIR_NAME).is_dir() or (folder / PROJECT_FILE).is_file():
            return folder
    return here


def default_model_name(folder: Path) -> tuple[str, str]:
    """The model CI should register, and why: the project's only registered model; with none
    yet, the folder's name (lower case, other characters as ``-``). Several models: an error
    asking for ``--model``."""
    names = _registered_models(folder)
    if len(names) == 1:
        return names[0], "the project's registered model"
    if len(names) > 1:
        raise InvalidInputError(
            f"The project has {len(names)} registered models ({', '.join(names)}); "
            "choose the one CI should train with --model NAME."
        )
    name = _NOT_IN_MODEL_NAME.sub("-", folder.name.lower()).strip("-.")
    return name or "model", "no model is registered yet, so named after the folder"


def _registered_models(folder: Path) -> list[str]:
    """The names of the models in ``folder``'s own store (none without ``.loopml/``)."""
    from loopml.core.config import load_config
    from loopml.tracking.client import Client

    if not (folder / DIR_NAME).is_dir():
        return []
    with Client(config=load_config(folder), create=False) as client:
        return sorted(model.name for model in client.metadata.list_registered_models())


def default_pipeline(folder: Path) -> str:
    """The first pipeline ``folder/loopml.yaml`` names; an error saying how to name one."""
    from loopml.pipelines.loading import PROJECT_FILE, named_pipelines

    for name in named_pipelines(folder):
        return name
    raise InvalidInputError(
        f"No pipeline to run: {folder / PROJECT_FILE} names none. Name one under 'pipelines:' "
        "there (see docs/pipelines.md) or pass --pipeline NAME or --pipeline "
        "package.module:function."
    )


def write_file(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` all at once (a temp file in the same folder, then renamed):
    a reader sees the old file or the new one, never half of one."""
    if path.exists() and not force:
        raise AlreadyExistsError(f"{path} already exists; pass --force to overwrite it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.chmod(scratch, 0o644)  # mkstemp makes it private; a workflow is an ordinary file
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise


@app.command("init")
def init_command(
    provider: Annotated[
        Provider, typer.Option("--provider", help="The CI service the workflow is for.")
    ] = Provider.github,
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            help="The training pipeline: a name from loopml.yaml or package.module:function "
            "[default: the first one loopml.yaml names].",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="The model to register [default: the project folder's name]."),
    ] = None,
    policy: Annotated[
        str,
        typer.Option("--policy", help="The gate policy file, relative to the project folder."),
    ] = DEFAULT_POLICY,
    python: Annotated[
        str, typer.Option("--python", help="The Python version the CI runs.")
    ] = DEFAULT_PYTHON,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the workflow file if it exists.")
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Write a CI workflow for this project: on every push and pull request it runs the
    training pipeline, registers the model as the challenger and gates it against the
    champion; on the default branch it promotes it.

    The file goes in the project folder (where .loopml/ or loopml.yaml is):
    .github/workflows/loopml.yml for GitHub, .gitlab-ci.yml for GitLab. An existing file is
    kept unless --force. The step whose output is the model is LOOPML_MODEL_STEP at the top
    of the file (train).

    Examples:

        loopml ci init
        loopml ci init --provider gitlab --pipeline training --model churn
        loopml ci init --policy ci/gates.yaml --python 3.12 --force --json
    """
    from loopml.pipelines.loading import resolve

    folder = project_folder(Path.cwd())
    pipeline = pipeline or default_pipeline(folder)
    why = "--model"
    if not model:
        model, why = default_model_name(folder)
    text = render_workflow(provider, pipeline=pipeline, model=model, policy=policy, python=python)
    resolve(pipeline, folder)  # a name loopml.yaml does not know fails here, not in CI
    workflow = WORKFLOWS[provider]
    path = folder / workflow.path
    write_file(path, text, force=force)
    if as_json:
        output.print_json({"path": str(path), "provider": str(provider)})
        return
    _print_next_steps(workflow, path, folder, pipeline=pipeline, model=model, policy=policy)
    if why != "--model":
        output.console().print(f"Model {model!r}: {why} (choose another with --model).")


def _print_next_steps(
    workflow: CIWorkflow, path: Path, folder: Path, *, pipeline: str, model: str, policy: str
) -> None:
    out = output.console()
    shown = _shown(path)
    out.print(
        f"Wrote {shown} ({workflow.label}). On every push it runs pipeline {pipeline!r}, "
        f"registers the output of its step {MODEL_STEP!r} as the next version of {model} "
        f"(alias challenger) and gates it with {policy} against {model}@champion; on the "
        "default branch it promotes it.",
        markup=False,
    )
    policy_step = (
        f"The gate policy {policy} is there; 'loopml gate' checks every challenger with it."
        if (folder / policy).is_file()
        else f"Write the gate policy {policy}: 'loopml gate' needs it "
        "('loopml gate --help' shows one)."
    )
    steps = [
        f"Set LOOPML_SERVER_URL and LOOPML_TOKEN in {workflow.secrets_where} to keep runs "
        "and models on a shared loopml server. Without them each run uses a store on the "
        "runner, fine for trying, lost after the job.",
        policy_step,
        f"Check that LOOPML_MODEL_STEP ({MODEL_STEP}) in the file names the step whose "
        "output is the model.",
        f"Commit {shown} and push.",
    ]
    out.print("Next:", markup=False)
    for number, step in enumerate(steps, start=1):
        out.print(f"  {number}. {step}", markup=False)
    repository = _repository_root(folder)
    if repository is not None and repository != folder:
        out.print(
            f"Note: the git repository starts at {repository}, and {workflow.label} reads "
            f"{workflow.path} only there: move the file to it and run the commands in "
            f"{folder.relative_to(repository)}.",
            markup=False,
        )


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _repository_root(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None
