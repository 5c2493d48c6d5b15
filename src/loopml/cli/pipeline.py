"""``loopml pipeline``: run pipelines declared with ``@loopml.pipeline``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.cli.trust import STEP_TRUST_CODE_OPTION

if TYPE_CHECKING:
    from rich.table import Table

    from loopml.pipelines.runner import PipelineRun

ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        "-x",
        help="Where steps (or trials) run: local (this process), process (a pool of worker "
        "processes, for independent branches) or ray. Default: LOOPML_EXECUTOR, else local.",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="Worker processes of --executor process (default: CPUs)."),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="The Ray cluster for --executor ray: auto, HOST:6379 or ray://HOST:10001 "
        "(default: RAY_ADDRESS, else a local Ray runtime started for this run).",
    ),
]

app = typer.Typer(
    help=(
        "Run pipelines: steps declared with @loopml.step, composed with @loopml.pipeline.\n\n"
        "Every run is tracked (one nested run per step) and step outputs are cached by a hash "
        "of the step's code, params and inputs."
    ),
    no_args_is_help=True,
)


@app.command("run")
def run_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="PIPELINE",
            help="package.module:function, or a name from loopml.yaml's 'pipelines:'.",
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A param as key=value (repeatable)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step, even when cached.")
    ] = False,
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", "-e", help="Experiment (default: the pipeline's name)."),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option("--path", help="The folder with loopml.yaml and the module (default: here)."),
    ] = None,
    executor: ExecutorOption = None,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    trust_code: Annotated[bool, STEP_TRUST_CODE_OPTION] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Plan and run a pipeline; print each step (cached or run) and its time.

    Params are checked against the pipeline's signature before any step runs. A failing
    step exits with 1 and names the step, its exception and its run.

    Named pipelines come from loopml.yaml in the folder (see docs/pipelines.md):

        pipelines:
          training:
            ref: my_project.pipelines:train
            params: {n_estimators: 300}

    Examples:

        loopml pipeline run training
        loopml pipeline run my_project.pipelines:train
        loopml pipeline run my_project.pipelines:train -p n_estimators=200 -p dataset=iris@3
        loopml pipeline run my_project.pipelines:train --no-cache --json
        loopml pipeline run training --executor process --workers 4
        loopml pipeline run training --executor ray --ray-address 10.0.0.5:6379
    """
    from loopml.pipelines.loading import plan_named
    from loopml.pipelines.runner import REF_TAG, run

    ref, plan = plan_named(target, path or Path.cwd(), param or [])
    with open_client() as client, output.stdout_to_stderr(as_json):
        result = run(
            plan,
            client=client,
            experiment=experiment,
            use_cache=not no_cache,
            tags={REF_TAG: ref},
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            trust_code=trust_code,
        )
    _print_run(result, as_json=as_json)


@app.command("rerun")
def rerun_command(
    run_id: Annotated[str, typer.Argument(help="The pipeline run (an id or its first chars).")],
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step, even when cached.")
    ] = False,
    path: Annotated[
        Path | None, typer.Option("--path", help="Import the module from this folder.")
    ] = None,
    executor: ExecutorOption = None,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    trust_code: Annotated[bool, STEP_TRUST_CODE_OPTION] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Reproduce a pipeline run: the same pipeline, params and dataset versions (a ref like
    iris@latest is pinned to the version the original run read).

    Examples:

        loopml pipeline rerun 3f2a9c1e
        loopml pipeline rerun 3f2a9c1e --no-cache --json
    """
    from loopml.cli.resolve import resolve_run
    from loopml.pipelines.runner import rerun

    with open_client() as client, output.stdout_to_stderr(as_json):
        original = resolve_run(client, run_id)
        result = rerun(
            original.id,
            client=client,
            search_path=path,
            use_cache=not no_cache,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            trust_code=trust_code,
        )
    _print_run(result, as_json=as_json)


def returned(result: PipelineRun) -> list[dict[str, Any]]:
    """What the pipeline returned, per output: its step call, how it is stored, and the value
    itself when it is plain data (a metric, a dict); models and tables stay in the store."""
    outputs = []
    for ref in result.plan.outputs:
        step = result.steps[ref.call]
        entry: dict[str, Any] = {
            "call": ref.call,
            "materializer": step.materializer,
            "output": step.output,
        }
        if step.materializer == "json" or step.output is None:
            entry["value"] = result.value(ref.call) if step.output is not None else None
        outputs.append(entry)
    return outputs


def returned_text(entry: dict[str, Any]) -> str:
    """One output for people: ``0.9712`` or ``a sklearn object in blake3:ab12… (step train)``."""
    if "value" in entry:
        shown = repr(entry["value"])
        return shown if len(shown) <= 200 else shown[:197] + "..."
    digest = str(entry["output"])
    return f"a {entry['materializer']} output, stored as {digest[:19]}… (step {entry['call']})"


def run_document(result: PipelineRun) -> dict[str, Any]:
    """A pipeline run for ``--json``: its id, params, what it returned, every step's result."""
    return {
        "run_id": result.run_id,
        "pipeline": result.plan.pipeline,
        "params": dict(result.plan.params),
        "returned": returned(result),
        "steps": [
            {
                "call": step.call,
                "run_id": step.run_id,
                "cached": step.cached,
                "seconds": step.seconds,
                "attempts": step.attempts,
                "output": step.output,
                "materializer": step.materializer,
            }
            for step in result.steps.values()
        ],
    }


def steps_table(result: PipelineRun) -> Table:
    """Each step of the run: ran or cached, its seconds and its run."""
    from rich.table import Table

    table = Table(title=f"Pipeline {output.escape(result.plan.pipeline)}", header_style="bold")
    for header in ("step", "", "seconds", "run"):
        table.add_column(header, justify="right" if header == "seconds" else "left")
    for step in result.steps.values():
        state = "[dim]cached[/]" if step.cached else "[green]ran[/]"
        seconds = "" if step.cached else f"{step.seconds:.3f}"
        table.add_row(output.escape(step.call), state, seconds, output.short_id(step.run_id))
    return table


def _print_run(result: PipelineRun, *, as_json: bool) -> None:
    if as_json:
        output.print_json(run_document(result))
        return
    out = output.console()
    out.print(steps_table(result))
    hits = sum(1 for step in result.steps.values() if step.cached)
    out.print(
        f"Run {result.run_id} finished: {len(result.steps) - hits} step(s) ran, {hits} cached.",
        markup=False,
    )
    for entry in returned(result):
        out.print(f"Returned: {returned_text(entry)}", markup=False)
