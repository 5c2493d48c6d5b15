"""``loopml monitor export-labelled``: a served model's labelled predictions as a dataset
version, to retrain on."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli import output
from loopml.core.errors import InvalidInputError


def export_labelled_command(
    model: Annotated[
        str,
        typer.Argument(
            help="NAME@ALIAS (the main traffic of every server following the alias), "
            "NAME@VERSION, or NAME (every prediction of the model)."
        ),
    ],
    to: Annotated[
        str, typer.Option("--to", help="The dataset to add the version to, e.g. penguins.")
    ],
    since: Annotated[
        str | None,
        typer.Option(help="Predictions made since this long ago (7d) or this UTC time."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Up to this long ago or this UTC time (default: now).")
    ] = None,
    append: Annotated[
        bool,
        typer.Option(
            "--append",
            help="After the rows of the dataset's newest version (an export's own base, when "
            "it is an export), in its file, format and column types.",
        ),
    ] = False,
    append_to: Annotated[
        int | None,
        typer.Option(min=1, help="Like --append, after the rows of this version of the dataset."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="The column the labels fill (default: the target of the dataset the model was "
            "trained on, or of the dataset appended to)."
        ),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Store the labelled predictions of MODEL — the inputs its servers logged, joined by
    prediction id to the labels sent back for them (POST /feedback, 'loopml feedback') — as
    the next version of dataset --to: the model's input columns and the target, so a pipeline
    can retrain on it (with --append, on the earlier rows and these).

    The version records where its rows came from (model versions, deployments, log parts,
    first and last prediction) in labelled-predictions.json beside the table. Exporting the
    same predictions again gives the same content, and then no new version.

    Examples:

        loopml monitor export-labelled penguins@champion --to penguins-feedback
        loopml monitor export-labelled penguins@champion --to penguins --append --since 7d
        loopml monitor export-labelled churn@3 --to churn --append-to 4 --target churned --json
    """
    from loopml.cli.monitor import moment_ms
    from loopml.cli.resolve import open_client
    from loopml.monitoring.labelled_data import materialize_feedback

    if append and append_to is not None:
        raise InvalidInputError("Give --append or --append-to VERSION, not both.")
    since_at = moment_ms(since, flag="--since") if since else None
    until_at = moment_ms(until, flag="--until") if until else None
    with open_client() as client:
        export = materialize_feedback(
            client, model, dataset=to, since_ms=since_at, until_ms=until_at, target=target,
            append_to="latest" if append else append_to,
        )  # fmt: skip
    if as_json:
        output.print_json(export.to_dict())
        return
    data = export.to_dict()
    after = f" after the {export.base_rows:,} rows of {export.base}" if export.base else ""
    what = "Added" if export.created else "Unchanged: the newest version already holds"
    output.console().print(
        f"{what} {data['ref']}: {export.rows:,} labelled predictions of {model}{after}, "
        f"target {export.target!r}, in {export.table}.",
        markup=False,
    )
