"""``loopml monitor report``: a served model's prediction log, window by window."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli import output
from loopml.core.durations import format_duration_ms, parse_duration_ms
from loopml.core.errors import InvalidInputError

if TYPE_CHECKING:
    from loopml.monitoring.windows import WindowsReport

_MINUTE_MS = 60_000


def report_command(
    model: Annotated[
        str,
        typer.Argument(
            help="NAME@ALIAS (the main traffic of every server following the alias) or "
            "NAME@VERSION (every prediction of that version)."
        ),
    ],
    window: Annotated[
        str, typer.Option(help="The window's length: whole minutes, hours or days (15m, 1h, 1d).")
    ] = "1h",
    since: Annotated[
        str | None,
        typer.Option(help="From this long ago (6h, 7d) or this UTC time (default: 24 windows)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Up to this long ago or this UTC time (default: now).")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write a report with plots over time to this HTML file."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Traffic, latency (p50/p95/p99 per request), error rate, feature and prediction drift
    against the version's training data, performance once labels arrived (accuracy,
    precision, recall, F1; RMSE, MAE, R²), performance estimated before labels from the
    logged scores (CBPE: accuracy, ROC AUC) and decay seen by labels (ADWIN on the error
    stream), per window of the prediction log of MODEL.

    Each stored log part is summarised once and the summary kept (in .loopml/cache/monitor),
    so a report reads only the parts it has not seen, and labels that arrive late are joined
    to the predictions they judge.

    Examples:

        loopml monitor report cancer@champion
        loopml monitor report cancer@champion --window 15m --since 6h --json
        loopml monitor report cancer@3 --window 1d --since 7d --html report.html
    """
    from loopml.cli.monitor import moment_ms
    from loopml.cli.resolve import open_client
    from loopml.monitoring.windows import monitor_windows

    window_ms = _window(window)
    since_at = moment_ms(since, flag="--since") if since else None
    until_at = moment_ms(until, flag="--until") if until else None
    if html is not None and html.suffix.lower() not in (".html", ".htm"):
        raise InvalidInputError(f"--html {html}: give a file ending in .html.")
    if html is not None and not html.resolve().parent.is_dir():
        raise InvalidInputError(
            f"--html {html}: the folder {html.resolve().parent} does not exist."
        )
    with (
        open_client() as client,
        output.CountProgress(
            "Summarising log parts", minimum=20, hidden=quiet or as_json
        ) as progress,
    ):
        report = monitor_windows(
            client, model, window_ms=window_ms, since_ms=since_at, until_ms=until_at,
            progress=progress,
        )  # fmt: skip
    if html is not None:
        _write_html(report, html)
    if as_json:
        output.print_json(report.to_dict())
        return
    _print(report, html)


def _window(text: str) -> int:
    ms = parse_duration_ms(text)
    if ms is None or ms == 0 or ms % _MINUTE_MS:
        raise InvalidInputError(
            f"--window {text!r}: expected a whole number of minutes, hours or days, such as "
            "15m, 1h or 1d."
        )
    return ms


def _write_html(report: WindowsReport, path: Path) -> None:
    from loopml.monitoring.window_html import render

    output.write_text_atomically(path, render(report))


def _print(report: WindowsReport, html: Path | None) -> None:
    from rich.table import Table

    from loopml.monitoring.window_html import (
        decay_text,
        drift_text,
        estimated_text,
        performance_text,
    )

    console = output.console()
    data = report.to_dict()
    console.print(
        f"{report.selection.ref}: windows of {format_duration_ms(report.window_ms)} "
        f"from {data['since']} to {data['until']} "
        f"({report.parts} log parts, {report.parts_read} read now).",
        markup=False,
    )
    for note in report.notes:
        console.print(note, markup=False)
    if not report.windows:
        console.print("No logged predictions in this range.", markup=False)
    else:
        table = Table(
            "window start", "version", "requests", "rows", "errors", "p50 ms", "p95 ms",
            "p99 ms", "drift", "prediction", "performance", "estimated (CBPE)", "decay",
        )  # fmt: skip
        for window in data["windows"]:
            latency = window["latency_ms"]
            rate = window["error_rate"]
            table.add_row(
                window["start"],
                window["model_version"],
                f"{window['requests']:,}",
                f"{window['rows']:,}",
                f"{window['errors']:,}" + (f" ({rate:.1%})" if rate else ""),
                *(_number(latency[key]) for key in ("p50", "p95", "p99")),
                output.escape(drift_text(window["drift"])),
                output.escape(drift_text(window["prediction_drift"])),
                output.escape(performance_text(window["performance"])),
                output.escape(estimated_text(window["estimated_performance"])),
                output.escape(decay_text(window["concept_drift"])),
            )
        console.print(table)
    if html is not None:
        console.print(f"Report with plots over time: {html}", markup=False)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"
