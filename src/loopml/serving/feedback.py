"""Ground truth for logged predictions, joined later by prediction id: from ``POST /feedback``
(:func:`parse_feedback`) or from a file with ``loopml feedback FILE`` (:func:`send_feedback`).

A label is a number, a string or a boolean; the labels of one request or file are all of one
of these kinds (mixing them is an error naming the first that differs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidInputError
from loopml.core.ids import now_ms
from loopml.monitoring.log_records import FEEDBACK, FeedbackEntry, to_table
from loopml.monitoring.log_store import FEEDBACK_RUN, KIND_TAG, MODEL_TAG, start_log_run
from loopml.monitoring.prediction_ids import is_issued
from loopml.monitoring.prediction_log import part_folder
from loopml.serving.errors import InputMismatchError, PayloadTooLargeError
from loopml.tracking.client import Client

__all__ = ["FeedbackResult", "parse_feedback", "send_feedback", "split_issued"]

MAX_ID_LENGTH = 128
_EXAMPLE = '{"prediction_id": "…-0", "label": 1}'


def split_issued(entry: FeedbackEntry, model: str) -> tuple[FeedbackEntry, list[str]]:
    """The labels of ``entry`` whose prediction ids a server of ``model`` gave out, and the
    other ids; InputMismatchError (422) when no id is one of them."""
    keep = [is_issued(model, pid) for pid in entry.prediction_ids]
    unknown = [pid for pid, ok in zip(entry.prediction_ids, keep, strict=True) if not ok]
    if len(unknown) == entry.count:
        raise InputMismatchError(
            f"None of the {entry.count} prediction ids is one a server of {model!r} gave out "
            f"(the first: {unknown[0]!r}); send the 'prediction_ids' of this model's answers."
        )
    known = FeedbackEntry(
        [pid for pid, ok in zip(entry.prediction_ids, keep, strict=True) if ok],
        [label for label, ok in zip(entry.labels, keep, strict=True) if ok],
        entry.time_ms,
    )
    return known, unknown


def parse_feedback(body: bytes, *, max_rows: int) -> FeedbackEntry:
    """``{"prediction_id": ID, "label": L}`` or a JSON array of them."""
    import orjson

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"The body is not valid JSON ({exc}). Send {_EXAMPLE}.") from exc
    items = data if isinstance(data, list) else [data]
    listed = isinstance(data, list)

    def where(index: int) -> str:
        return f"[{index}]" if listed else "body"

    if not items:
        raise InputMismatchError(f"The body is an empty list; send at least one {_EXAMPLE}.")
    if len(items) > max_rows:
        raise PayloadTooLargeError(
            f"The body holds {len(items)} labels; this server takes at most {max_rows} per "
            "request (--max-rows)."
        )
    ids: list[str] = []
    labels: list[Any] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputMismatchError(f"{where(index)}: expected an object like {_EXAMPLE}.")
        unknown = sorted(set(item) - {"prediction_id", "label"})
        if unknown:
            raise InputMismatchError(
                f"{where(index)}.{unknown[0]}: unknown field; a label has 'prediction_id' "
                "and 'label'."
            )
        ids.append(_prediction_id(item.get("prediction_id"), f"{where(index)}.prediction_id"))
        labels.append(_label(item.get("label", None), f"{where(index)}.label", "label" in item))
    _same_kind(labels, lambda index: f"{where(index)}.label")
    return FeedbackEntry(ids, labels, now_ms())


def _prediction_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise InputMismatchError(
            f"{field}: expected the prediction id a response gave (a string of 1 to "
            f"{MAX_ID_LENGTH} characters). Got {value!r}."[:400]
        )
    return value


def _label(value: Any, field: str, present: bool) -> Any:
    if not present or value is None:
        raise InputMismatchError(f"{field}: missing; give the true outcome (number, string, bool).")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputMismatchError(f"{field}: must be a finite number. Got {value!r}.")
    if not isinstance(value, bool | int | float | str):
        raise InputMismatchError(
            f"{field}: expected a number, a string or a boolean. Got {type(value).__name__}."
        )
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string"


def _same_kind(labels: list[Any], field: Callable[[int], str]) -> None:
    first = _kind(labels[0])
    for index, label in enumerate(labels):
        if _kind(label) != first:
            raise InputMismatchError(
                f"{field(index)}: is a {_kind(label)} but the first label is a {first}; send "
                "labels of one kind."
            )


@dataclass(frozen=True)
class FeedbackResult:
    """What ``loopml feedback`` stored: ``rows`` labels for ``model`` in run ``run_id``, of
    which ``matched`` name a logged prediction (the others may still be in a server's spool,
    or be wrong ids)."""

    model: str
    rows: int
    matched: int
    run_id: str
    source: str


def send_feedback(
    file: str | Path,
    client: Client,
    *,
    model: str | None = None,
    id_column: str = "prediction_id",
    label_column: str = "label",
) -> FeedbackResult:
    """Store the labels of ``file`` (CSV, Parquet or JSON lines) for ``model``'s logged
    predictions, as a run in the ``serving`` experiment; counts the ids that match."""
    import pyarrow.compute as pc

    from loopml.monitoring.log_reader import read_predictions

    path = Path(file)
    ids, labels = _read_file(path, id_column, label_column)
    model = _model_of_ids(path, ids, client, model)
    entry = FeedbackEntry(ids, labels, now_ms())
    run = start_log_run(client, model=model, kind=FEEDBACK_RUN, name=f"feedback {model}")
    try:
        _store(client, run.id, entry)
    except BaseException:
        client.set_terminated(run.id, RunStatus.FAILED)
        raise
    client.set_terminated(run.id)
    logged = read_predictions(model, client, with_feedback=False)["prediction_id"]
    matched = int(pc.sum(pc.is_in(pc.unique(logged), value_set=pc.unique(ids))).as_py() or 0)
    return FeedbackResult(model, len(ids), matched, run.id, str(path))


def _store(client: Client, run_id: str, entry: FeedbackEntry) -> None:
    import tempfile

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="loopml-feedback-") as folder:
        file = Path(folder) / f"feedback.{entry.time_ms:013d}.parquet"
        pq.write_table(to_table([entry]), file, compression="zstd")
        client.log_artifact(run_id, file, part_folder(FEEDBACK, entry.time_ms))


def _read_file(path: Path, id_column: str, label_column: str) -> tuple[list[str], list[Any]]:
    import pyarrow as pa

    from loopml.data.tables import read_batches

    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file.")
    table = pa.Table.from_batches(list(read_batches(path)))
    for column in (id_column, label_column):
        if column not in table.column_names:
            raise InvalidInputError(
                f"{path}: has no column {column!r}; its columns are "
                f"{', '.join(table.column_names) or 'none'}. Name the columns with "
                "--id-column and --label-column."
            )
    if table.num_rows == 0:
        raise InvalidInputError(f"{path}: has no rows; nothing to send.")
    ids = [str(value) if value is not None else None for value in table[id_column].to_pylist()]
    labels = table[label_column].to_pylist()
    for index, (pid, label) in enumerate(zip(ids, labels, strict=True)):
        row = f"{path}: row {index + 1}"
        if pid is None or not 0 < len(pid) <= MAX_ID_LENGTH:
            raise InvalidInputError(
                f"{row}, column {id_column!r}: missing, or longer than {MAX_ID_LENGTH} "
                "characters; give the prediction id a response gave."
            )
        try:
            _label(label, f"{row}, column {label_column!r}", True)
        except InputMismatchError as exc:
            raise InvalidInputError(exc.message) from None
    return [str(pid) for pid in ids], labels


def _model_of_ids(path: Path, ids: list[str], client: Client, model: str | None) -> str:
    """The model whose deployments made ``ids`` (``model`` when given); InvalidInputError
    naming the rows of the ids no deployment (of that model) made. Ids in the short form of a
    server without a deployment need ``model``, or a store with one model's log."""
    from loopml.monitoring.deployments import resolve_prediction_ids
    from loopml.monitoring.prediction_ids import origin_of

    if model is None and not any(origin_of(pid) for pid in ids):
        model = _only_model(client)
    resolution = resolve_prediction_ids(client.loop, ids, model=model)
    if resolution.unknown:
        shown = ", ".join(f"row {i + 1} {ids[i]!r}" for i in resolution.unknown[:5])
        more = len(resolution.unknown) - 5
        of = f" of {model!r}" if model else ""
        raise InvalidInputError(
            f"{path}: {len(resolution.unknown)} of {len(ids)} prediction ids were given out by "
            f"no deployment{of}: {shown}{f' and {more} more' if more > 0 else ''}. Send the "
            "'prediction_ids' of the server's answers (a typo, or another model's ids?)."
        )
    models = sorted(resolution.by_model)
    if len(models) > 1:
        raise InvalidInputError(
            f"{path}: the prediction ids come from deployments of {len(models)} models "
            f"({', '.join(models)}); send one file per model, or pick one with --model."
        )
    return models[0]


def _only_model(client: Client) -> str:
    from loopml.core.errors import NotFoundError
    from loopml.monitoring.log_store import EXPERIMENT, SERVER

    try:
        page = client.search_runs(EXPERIMENT, filter=f"tags.`{KIND_TAG}` = '{SERVER}'")
    except NotFoundError:
        page = None
    models = sorted({run.tags[MODEL_TAG] for run in page or [] if MODEL_TAG in run.tags})
    if len(models) != 1:
        found = f"logs of {', '.join(models)}" if models else "no prediction log yet"
        raise InvalidInputError(f"Name the model the labels are for with --model ({found}).")
    return models[0]
