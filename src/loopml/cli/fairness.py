"""``loopml fairness``: a registered classifier's metrics by group of a sensitive column
(Fairlearn's MetricFrame), and the differences between groups."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.cli.table_source import read_table
from loopml.cli.trust import TRUST_CODE_OPTION


def fairness_command(
    ref: Annotated[str, typer.Argument(help="The version: NAME@3, NAME@ALIAS or NAME.")],
    data: Annotated[
        str,
        typer.Option(
            "--data", "-d", help="Labelled rows: a CSV, Parquet or JSON lines file, or NAME@3."
        ),
    ],
    sensitive: Annotated[
        list[str],
        typer.Option(
            "--sensitive",
            "-s",
            help="A sensitive column (repeat it: groups are the combinations of values).",
        ),
    ],
    target: Annotated[str, typer.Option("--target", "-t", help="The column of true labels.")],
    positive: Annotated[
        str | None,
        typer.Option(
            "--positive",
            help="The class that counts as selected [default: the later of two classes].",
        ),
    ] = None,
    trust_code: Annotated[bool, TRUST_CODE_OPTION] = False,
    no_onnx: Annotated[
        bool,
        typer.Option(
            "--no-onnx", help="Score with the native model even if an ONNX variant exists."
        ),
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Per group of rows: selection rate, true and false positive rates, accuracy; between
    groups: demographic parity difference and ratio, equalized odds difference and ratio.

    The version is scored here on the rows given, as predict and serve score it. A missing
    sensitive value is a group of its own, "(missing)"; rows without a label are left out.
    To make a limit a gate check, add it to gates.yaml ('fairness:').

    Examples:

        loopml fairness credit@3 --data holdout.csv --target default --sensitive sex
        loopml fairness credit@champion --data holdout@latest --target default \\
            --sensitive sex --sensitive age_band --positive yes --json
    """
    from loopml.models.fairness import version_fairness

    with open_client() as client:
        table = read_table(data, client)
        label, report = version_fairness(
            ref,
            table,
            target=target,
            sensitive=sensitive,
            positive=positive,
            source=data,
            trust_code=trust_code,
            prefer_onnx=not no_onnx,
            client=client,
        )
    if as_json:
        output.print_json({"model_version": label, **report.to_json()})
        return
    from rich.table import Table

    from loopml.models.fairness import FAIRNESS_METRICS, GROUP_METRICS

    out = output.console()
    table_view = Table(
        title=f"{label} by {', '.join(report.sensitive)} on {data} "
        f"(positive: {report.positive}; {report.rows} rows)",
        title_justify="left",
    )
    for column in (*report.sensitive, "rows", *GROUP_METRICS):
        table_view.add_column(column.replace("_", " "), justify="right")
    for group in report.groups:
        table_view.add_row(
            *(output.escape(value) for value in group["group"].values()),
            str(group["rows"]),
            *(_cell(group[name]) for name in GROUP_METRICS),
        )
    out.print(table_view)
    for name in FAIRNESS_METRICS:
        out.print(f"{name.replace('_', ' ')}: {_cell(report.differences[name])}")
    for note in report.notes:
        out.print(f"note: {output.escape(note)}")


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
