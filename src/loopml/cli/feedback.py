"""``loopml feedback``: send the true outcomes of logged predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client


def feedback_command(
    file: Annotated[
        Path, typer.Argument(help="A CSV, Parquet or JSON-lines file of prediction ids and labels.")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Only accept ids of this model's servers [default: the model whose "
            "deployment made the ids].",
        ),
    ] = None,
    id_column: Annotated[
        str, typer.Option("--id-column", help="The column of prediction ids.")
    ] = "prediction_id",
    label_column: Annotated[
        str, typer.Option("--label-column", help="The column of true outcomes.")
    ] = "label",
    as_json: output.JsonFlag = False,
) -> None:
    """Store the true outcome of logged predictions, joined with them by prediction id.

    Every response of 'loopml serve' gives one prediction id per row; once the outcome is
    known, send it here (or to the server's POST /feedback). Labels are stored in the model's
    log (a run in experiment 'serving'); 'loopml monitor predictions MODEL' shows them beside
    the predictions. Each id names the server (deployment) and version that made it, so the
    model is found from the ids; ids no deployment made are refused, naming their rows. The
    command says how many ids matched a logged prediction (a running server's newest
    predictions are stored every --log-roll-seconds).

    Examples:

        loopml feedback labels.csv                     # columns prediction_id,label
        loopml feedback outcomes.parquet --model cancer --label-column churned
    """
    from loopml.serving.feedback import send_feedback

    with open_client() as client, output.stdout_to_stderr(as_json):
        result = send_feedback(
            file, client, model=model, id_column=id_column, label_column=label_column
        )
    if as_json:
        output.print_json(
            {
                "model": result.model,
                "rows": result.rows,
                "matched": result.matched,
                "run_id": result.run_id,
                "file": result.source,
            }
        )
        return
    console = output.console()
    console.print(
        f"Stored {result.rows:,} labels for {result.model} (run {result.run_id}); "
        f"{result.matched:,} match a logged prediction.",
        markup=False,
        soft_wrap=True,
    )
    if result.matched < result.rows:
        console.print(
            f"{result.rows - result.matched:,} ids match no stored prediction yet (a running "
            "server stores its log every --log-roll-seconds); they are kept and join once "
            "their predictions are stored.",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
