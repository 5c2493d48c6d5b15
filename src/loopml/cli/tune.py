"""``loopml tune``: search a pipeline's params with Optuna, each trial a tracked run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.pipeline import ExecutorOption, RayAddressOption, WorkersOption
from loopml.cli.resolve import open_client
from loopml.cli.trust import STEP_TRUST_CODE_OPTION
from loopml.core.errors import InvalidInputError

_KINDS = "uniform:LOW:HIGH, loguniform:LOW:HIGH, int:LOW:HIGH or choice:A,B,C"


def tune_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="PIPELINE",
            help="package.module:function, or a name from loopml.yaml's 'pipelines:'.",
        ),
    ],
    space: Annotated[
        list[str],
        typer.Option("--space", "-s", help=f"NAME={_KINDS} (repeatable)."),
    ],
    trials: Annotated[int, typer.Option("--trials", "-n", help="How many trials.")] = 20,
    metric: Annotated[
        str | None,
        typer.Option("--metric", "-m", help="The output entry to optimise (dict outputs)."),
    ] = None,
    minimize: Annotated[
        bool, typer.Option("--minimize", help="Minimise instead of maximise.")
    ] = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A fixed param, key=value.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the sampler.")] = None,
    experiment: Annotated[
        str, typer.Option("--experiment", "-e", help="Experiment of the search run.")
    ] = "tuning",
    path: Annotated[
        Path | None, typer.Option("--path", help="The folder with loopml.yaml and the module.")
    ] = None,
    executor: ExecutorOption = None,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    trust_code: Annotated[bool, STEP_TRUST_CODE_OPTION] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Tune a pipeline's params (Optuna, TPE): every trial runs the pipeline — steps whose
    inputs did not change come from the cache — and is a nested run of the search.

    With --executor process or ray, trials run side by side (as many as there are workers
    or CPUs), each running its pipeline in its own worker.

    Examples:

        loopml tune flows:train -s C=loguniform:0.001:100 -n 30 --metric auc
        loopml tune training -s n_estimators=int:50:500 -s criterion=choice:gini,entropy
        loopml tune flows:train -s lr=loguniform:1e-4:1e-1 --minimize --metric loss --json
        loopml tune training -s C=loguniform:0.01:10 -n 50 --executor ray
    """
    from loopml.pipelines.loading import load_pipeline, parse_params, resolve
    from loopml.pipelines.tuning import tune

    folder = path or Path.cwd()
    ref, defaults = resolve(target, folder)
    pipeline = load_pipeline(ref, search_path=folder)
    distributions = {name: _distribution(name, text) for name, text in map(_split, space)}
    explicit = parse_params(param or [], pipeline.params, pipeline.name)
    overlap = sorted(set(explicit) & set(distributions))
    if overlap:
        raise InvalidInputError(f"{overlap[0]!r} is both fixed (--param) and searched (--space).")
    # loopml.yaml's defaults yield to what is searched and to --param
    texts = [f"{key}={value}" for key, value in defaults.items() if key not in distributions]
    fixed = {**parse_params(texts, pipeline.params, pipeline.name), **explicit}
    with open_client() as client, output.stdout_to_stderr(as_json):
        result = tune(
            pipeline,
            distributions,
            params=fixed,
            n_trials=trials,
            direction="minimize" if minimize else "maximize",
            metric=metric,
            experiment=experiment,
            name=pipeline.name,
            seed=seed,
            client=client,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            trust_code=trust_code,
        )
    if as_json:
        output.print_json(
            {
                "run_id": result.run_id,
                "direction": result.direction,
                "best": {
                    "trial": result.best.number,
                    "run_id": result.best.run_id,
                    "params": {**fixed, **result.best_params},
                    "value": result.best_value,
                },
                "trials": [
                    {
                        "trial": t.number,
                        "run_id": t.run_id,
                        "params": t.params,
                        "value": t.value,
                        "state": t.state,
                    }
                    for t in result.trials
                ],
            }
        )
        return
    out = output.console()
    best = ", ".join(f"{k}={v!r}" for k, v in {**fixed, **result.best_params}.items())
    out.print(
        f"Best of {len(result.trials)} trials: {result.best_value} with {best} "
        f"(trial {result.best.number}, run {output.short_id(result.best.run_id)})",
        markup=False,
    )
    out.print(f"Search run: {result.run_id}", markup=False)


def _split(text: str) -> tuple[str, str]:
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise InvalidInputError(f"--space is NAME={_KINDS}; got {text!r}.")
    return name.strip(), spec.strip()


def _distribution(name: str, spec: str) -> Any:
    from loopml.pipelines.tuning import choice, integer, loguniform, uniform

    kind, _, rest = spec.partition(":")
    try:
        if kind == "choice":
            options = [o for o in rest.split(",") if o]
            if not options:
                raise ValueError("no options")
            return choice(options)
        low, high = rest.split(":")
        if kind == "int":
            return integer(int(low), int(high))
        if kind in ("uniform", "loguniform"):
            maker = uniform if kind == "uniform" else loguniform
            return maker(float(low), float(high))
    except ValueError as exc:
        raise InvalidInputError(f"--space {name}={spec!r}: expected {_KINDS} ({exc}).") from exc
    raise InvalidInputError(f"--space {name}={spec!r}: unknown kind {kind!r}; use {_KINDS}.")
