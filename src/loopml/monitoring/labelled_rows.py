"""Logged inputs with the labels fed back for them: the rows a model can be retrained on.

The prediction log's parts are read in place (only the columns needed, as the windows read
them); every label sent for the model (``POST /feedback``, ``loopml feedback``) is joined by
prediction id, the newest label of a prediction winning. A row is kept when its prediction is
selected (``NAME@ALIAS``: the main traffic of the deployments that follow the alias;
``NAME@N``: version N's; ``NAME``: every prediction the model's servers answered with, main
or canary — a shadow's rows are the main's again), was made in ``[since_ms,
until_ms)`` and has a label.

>>> found = labelled_inputs(client, "penguins@champion", since_ms=week_ago)  # doctest: +SKIP
>>> found.table.column_names  # doctest: +SKIP
['island', 'bill_length_mm', ..., '__label']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.core.refs import parse_model_ref
from loopml.monitoring.log_parts import LogPart, log_parts, read_part
from loopml.monitoring.log_records import FEEDBACK, PREDICTIONS
from loopml.monitoring.windows import LogSelection, select_log
from loopml.tracking.client import Client

__all__ = ["LABEL", "LabelledInputs", "labelled_inputs", "selection_of"]

LABEL = "__label"  # the joined labels' column, before it takes the target's name
_READ = ("prediction_id", "time", "model_version", "traffic", "inputs")
_ID, _TIME, _VERSION = "__prediction_id", "__time", "__model_version"  # never an input's name


@dataclass(frozen=True)
class LabelledInputs:
    """The labelled rows (``table``: the input columns, then ``LABEL`` as text), oldest
    prediction first, and where they came from: ``label_types`` (the types the labels were
    sent as: ``int64``, ``string``...), the versions, log runs and parts that gave rows, the
    first and last prediction's time (ms), and how many selected predictions were logged."""

    selection: LogSelection
    table: Any  # pyarrow.Table
    inputs: tuple[str, ...]
    label_types: frozenset[str]
    model_versions: tuple[str, ...]
    log_runs: tuple[str, ...]
    prediction_parts: tuple[str, ...]
    feedback_parts: tuple[str, ...]
    first_ms: int | None
    last_ms: int | None
    logged: int  # selected predictions in the range, labelled or not
    labels_sent: int  # predictions of the model with a label (any range, any selection)

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


def selection_of(client: Client, ref: str) -> LogSelection:
    """``NAME@ALIAS`` and ``NAME@N`` as the windows select them; ``NAME``: every prediction
    of the model, whichever server or version made it (shadow rows left out by the reader)."""
    if "@" not in ref and not ref.startswith("models:/"):
        model = parse_model_ref(ref).model
        return LogSelection(ref, model, None, None, None)
    return select_log(client, ref)


def labelled_inputs(
    client: Client, ref: str, *, since_ms: int | None = None, until_ms: int | None = None
) -> LabelledInputs:
    """The selected predictions of ``ref`` in ``[since_ms, until_ms)`` that have a label."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise InvalidInputError("--since must be before --until.")
    selection = selection_of(client, ref)
    labels, feedback_parts, types = _labels(client, selection.model)
    sent = 0 if labels is None else labels.num_rows
    pieces: list[Any] = []
    runs: set[str] = set()
    parts: list[str] = []
    given_by: set[int] = set()
    logged = 0
    found = log_parts(client, selection.model, PREDICTIONS, run_ids=selection.run_ids,
                      since_ms=since_ms, until_ms=until_ms)  # fmt: skip
    for part in found:
        table = _selected(read_part(client, part, _READ), selection, since_ms, until_ms)
        logged += table.num_rows
        if labels is None or table.num_rows == 0:
            continue
        where = pc.index_in(table["prediction_id"], value_set=labels["prediction_id"])
        judged = where.is_valid()
        if not pc.any(judged).as_py():
            continue
        table, where = table.filter(judged), where.filter(judged)
        chosen = labels.take(where)
        given_by.update(chosen["part"].unique().to_pylist())
        pieces.append(_flatten(table, part).append_column(LABEL, chosen[LABEL]))
        runs.add(part.run_id)
        parts.append(part.digest)
    if not pieces:
        empty = pa.table({LABEL: pa.array([], pa.string())})
        return LabelledInputs(selection, empty, (), frozenset(types), (), (), (), (), None,
                              None, logged, sent)  # fmt: skip
    table = pa.concat_tables(pieces, promote_options="permissive")
    table = _in_order(table)
    times = table[_TIME].cast(pa.int64())
    versions = sorted(set(table[_VERSION].to_pylist()))
    inputs = tuple(n for n in table.column_names if n not in (_ID, _TIME, _VERSION, LABEL))
    feedback = tuple(sorted({feedback_parts[index] for index in given_by}))
    return LabelledInputs(
        selection=selection,
        table=table.select([*inputs, LABEL]),
        inputs=inputs,
        label_types=frozenset(types),
        model_versions=tuple(versions),
        log_runs=tuple(sorted(runs)),
        prediction_parts=tuple(sorted(set(parts))),
        feedback_parts=feedback,
        first_ms=pc.min(times).as_py(),
        last_ms=pc.max(times).as_py(),
        logged=logged,
        labels_sent=sent,
    )


def _labels(client: Client, model: str) -> tuple[Any, list[str], set[str]]:
    """Every prediction's newest label (``prediction_id``, ``label`` as text, ``part``: the
    index of the feedback part it came from), the feedback parts' digests, and the types the
    labels were sent as; None when no label was sent."""
    import numpy as np
    import pyarrow as pa

    tables = []
    digests: list[str] = []
    types: set[str] = set()
    for index, part in enumerate(log_parts(client, model, FEEDBACK)):
        table = read_part(client, part, ["prediction_id", "label", "time"])
        types.add(str(table.schema.field("label").type))
        digests.append(part.digest)
        tables.append(
            pa.table(
                {
                    "prediction_id": table["prediction_id"],
                    LABEL: table["label"].cast(pa.string()),
                    "time": table["time"].cast(pa.int64()),
                    "part": pa.array(np.full(table.num_rows, index, np.int64)),
                }
            )
        )
    if not tables or not any(t.num_rows for t in tables):
        return None, digests, types
    every = pa.concat_tables(tables)
    every = every.append_column("sent", pa.array(np.arange(every.num_rows)))
    # the newest label of each prediction; of two sent at the same moment, the one sent last
    ordered = every.sort_by([("time", "descending"), ("sent", "descending")])
    ids = np.asarray(ordered["prediction_id"].to_numpy(zero_copy_only=False))
    _, first = np.unique(ids, return_index=True)
    return ordered.take(pa.array(np.sort(first))), digests, types


def _selected(
    table: Any, selection: LogSelection, since_ms: int | None, until_ms: int | None
) -> Any:
    """The rows of a prediction part that ``selection`` takes, made in the range."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keep = None
    moments = table["time"].cast(pa.int64())
    conditions = []
    if since_ms is not None:
        conditions.append(pc.greater_equal(moments, since_ms))
    if until_ms is not None:
        conditions.append(pc.less(moments, until_ms))
    if selection.version is not None:
        conditions.append(pc.equal(table["model_version"], selection.version))
    if selection.traffic is not None:
        conditions.append(pc.equal(table["traffic"], selection.traffic))
    elif selection.version is None:  # a shadow scores the main's rows again, under their ids
        conditions.append(pc.not_equal(table["traffic"], "shadow"))
    for condition in conditions:
        keep = condition if keep is None else pc.and_(keep, condition)
    return table if keep is None else table.filter(keep)


def _flatten(table: Any, part: LogPart) -> Any:
    """The part's rows with their inputs as columns (in the signature's order)."""
    import pyarrow as pa

    inputs = table["inputs"].combine_chunks()
    if not pa.types.is_struct(inputs.type):
        version = table["model_version"][0].as_py()
        raise InvalidInputError(
            f"The logged inputs of {version} are arrays (the model was registered with a "
            "numpy input example), so they have no column names to train on; register a "
            "version with a table input example (a DataFrame or a dict of columns) to export "
            "its labelled predictions."
        )
    columns = {_ID: table["prediction_id"], _TIME: table["time"],
               _VERSION: table["model_version"]}  # fmt: skip
    for index in range(inputs.type.num_fields):
        columns[inputs.type.field(index).name] = inputs.field(index)
    return pa.table(columns)


def _in_order(table: Any) -> Any:
    """Oldest prediction first; a request's rows (``PREFIX-0``, ``PREFIX-1``, ...) in their
    order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = table[_ID]
    request = pc.replace_substring_regex(ids, pattern=r"-[0-9]+$", replacement="")
    row = pc.struct_field(pc.extract_regex(ids, pattern=r"-(?P<row>[0-9]+)$"), "row")
    keys = pa.table({"time": table[_TIME], "request": request,
                     "row": pc.cast(row, pa.int64())})  # fmt: skip
    order = pc.sort_indices(
        keys, sort_keys=[("time", "ascending"), ("request", "ascending"), ("row", "ascending")]
    )
    return table.take(order)
