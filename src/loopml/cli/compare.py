"""``loopml runs compare``: runs side by side, differences highlighted, best values marked."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import ExperimentNames, open_client, resolve_run
from loopml.core.entities import Metric, Run
from loopml.core.errors import InvalidInputError
from loopml.tracking.comparison import best_run as _best_run
from loopml.tracking.comparison import lower_is_better as lower_is_better

if TYPE_CHECKING:
    from rich.table import Table


def compare_runs(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or prefixes).")],
    as_json: output.JsonFlag = False,
) -> None:
    """Compare runs side by side: params and metrics, differences highlighted.

    For each metric the last value is shown with its history as a sparkline; the best value
    across runs is marked (lowest for keys that look like a loss or an error, else highest).

    Examples:

        loopml runs compare 3f2a9c1e 77b0d2aa
        loopml runs compare 3f2a9c1e 77b0d2aa 0c4e5f61 --json
    """
    if len(run_ids) < 2:
        raise InvalidInputError("Give at least two run ids to compare.")
    with open_client() as client:
        runs = [resolve_run(client, run_id) for run_id in run_ids]
        names = ExperimentNames(client)
        experiment_names = {r.experiment_id: names(r.experiment_id) for r in runs}
        histories = {
            (r.id, key): client.get_metric_history(r.id, key) for r in runs for key in r.metrics
        }
    comparison = _Comparison(runs, histories)
    if as_json:
        output.print_json(
            {
                "runs": [output.run_to_dict(r, experiment_names[r.experiment_id]) for r in runs],
                "params": comparison.params,
                "metrics": comparison.metrics,
                "metric_history": {
                    key: {r.id: output.metric_summary(histories.get((r.id, key), [])) for r in runs}
                    for key in comparison.metrics
                },
                "best": {k: _best_run(row, k) for k, row in comparison.metrics.items()},
                "differences": {
                    "params": comparison.differing_params,
                    "metrics": comparison.differing_metrics,
                },
            }
        )
        return
    out = output.console()
    out.print(_compare_table(comparison, experiment_names))
    if not comparison.differing_params and not comparison.differing_metrics:
        out.print("[dim]The runs have the same params and metrics.[/]")


class _Comparison:
    """Params and metrics of several runs, keyed by name then run id, and where they differ."""

    def __init__(self, runs: list[Run], histories: dict[tuple[str, str], list[Metric]]) -> None:
        self.runs = runs
        self.histories = histories
        param_keys = sorted({k for r in runs for k in r.params})
        metric_keys = sorted({k for r in runs for k in r.metrics})
        self.params = {k: {r.id: r.params.get(k) for r in runs} for k in param_keys}
        self.metrics = {k: {r.id: r.metrics.get(k) for r in runs} for k in metric_keys}
        self.differing_params = [k for k, row in self.params.items() if len(set(row.values())) > 1]
        self.differing_metrics = [
            k for k, values in self.metrics.items() if not _all_equal(values.values())
        ]


def _compare_table(comparison: _Comparison, experiment_names: dict[str, str]) -> Table:
    from rich.table import Table

    runs = comparison.runs
    table = Table(title=f"Comparing {len(runs)} runs", title_justify="left")
    table.add_column("", no_wrap=True)
    for run in runs:
        table.add_column(
            f"{output.escape(run.name)}\n[dim]{output.short_id(run.id)}[/]", overflow="fold"
        )
    table.add_row("experiment", *[output.escape(experiment_names[r.experiment_id]) for r in runs])
    table.add_row("status", *[output.status_markup(r.status) for r in runs])
    table.add_row("duration", *[output.run_duration_text(r) for r in runs], end_section=True)
    for index, (key, params) in enumerate(comparison.params.items()):
        differs = key in comparison.differing_params
        cells = ["" if v is None else output.escape(v) for v in params.values()]
        if differs:
            cells = [f"[yellow]{c}[/]" for c in cells]
        last = index == len(comparison.params) - 1
        table.add_row(_row_label("params", key, differs), *cells, end_section=last)
    for key, metrics in comparison.metrics.items():
        differs = key in comparison.differing_metrics
        best = _best_run(metrics, key) if differs else None
        cells = []
        for run in runs:
            value = metrics[run.id]
            if value is None:
                cells.append("")
                continue
            text = output.format_number(value)
            if run.id == best:
                text = f"[bold green]{text} ★[/]"
            history = comparison.histories.get((run.id, key), [])
            spark = output.sparkline([m.value for m in history], 16)
            cells.append(f"{text} [dim]{spark}[/]" if spark else text)
        table.add_row(_row_label("metrics", key, differs), *cells)
    return table


def _row_label(kind: str, key: str, differs: bool) -> str:
    label = f"{kind}.{output.escape(key)}"
    return f"[bold yellow]≠ {label}[/]" if differs else f"[dim]  {label}[/]"


def _all_equal(values: Iterable[float | None]) -> bool:
    first, *rest = values
    return all(_same(first, v) for v in rest)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))
