"""``loopml predict``: score a file, a folder or a dataset version with a registered model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.cli.trust import TRUST_CODE_OPTION

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def predict_command(
    ref: Annotated[
        str, typer.Argument(help="The version: NAME@ALIAS, NAME@3, NAME or models:/NAME@ALIAS.")
    ],
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="A CSV or Parquet file, a folder of them, or a dataset version (NAME@3).",
        ),
    ],
    output_path: Annotated[
        Path, typer.Option("--output", "-o", help="The file to write (.parquet or .csv).")
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="parquet or csv [default: from the --output suffix].", metavar="FMT"
        ),
    ] = None,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, help="Rows read and scored at a time.")
    ] = 65_536,
    keep_columns: Annotated[
        bool,
        typer.Option("--keep-columns", help="Copy the input's columns into the output too."),
    ] = False,
    features: Annotated[
        str | None,
        typer.Option(
            "--features",
            help="Comma-separated columns an array model takes, in order [default: every "
            "numeric column].",
        ),
    ] = None,
    executor: Annotated[
        str,
        typer.Option("--executor", "-x", help="local (this process) or ray (parts as Ray tasks)."),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="The Ray cluster for --executor ray: auto, HOST:6379 or ray://HOST:10001 "
            "(default: RAY_ADDRESS, else a local Ray runtime started for this command).",
        ),
    ] = None,
    no_onnx: Annotated[
        bool,
        typer.Option(
            "--no-onnx", help="Score with the native model even if an ONNX variant exists."
        ),
    ] = False,
    trust_code: Annotated[bool, TRUST_CODE_OPTION] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Score --input with the model version REF and write the predictions to --output.

    The input is streamed in batches of --batch-rows, so memory stays bounded whatever its
    size. Output columns: the input's (--keep-columns), 'prediction', and for classifiers
    'probability_<class>'. The output appears only when complete (written beside it, then
    renamed). The scoring is recorded as a run in experiment 'batch-scoring' with the model
    version and, for a dataset version input, its lineage. Bad input (a missing file or
    column, an unknown format) exits 2 and writes nothing.

    Examples:

        loopml predict churn@champion --input customers.parquet --output scores.parquet
        loopml predict churn@3 -i exports/ -o scores.csv --keep-columns
        loopml predict churn@champion -i customers@4 -o scores.parquet --json
        loopml predict churn@champion -i big/ -o scores.parquet --executor ray
    """
    from loopml.serving.batch import output_format, score

    chosen = output_format(output_path, fmt)  # a bad format fails before the store is opened
    columns = [name.strip() for name in features.split(",")] if features else None
    with (
        open_client() as client,
        _RowProgress(hidden=quiet or as_json) as progress,
        output.stdout_to_stderr(as_json),
    ):
        result = score(
            ref,
            input,
            output_path,
            batch_rows=batch_rows,
            format=chosen,
            keep_columns=keep_columns,
            features=columns,
            executor=executor,
            ray_address=ray_address,
            prefer_onnx=not no_onnx,
            trust_code=trust_code,
            on_progress=progress.update,
            client=client,
        )
    if as_json:
        output.print_json(result.to_dict())
        return
    output.console().print(
        f"Scored {result.rows:,} rows with {result.model} ({result.variant}) in "
        f"{result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s) → {result.output}; "
        f"run {result.run_id}",
        markup=False,
        soft_wrap=True,
    )


class _RowProgress:
    """A Rich progress bar over rows on stderr (a pulse when the total is not known)."""

    def __init__(self, *, hidden: bool) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar: Progress = Progress(
            TextColumn("Scoring"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.fields[total_text]} rows"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            console=output.console(stderr=True, quiet=hidden),
            transient=True,
            disable=hidden,  # no refresh thread redrawing a bar nobody sees
        )
        self.task: TaskID | None = None

    def __enter__(self) -> _RowProgress:
        self.bar.start()
        return self

    def update(self, done: int, total: int | None) -> None:
        if self.task is None:
            self.task = self.bar.add_task(
                "scoring", total=total, total_text=f"{total:,}" if total else "?", speed=""
            )
        elapsed = self.bar.tasks[0].elapsed or 0.0
        speed = f"{done / elapsed:,.0f} rows/s" if elapsed > 0 else ""
        self.bar.update(self.task, completed=done, speed=speed)

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
