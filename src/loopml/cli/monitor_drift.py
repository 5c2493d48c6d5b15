"""``loopml monitor drift``: is the current data still like the reference?"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli import output
from loopml.core.errors import InvalidInputError

if TYPE_CHECKING:
    from loopml.monitoring.drift import ColumnResult, DriftReport
    from loopml.tracking.client import Client


def drift_command(
    reference: Annotated[
        str,
        typer.Option(
            "--reference",
            "-r",
            help="What the data should look like: a table file, a dataset version (NAME@3) "
            "or a model version (models:/NAME@ALIAS: the dataset version it was trained on).",
        ),
    ],
    current: Annotated[
        str,
        typer.Option(
            "--current", "-c", help="The data to check: a table file or a dataset version."
        ),
    ],
    columns: Annotated[
        str | None,
        typer.Option(help="Only these columns, comma-separated (default: the reference's)."),
    ] = None,
    prediction: Annotated[
        str | None,
        typer.Option(help="A column holding the model's predictions: judged apart."),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            metavar="[COLUMN=]METHOD",
            help="A test for every column it applies to (ks, wasserstein, chi_square, psi, "
            "jensen_shannon), or for one column: COLUMN=METHOD. Repeatable.",
        ),
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            metavar="METHOD=VALUE",
            help="The significance level of ks and chi_square (default 0.05), "
            "the distance from which wasserstein, psi, jensen_shannon flag drift (0.1). "
            "Repeatable.",
        ),
    ] = None,
    correction: Annotated[
        str,
        typer.Option(
            metavar="none|bonferroni|bh",
            help="Adjust p-values for testing many columns: none, bonferroni or bh.",
        ),
    ] = "none",
    drift_share: Annotated[
        float,
        typer.Option(help="The dataset drifts when this share of its columns drifts."),
    ] = 0.5,
    table: Annotated[
        str | None,
        typer.Option(help="Which table of a dataset version that holds several."),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write a report with a plot per column to this HTML file."),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Compare the CURRENT data with the REFERENCE, column by column, and say whether it
    drifted. Exits 1 when the dataset (or the --prediction column) drifted, 0 when not.

    Each column gets a test chosen by its type and sample size: Kolmogorov–Smirnov (numbers)
    or chi-square (categories) up to 1,000 values a side, normalised Wasserstein or
    Jensen–Shannon distance above. Missing values are counted, not tested.

    Examples:

        loopml monitor drift --reference data/train.csv --current data/today.csv
        loopml monitor drift -r penguins@1 -c penguins@2 --html drift.html
        loopml monitor drift -r models:/cancer@champion -c new.parquet --json
        loopml monitor drift -r train.csv -c today.csv --method ks --correction bh
    """
    from loopml.monitoring.drift import DriftOptions, compare
    from loopml.monitoring.references import resolve_table

    options = DriftOptions(
        columns=_names(columns),
        prediction=prediction,
        methods=_methods(method or []),
        thresholds=_thresholds(threshold or []),
        correction=correction,
        drift_share=drift_share,
    )
    if html is not None and html.suffix.lower() not in (".html", ".htm"):
        raise InvalidInputError(f"--html {html}: give a file ending in .html.")
    with contextlib.ExitStack() as stack:
        clients: list[Client] = []

        def client() -> Client:
            if not clients:
                from loopml.cli.resolve import open_client

                clients.append(stack.enter_context(open_client()))
            return clients[0]

        ref = resolve_table(reference, role="reference", client=client, table=table)
        cur = resolve_table(current, role="current", client=client, table=table, allow_model=False)
        report = compare(ref, cur, options)
    if html is not None:
        _write_html(report, html)
    if as_json:
        output.print_json(report.to_dict(bins=True))
    else:
        _print(report, html)
    if report.drifted:
        raise typer.Exit(1)


def _names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise InvalidInputError("--columns is empty: name the columns, comma-separated.")
    return names


def _methods(given: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for text in given:
        column, sep, name = text.rpartition("=")
        found[column.strip() if sep else "*"] = name.strip()
    return found


def _thresholds(given: list[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for text in given:
        name, sep, value = text.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or math.isnan(number):
            raise InvalidInputError(
                f"--threshold {text!r}: write METHOD=VALUE, e.g. wasserstein=0.2 or ks=0.01."
            )
        found[name.strip()] = number
    return found


def _write_html(report: DriftReport, path: Path) -> None:
    from loopml.monitoring.drift_html import render

    target = path.resolve()
    if not target.parent.is_dir():
        raise InvalidInputError(f"--html {path}: the folder {target.parent} does not exist.")
    output.write_text_atomically(target, render(report))


def _print(report: DriftReport, html: Path | None) -> None:
    from rich.table import Table

    console = output.console()
    console.print(f"Reference: {report.reference}\nCurrent:   {report.current}", markup=False)
    rows = Table("column", "kind", "test", "statistic", "p-value", "threshold", "drift", "missing")
    for column in [*report.features, *([report.prediction] if report.prediction else [])]:
        rows.add_row(*_cells(column, is_prediction=column is report.prediction))
    console.print(rows)
    drifted = report.drifted_features
    verdict = "DRIFT" if report.dataset_drifted else "no drift"
    console.print(
        f"Dataset: {verdict} — {len(drifted)} of {report.tested} tested columns drifted "
        f"({report.share:.0%}; the dataset drifts from {report.drift_share:.0%})"
        + (f": {', '.join(drifted)}" if drifted else "")
        + ".",
        markup=False,
    )
    if report.prediction is not None:
        said = "DRIFT" if report.prediction.drifted else "no drift"
        console.print(f"Prediction ({report.prediction.column}): {said}.", markup=False)
    if html is not None:
        console.print(f"Report: {html}", markup=False)


def _cells(column: ColumnResult, *, is_prediction: bool) -> list[str]:
    name = output.escape(column.column) + (" (prediction)" if is_prediction else "")
    missing = f"{column.reference_missing:,} / {column.current_missing:,}"
    if column.method is None:
        return [name, column.kind.value, "—", "", "", "", output.escape(column.note), missing]
    p_value = ""
    if column.p_value is not None:
        p_value = f"{column.p_value:.3g}"
        if column.adjusted_p_value is not None and column.adjusted_p_value != column.p_value:
            p_value += f" (adj. {column.adjusted_p_value:.3g})"
    mark = "[red]DRIFT[/red]" if column.drifted else "no"
    return [
        name,
        column.kind.value,
        column.method,
        f"{column.statistic:.4g}",
        p_value,
        f"{column.threshold:g}",
        mark,
        missing,
    ]
