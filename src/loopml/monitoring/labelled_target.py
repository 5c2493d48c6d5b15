"""Which column the labels of an export fill: the target of the data the model learnt from.

The candidates are the columns of the dataset appended to (else of the model's reference: the
dataset version its newest labelled version was trained on) that are not inputs of the model.
The one named like the model's output (a signature with a named output column), else the one
whose type fits what the model returns (``str`` → a text column, ``int64`` → integers...),
else the only candidate is the target; otherwise the caller must name it.
"""

from __future__ import annotations

from typing import Any

from loopml.core.errors import InvalidInputError, LoopMLError
from loopml.monitoring.labelled_rows import LabelledInputs
from loopml.monitoring.window_checks import version_output
from loopml.tracking.client import Client

__all__ = ["find_target"]


def find_target(
    client: Client, found: LabelledInputs, given: str | None, base: tuple[str, Any] | None
) -> tuple[str, Any]:
    """The target's name and Arrow type (None: unknown) for ``found``'s labels; ``base`` is
    the dataset version appended to and its ``pyarrow.Schema``, when there is one."""
    inputs = set(found.inputs)
    newest = _newest_version(found)
    if base is not None:
        source: str | None = base[0]
        columns: dict[str, Any] = {field.name: field.type for field in base[1]}
    else:
        source, columns = _reference_columns(client, found)
    if given is not None:
        if given in inputs:
            raise InvalidInputError(
                f"--target {given!r} is an input of {newest}, not what it predicts; name the "
                "column the labels fill."
            )
        if base is not None and given not in columns:
            raise InvalidInputError(
                f"--target {given!r} is not a column of {source} ({', '.join(columns)}), which "
                "the labelled rows are appended to."
            )
        return given, columns.get(given)
    if source is None:
        raise InvalidInputError(
            f"{newest} names no dataset version it was trained on, so the target's name is "
            "unknown: give it with --target (target= in Python), e.g. --target label."
        )
    candidates = [name for name in columns if name not in inputs]
    dtype, output = version_output(client, newest)
    if output in candidates:
        return output, columns[output]
    fitting = [name for name in candidates if dtype and _fits(columns[name], dtype)]
    chosen = fitting if len(fitting) == 1 else candidates
    if len(chosen) == 1:
        return chosen[0], columns[chosen[0]]
    listed = ", ".join(candidates) or "none"
    raise InvalidInputError(
        f"Cannot tell which column of {source} the labels fill: the columns that are not "
        f"inputs of {newest} are {listed}. Name it with --target (target= in Python)."
    )


def _newest_version(found: LabelledInputs) -> str:
    return max(found.model_versions, key=_number)


def _reference_columns(client: Client, found: LabelledInputs) -> tuple[str | None, dict[str, Any]]:
    """The columns and types of the newest labelled version's reference (from its stored
    profile, nothing downloaded); ``(None, {})`` when no version names one dataset version."""
    import pyarrow as pa

    from loopml.data.versions import get

    for label in sorted(found.model_versions, key=_number, reverse=True):
        name, _, number = label.rpartition("@")
        try:
            datasets = client.metadata.get_model_version(name, int(number)).datasets
        except (LoopMLError, ValueError):
            continue
        if len(datasets) != 1:
            continue
        profiles = get(datasets[0], client=client).profiles()
        if len(profiles) != 1:
            continue
        (profile,) = profiles.values()
        columns: dict[str, Any] = {}
        for column in profile.columns:
            try:
                columns[column.name] = pa.type_for_alias(column.physical_type)
            except ValueError:
                columns[column.name] = None
        return datasets[0], columns
    return None, {}


def _number(label: str) -> int:
    tail = label.rpartition("@")[2]
    return int(tail) if tail.isdigit() else -1


def _fits(kind: Any, dtype: str) -> bool:
    """Whether a column of Arrow type ``kind`` can hold what a model returning ``dtype``
    predicts."""
    import pyarrow as pa

    if kind is None:
        return False
    if dtype in ("str", "object"):
        return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))
    if dtype.startswith(("int", "uint")):
        return bool(pa.types.is_integer(kind))
    if dtype.startswith("float"):
        return bool(pa.types.is_floating(kind) or pa.types.is_integer(kind))
    if dtype == "bool":
        return bool(pa.types.is_boolean(kind) or pa.types.is_integer(kind))
    return False
