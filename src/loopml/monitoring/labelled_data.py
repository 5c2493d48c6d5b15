"""Feedback made training data: the logged inputs of a served model joined to the labels sent
for them, stored as a new version of a dataset, so the named training pipeline can run on it.

The rows are the model's input columns and the target, named like the target of the dataset
the model was trained on (its reference, found through lineage) or of the dataset appended to;
``target`` names it when neither tells. With ``append_to`` the version holds the base version's
rows first and the labelled rows after them (in the base's file, format and column types), so
a retraining trains on both. A version made by an export names its base in
``labelled-predictions.json``, and an export appended to it starts again from that base (or
from nothing, when it had none): the labelled rows replace the earlier export's rather than
stack on them, so running the same
export twice gives the same content — and then no new version (``loopml.data.add`` keeps
the newest version when the content is the same).

>>> export = materialize_feedback(client, "penguins@champion", dataset="penguins",
...                               append_to="latest")  # doctest: +SKIP
>>> export.version.version, export.rows, export.base  # doctest: +SKIP
(4, 342, 'penguins@3')
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from loopml.core.entities import DatasetVersion
from loopml.core.errors import InvalidInputError, LoopMLError, NotFoundError
from loopml.core.ids import format_ms
from loopml.core.refs import check_dataset_name, format_dataset_ref
from loopml.data.formats import table_format
from loopml.monitoring.labelled_rows import LABEL, LabelledInputs, labelled_inputs
from loopml.monitoring.labelled_target import find_target
from loopml.tracking.client import Client

__all__ = ["LINEAGE_FILE", "AppendTo", "LabelledExport", "materialize_feedback"]

LINEAGE_FILE = "labelled-predictions.json"
AppendTo = int | Literal["latest"] | None


@dataclass(frozen=True)
class LabelledExport:
    """The dataset version holding the export (``created`` False: the newest version already
    held exactly this content), its labelled ``rows``, the ``base`` version whose
    ``base_rows`` come first, the ``target`` column, the ``table`` file and the lineage."""

    version: DatasetVersion
    created: bool
    rows: int
    base: str | None
    base_rows: int
    target: str
    table: str
    lineage: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.version.dataset,
            "version": self.version.version,
            "ref": format_dataset_ref(self.version.dataset, self.version.version),
            "created": self.created,
            "rows": self.rows,
            "base": self.base,
            "base_rows": self.base_rows,
            "target": self.target,
            "table": self.table,
            "lineage": self.lineage,
        }


@dataclass(frozen=True)
class _Base:
    ref: str
    path: str  # the table's path in the version
    table: Any  # pyarrow.Table
    folder: Path  # the version's files
    others: tuple[str, ...]  # its files that are not the table nor an export's lineage


def materialize_feedback(
    client: Client,
    ref: str,
    *,
    dataset: str,
    since_ms: int | None = None,
    until_ms: int | None = None,
    target: str | None = None,
    append_to: AppendTo = None,
) -> LabelledExport:
    """Store the labelled predictions of ``ref`` (``NAME@ALIAS``, ``NAME@N`` or ``NAME``) made
    in ``[since_ms, until_ms)`` as the next version of ``dataset``: alone, or after the rows
    of ``append_to`` (a version number of ``dataset``, or ``"latest"``). NotFoundError when
    no selected prediction has a label yet."""
    check_dataset_name(dataset)
    found = labelled_inputs(client, ref, since_ms=since_ms, until_ms=until_ms)
    if found.rows == 0:
        raise NotFoundError(_nothing_labelled(found, ref, since_ms, until_ms))
    base = _base(client, dataset, append_to)
    column, kind = find_target(
        client, found, target, None if base is None else (base.ref, base.table.schema)
    )
    rows = _training_rows(found, column, kind)
    table = rows if base is None else _appended(base, rows)
    path = base.path if base is not None else f"{dataset}.parquet"
    lineage = _lineage(client, found, ref, column, base, path)
    origin = f"feedback:{ref}"
    with tempfile.TemporaryDirectory(prefix="labelled-", dir=_staging_root(client)) as name:
        folder = Path(name)
        _write_table(table, folder / path)
        if base is not None:
            for other in base.others:
                (folder / other).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(base.folder / other, folder / other)
        text = json.dumps(lineage, indent=2, sort_keys=True) + "\n"
        (folder / LINEAGE_FILE).write_text(text, encoding="utf-8")
        from loopml.data.versions import add

        added = add(dataset, folder, message=_message(found, ref, base), client=client,
                    origin=origin)  # fmt: skip
    return LabelledExport(
        added.version, added.created, found.rows, base.ref if base else None,
        base.table.num_rows if base else 0, column, path, lineage,
    )  # fmt: skip


def _nothing_labelled(
    found: LabelledInputs, ref: str, since_ms: int | None, until_ms: int | None
) -> str:
    span = ""
    if since_ms is not None or until_ms is not None:
        span = f" from {format_ms(since_ms) or 'the start'} to {format_ms(until_ms) or 'now'}"
    if found.logged == 0:
        return (
            f"No logged predictions of {ref}{span}, so there is nothing to label: serve it "
            "(loopml serve) and send it requests, or widen --since/--until."
        )
    return (
        f"No feedback yet for the {found.logged:,} logged predictions of {ref}{span} "
        f"({found.labels_sent:,} labels sent for the model in all). Send labels by prediction "
        "id with 'loopml feedback FILE' or POST /feedback, then export again."
    )


def _base(client: Client, dataset: str, append_to: AppendTo) -> _Base | None:
    """The version appended to; an export's own base when it names one."""
    if append_to is None:
        return None
    from loopml.data.versions import get

    if append_to != "latest" and (not isinstance(append_to, int) or append_to < 1):
        raise InvalidInputError(
            f"append_to={append_to!r}: give a version number (1, 2, ...) or 'latest'."
        )
    wanted = dataset if append_to == "latest" else format_dataset_ref(dataset, int(append_to))
    try:
        handle = get(wanted, client=client)
    except NotFoundError as exc:
        raise NotFoundError(
            f"Cannot append to {wanted}: {exc.message} Export without --append to start the "
            "dataset."
        ) from exc
    files = [entry.path for entry in handle.files()]
    if LINEAGE_FILE in files:  # an export: start again from its base (if it had one)
        earlier = json.loads((handle.path() / LINEAGE_FILE).read_text(encoding="utf-8"))
        if not isinstance(earlier.get("base"), str):
            return None
        handle = get(earlier["base"], client=client)
        files = [entry.path for entry in handle.files()]
    tables = handle.tables()
    if len(tables) != 1:
        raise InvalidInputError(
            f"Cannot append to {handle.ref}: it holds {len(tables)} tables "
            f"({', '.join(tables[:5]) or 'none'}); labelled rows are appended to a dataset of "
            "one table. Export to a dataset of its own (no --append) instead."
        )
    others = tuple(f for f in files if f not in (tables[0], LINEAGE_FILE))
    return _Base(handle.ref, tables[0], handle.to_arrow(), handle.path(), others)


def _training_rows(found: LabelledInputs, column: str, kind: Any) -> Any:
    """The input columns and the labels as ``column`` of type ``kind`` (None: the type the
    labels were sent as when they were all sent as one, else text)."""
    import pyarrow as pa

    if kind is None:
        sent = {pa.type_for_alias(name) for name in found.label_types if name != "null"}
        kind = sent.pop() if len(sent) == 1 else pa.string()
    labels = _cast(found.table[LABEL], kind, f"the target {column!r}", "label")
    return found.table.select(list(found.inputs)).append_column(column, labels)


def _appended(base: _Base, rows: Any) -> Any:
    """The base's rows, then ``rows`` in the base's columns and types (nulls where a base
    column is not an input)."""
    import pyarrow as pa

    extra = [name for name in rows.column_names if name not in base.table.column_names]
    if extra:
        raise InvalidInputError(
            f"Cannot append to {base.ref}: the model's inputs {', '.join(extra)} are not "
            f"columns of it ({', '.join(base.table.column_names)}). Export to a dataset of "
            "its own (no --append) instead."
        )
    columns = []
    for field in base.table.schema:
        if field.name in rows.column_names:
            where = f"column {field.name!r} of {base.ref}"
            columns.append(_cast(rows[field.name], field.type, where, "value"))
        else:
            columns.append(pa.nulls(rows.num_rows, field.type))
    added = pa.Table.from_arrays(columns, schema=base.table.schema)
    return pa.concat_tables([base.table, added])


def _cast(values: Any, kind: Any, where: str, what: str) -> Any:
    """``values`` as ``kind``; an error naming the first value that is not one."""
    import pyarrow as pa

    if values.type == kind:
        return values
    try:
        return values.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for value in values.unique().to_pylist():
        try:
            pa.array([value], values.type).cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InvalidInputError(
                f"The {what} {value!r} does not fit {where}, which holds {kind}; send labels "
                "of that type, or name another target with --target."
            ) from None
    raise InvalidInputError(f"The {what}s of type {values.type} do not fit {where} ({kind}).")


def _lineage(
    client: Client, found: LabelledInputs, ref: str, column: str, base: _Base | None, path: str
) -> dict[str, Any]:
    """Where the rows came from; only what the rows depend on, so the same rows give the same
    file (the range asked for goes in the version's message)."""
    return {
        "kind": "labelled_predictions",
        "model": ref,
        "model_versions": list(found.model_versions),
        "deployments": _deployments(client, found),
        "log_runs": list(found.log_runs),
        "first_prediction": format_ms(found.first_ms),
        "last_prediction": format_ms(found.last_ms),
        "rows": found.rows,
        "target": column,
        "table": path,
        "base": base.ref if base is not None else None,
        "base_rows": base.table.num_rows if base is not None else 0,
        "prediction_parts": list(found.prediction_parts),
        "feedback_parts": list(found.feedback_parts),
    }


def _deployments(client: Client, found: LabelledInputs) -> list[str]:
    runs = set(found.log_runs)
    ids: set[str] = set()
    token: str | None = None
    try:
        while True:
            page = client.loop.list_deployments(model=found.selection.model, page_token=token)
            ids.update(d.id for d in page.items if d.run_id in runs)
            token = page.next_page_token
            if not token:
                return sorted(ids)
    except LoopMLError:  # a store without deployment records: the log runs say it
        return sorted(ids)


def _message(found: LabelledInputs, ref: str, base: _Base | None) -> str:
    text = (
        f"{found.rows:,} labelled predictions of {ref} (made {format_ms(found.first_ms)} to "
        f"{format_ms(found.last_ms)}), their logged inputs joined to the feedback sent for them"
    )
    return text + (f", after the {base.table.num_rows:,} rows of {base.ref}" if base else "")


def _write_table(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    kind = table_format(path)
    if kind == "csv":
        import pyarrow.csv as pa_csv

        pa_csv.write_csv(table, path)
    elif kind == "jsonl":
        with path.open("w", encoding="utf-8") as stream:
            for row in table.to_pylist():
                stream.write(json.dumps(row, default=str) + "\n")
    else:
        pq.write_table(table, path)


def _staging_root(client: Client) -> Path:
    """Where the version's files are put together: the project's cache, else the user's."""
    from loopml.data.versions import user_cache_dir

    root = client.project_root / "cache" if client.project_root is not None else user_cache_dir()
    (root / "exports").mkdir(parents=True, exist_ok=True)
    return root / "exports"
