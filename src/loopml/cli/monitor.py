"""``loopml monitor``: what served models saw and answered."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.monitor_drift import drift_command
from loopml.cli.monitor_export import export_labelled_command
from loopml.cli.monitor_report import report_command
from loopml.cli.resolve import open_client
from loopml.core.durations import parse_duration_ms
from loopml.core.errors import InvalidInputError
from loopml.core.ids import format_ms, now_ms

app = typer.Typer(
    help=(
        "Look at what served models saw and answered (the prediction log, with labels), "
        "and whether data drifted from a reference."
    ),
    no_args_is_help=True,
)


@app.command("predictions")
def predictions_command(
    model: Annotated[str, typer.Argument(help="The served model's name, e.g. 'cancer'.")],
    since: Annotated[
        str | None,
        typer.Option(help="Only predictions since this long ago (30m, 2h, 7d) or this UTC time."),
    ] = None,
    traffic: Annotated[
        str | None,
        typer.Option(help="Only main, canary or shadow predictions."),
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="How many of the newest rows to show.")] = 10,
    out: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Also write every selected row to this .parquet or .csv file."
        ),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Summarise the prediction log of MODEL and show its newest rows, with the labels sent
    for them (POST /feedback or 'loopml feedback') joined by prediction id, and how right the
    labelled predictions were: accuracy for a classifier, MAE and RMSE for a regressor.

    The log holds what every 'loopml serve' of the model answered (and what a shadow
    scored): prediction id, time, model version, traffic, latency, inputs and prediction.
    A server stores its log in parts (every --log-roll-seconds, 60 by default, and when it
    stops), so the newest predictions of a running server may not show yet: the summary says
    how often the running servers store it.

    Examples:

        loopml monitor predictions cancer
        loopml monitor predictions cancer --since 1h --traffic canary
        loopml monitor predictions cancer -o log.parquet --json
    """
    from loopml.monitoring.log_reader import log_storage, read_predictions

    if traffic is not None and traffic not in ("main", "canary", "shadow"):
        raise InvalidInputError(f"--traffic {traffic!r}: expected main, canary or shadow.")
    if out is not None and out.suffix not in (".parquet", ".csv"):
        raise InvalidInputError(f"--output {out}: give a .parquet or .csv file.")
    since_ms = moment_ms(since) if since else None
    with open_client() as client:
        table = read_predictions(model, client, since_ms=since_ms)
        storage = log_storage(model, client)
        if traffic is not None and table.num_rows:
            import pyarrow.compute as pc

            table = table.filter(pc.equal(table["traffic"], traffic))
        summary = _summary(table)
        _add_scores(summary["versions"], table, client)
    if out is not None:
        _write(table, out)
    newest = table.slice(max(0, table.num_rows - limit)) if limit else table.slice(0, 0)
    if as_json:
        rows = newest.drop_columns(["inputs"]).to_pylist() if newest.num_rows else []
        for row in rows:
            for key in ("time", "label_time"):
                row[key] = _iso(row[key])
        output.print_json(
            {"model": model, **summary, "log_storage": storage.as_json(), "newest": rows}
        )
        return
    _print(model, summary, newest, storage.note())


def _iso(moment: datetime | None) -> str | None:
    return format_ms(int(moment.timestamp() * 1000)) if moment is not None else None


def moment_ms(text: str, *, flag: str = "--since") -> int:
    """A moment as a user writes it: this long ago (30m, 2h, 7d) or a UTC time."""
    ago = parse_duration_ms(text)
    if ago is not None:
        return now_ms() - ago
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{flag} {text!r}: expected a duration such as 30m, 2h or 7d, or a time such as "
            "2026-11-27T09:00."
        ) from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _write(table: Any, path: Path) -> None:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from loopml.serving.batch_output import atomic

    with atomic(path.resolve()) as temporary:
        if path.suffix == ".csv":
            flat = table.flatten() if table.num_rows else table
            columns = [n for n in flat.column_names if not _nested(flat.schema.field(n).type)]
            pa_csv.write_csv(flat.select(columns), temporary)
        else:
            pq.write_table(table, temporary)


def _nested(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind))


def _summary(table: Any) -> dict[str, Any]:
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return {"rows": 0, "labelled": 0, "versions": [], "first": None, "last": None}
    groups = table.group_by(["model_version", "traffic"]).aggregate(
        [("prediction_id", "count"), ("label", "count")]
    )
    latencies = _request_latencies(table)
    versions = []
    for row in groups.sort_by([("model_version", "ascending")]).to_pylist():
        p50, p95, requests = latencies[(row["model_version"], row["traffic"])]
        versions.append(
            {
                "model_version": row["model_version"],
                "traffic": row["traffic"],
                "rows": row["prediction_id_count"],
                "requests": requests,
                "labelled": row["label_count"],
                "latency_ms_p50": p50,
                "latency_ms_p95": p95,
            }
        )
    times = table["time"]
    return {
        "rows": table.num_rows,
        "labelled": table.num_rows - table["label"].null_count,
        "versions": versions,
        "first": format_ms(pc.min(times).value),
        "last": format_ms(pc.max(times).value),
    }


def _add_scores(versions: list[dict[str, Any]], table: Any, client: Any) -> None:
    """Each version's labelled predictions scored against their labels: ``task``
    (classification or regression, from the version's signature), ``scored`` (the pairs
    compared), ``accuracy``, ``mae`` and ``rmse`` (None where they do not apply)."""
    import pyarrow.compute as pc

    from loopml.monitoring.label_scores import score_labels, task_of
    from loopml.monitoring.window_checks import version_output

    labelled = table.filter(pc.is_valid(table["label"])) if table.num_rows else table
    dtypes: dict[str, str | None] = {}
    for row in versions:
        version, traffic = row["model_version"], row["traffic"]
        mine = pc.and_(
            pc.equal(labelled["model_version"], version), pc.equal(labelled["traffic"], traffic)
        )
        part = labelled.filter(mine)
        predictions, labels = part["prediction"].to_pylist(), part["label"].to_pylist()
        if version not in dtypes:
            dtypes[version] = version_output(client, version)[0]
        task = task_of(dtypes[version], predictions) if predictions or dtypes[version] else None
        scores = score_labels(predictions, labels, task) if task is not None else None
        row.update(
            task=task,
            scored=scores.scored if scores is not None else 0,
            accuracy=scores.accuracy if scores is not None else None,
            mae=scores.mae if scores is not None else None,
            rmse=scores.rmse if scores is not None else None,
        )


def _score_text(row: dict[str, Any]) -> str:
    if row.get("accuracy") is not None:
        return f"accuracy {row['accuracy']:.3f}"
    if row.get("mae") is not None:
        return f"MAE {row['mae']:.4g}, RMSE {row['rmse']:.4g}"
    return ""


def _request_latencies(table: Any) -> dict[tuple[str, str], tuple[float, float, int]]:
    """p50 and p95 latency and the number of requests, by version and traffic: per request
    (every row of a request shares its latency, so counting rows would weigh a 10,000-row
    request 10,000 times), a request being the rows whose ids share a prefix."""
    import numpy as np
    import pyarrow.compute as pc

    prefix = pc.replace_substring_regex(table["prediction_id"], pattern=r"-[0-9]+$", replacement="")
    requests = (
        table.select(["model_version", "traffic", "latency_ms"])
        .append_column("request", prefix)
        .group_by(["model_version", "traffic", "request"])
        .aggregate([("latency_ms", "max")])
    )
    found: dict[tuple[str, str], tuple[float, float, int]] = {}
    keys = zip(requests["model_version"].to_pylist(), requests["traffic"].to_pylist(), strict=True)
    values: dict[tuple[str, str], list[float]] = {}
    for key, latency in zip(keys, requests["latency_ms_max"].to_pylist(), strict=True):
        values.setdefault(key, []).append(latency)
    for key, each in values.items():
        p50, p95 = np.percentile(np.asarray(each, dtype=float), [50, 95])
        found[key] = (float(p50), float(p95), len(each))
    return found


def _print(model: str, summary: dict[str, Any], newest: Any, note: str | None) -> None:
    from rich.table import Table

    console = output.console()
    if not summary["rows"]:
        console.print(f"No logged predictions of {model} yet.", markup=False)
        if note:
            console.print(note, markup=False)
        return
    console.print(
        f"{summary['rows']:,} predictions of {model} from {summary['first']} to "
        f"{summary['last']}; {summary['labelled']:,} labelled.",
        markup=False,
    )
    if note:
        console.print(note, markup=False)
    versions = Table(
        "version",
        "traffic",
        "requests",
        "rows",
        "labelled",
        "score",
        "p50 latency",
        "p95 latency",
    )
    for row in summary["versions"]:
        versions.add_row(
            row["model_version"],
            row["traffic"],
            f"{row['requests']:,}",
            f"{row['rows']:,}",
            f"{row['labelled']:,}",
            _score_text(row),
            f"{row['latency_ms_p50']:.2f} ms",
            f"{row['latency_ms_p95']:.2f} ms",
        )
    console.print(versions)
    if newest.num_rows:
        rows = Table("time", "prediction id", "version", "traffic", "prediction", "label")
        for row in reversed(newest.to_pylist()):
            rows.add_row(
                _iso(row["time"]),
                row["prediction_id"],
                row["model_version"],
                row["traffic"],
                output.escape(row["prediction"]),
                "" if row["label"] is None else output.escape(row["label"]),
            )
        console.print(rows)


app.command("drift")(drift_command)
app.command("report")(report_command)
app.command("export-labelled")(export_labelled_command)
