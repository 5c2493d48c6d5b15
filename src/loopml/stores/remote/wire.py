"""The JSON wire format shared by the server and the remote client.

JSON has no NaN or infinity, but metrics may hold them: a float travels as a JSON number when
finite and as one of the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` otherwise, in both
directions. Entities are decoded here so that every remote store builds them the same way.

Entities are read back by :class:`EntityDecoder`, derived from their dataclass's fields and
type hints (scalars, string enums, objects, lists, each maybe null), so a field added to the
dataclass crosses the wire without more code; a field the other side does not send keeps its
default (an older server), and a value of the wrong kind is a :class:`WireFormatError` naming
the field. Flat entities are written as an object of their fields (:func:`entity_json`);
model registry entities hold collections, so they are written out field by field
(:func:`model_version_json`, :func:`gate_result_json`).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from loopml.core.entities import (
    AliasChange,
    ArtifactEdge,
    ArtifactEntry,
    ArtifactListing,
    DatasetInput,
    DatasetVersion,
    Event,
    Experiment,
    GateResult,
    Metric,
    ModelApproval,
    ModelVersion,
    RegisteredModel,
    Run,
)
from loopml.core.errors import InvalidInputError, LoopMLError

NON_FINITE: dict[str, float] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

JsonObject = Mapping[str, object]
E = TypeVar("E")
# the field types a flat entity may have on the wire (None is allowed through ``X | None``)
_SCALARS: tuple[type, ...] = (str, int, bool, float)


def encode_float(value: float) -> float | str:
    """A finite float as itself; NaN and ±inf as their JSON-safe names."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: object) -> object:
    """The inverse of :func:`encode_float`; anything else passes through to be validated."""
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    return value


class WireFormatError(LoopMLError):
    """The server answered with JSON this client does not understand (a version mismatch)."""

    code, http_status = "wire_format_error", 502


def _mismatch(key: str, value: object) -> WireFormatError:
    return WireFormatError(
        f"The server sent an unexpected {key!r} field ({value!r:.80}); the client and the "
        "server are probably different loopml versions."
    )


def _str(data: JsonObject, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise _mismatch(key, value)
    return value


def _int(data: JsonObject, key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _mismatch(key, value)
    return value


def _opt_str(data: JsonObject, key: str) -> str | None:
    return None if data.get(key) is None else _str(data, key)


def page_token(data: JsonObject) -> str | None:
    """A page's ``next_page_token`` (None on the last page)."""
    return _opt_str(data, "next_page_token")


def member(data: JsonObject, key: str) -> JsonObject:
    """The JSON object under ``key``."""
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise _mismatch(key, value)
    return value


def optional_member(data: JsonObject, key: str) -> JsonObject | None:
    """The JSON object under ``key``, or None when the server sent null (nothing found)."""
    return None if data.get(key) is None else member(data, key)


def objects(data: JsonObject, key: str) -> list[JsonObject]:
    """The list of JSON objects under ``key``."""
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise _mismatch(key, value)
    return value


def refuse_event(event: object) -> None:
    """The server records the events of the changes made through it, as the caller it
    authenticated: a client cannot add its own to a change."""
    if event is not None:
        raise InvalidInputError(
            "A remote store does not take an event with a change: the server records it."
        )


def integer(data: JsonObject, key: str) -> int:
    """The integer under ``key``."""
    return _int(data, key)


def boolean(data: JsonObject, key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise _mismatch(key, value)
    return value


def entity_json(entity: object) -> dict[str, object]:
    """A flat dataclass entity as a JSON object of its fields (floats as in
    :func:`encode_float`)."""
    if not dataclasses.is_dataclass(entity) or isinstance(entity, type):
        raise TypeError(f"Expected a dataclass instance, got {entity!r:.80}.")
    values = {f.name: getattr(entity, f.name) for f in dataclasses.fields(entity)}
    return {k: encode_float(v) if isinstance(v, float) else v for k, v in values.items()}


@dataclasses.dataclass(frozen=True, slots=True)
class EntityField:
    """One field of a flat dataclass entity as it travels: a JSON scalar, maybe null."""

    name: str
    kind: type  # str, int, bool or float
    optional: bool  # None is allowed
    default: object = dataclasses.MISSING  # MISSING: the field must be sent

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def entity_fields(cls: type) -> list[EntityField]:
    """The fields of the flat dataclass entity ``cls``, in order."""
    hints = typing.get_type_hints(cls)
    found: list[EntityField] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        scalars = [arg for arg in args if arg is not type(None)]
        if len(scalars) != 1 or scalars[0] not in _SCALARS:
            raise TypeError(f"{cls.__name__}.{f.name}: {hint} cannot travel as a JSON scalar.")
        optional = len(scalars) != len(args)
        found.append(EntityField(f.name, scalars[0], optional, f.default))
    return found


def model_version_json(version: ModelVersion) -> dict[str, object]:
    """A model version as a JSON object (its metrics are finite, so plain numbers)."""
    return {
        "model": version.model,
        "version": version.version,
        "flavor": version.flavor,
        "tree_digest": version.tree_digest,
        "created_at": version.created_at,
        "run_id": version.run_id,
        "signature": None if version.signature is None else dict(version.signature),
        "metrics": dict(version.metrics),
        "datasets": list(version.datasets),
        "requirements": list(version.requirements),
        "description": version.description,
        "tags": dict(version.tags),
        "created_by": version.created_by,
    }


def gate_result_json(result: GateResult) -> dict[str, object]:
    """A gate result as a JSON object (its checks and policy are JSON already)."""
    return {
        "id": result.id,
        "model": result.model,
        "version": result.version,
        "passed": result.passed,
        "checks": [dict(check) for check in result.checks],
        "policy": dict(result.policy),
        "policy_digest": result.policy_digest,
        "evaluated_at": result.evaluated_at,
        "against": result.against,
        "dataset": result.dataset,
        "actor": result.actor,
    }


# how one field travels, derived from its type hint: a JSON scalar (maybe null), a string
# enum, an object of scalars or of JSON values, a list of strings or of JSON objects
FieldDecoder = Callable[[str, object], object]


def _scalar(kind: type) -> FieldDecoder:
    def decode(name: str, value: object) -> object:
        if kind is float:
            decoded = decode_float(value)
            if isinstance(decoded, bool) or not isinstance(decoded, int | float):
                raise _mismatch(name, value)
            return float(decoded)
        # bool is an int in Python, but never on the wire
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            return value
        raise _mismatch(name, value)

    return decode


def _enum(kind: type[enum.Enum]) -> FieldDecoder:
    def decode(name: str, value: object) -> object:
        try:
            return kind(value)
        except ValueError:
            raise _mismatch(name, value) from None

    return decode


def _json_value(name: str, value: object) -> object:
    return value  # any JSON value (Any, object): the server's own


def _mapping(values: FieldDecoder) -> FieldDecoder:
    def decode(name: str, value: object) -> object:
        if value is None:  # an empty collection may travel as null
            return {}
        if not isinstance(value, Mapping):
            raise _mismatch(name, value)
        return {str(key): values(name, item) for key, item in value.items()}

    return decode


def _sequence(items: FieldDecoder) -> FieldDecoder:
    def decode(name: str, value: object) -> object:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise _mismatch(name, value)
        return tuple(items(name, item) for item in value)

    return decode


def _object_of(name: str, value: object) -> object:
    if not isinstance(value, Mapping):
        raise _mismatch(name, value)
    return dict(value)


def _nullable(inner: FieldDecoder) -> FieldDecoder:
    def decode(name: str, value: object) -> object:
        return None if value is None else inner(name, value)

    return decode


def field_decoder(owner: str, name: str, hint: object) -> FieldDecoder:
    """How the field ``name`` of ``owner`` with the type ``hint`` is read from JSON."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and type(None) in args:
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _nullable(field_decoder(owner, name, inner))
    if hint in (Any, object):
        return _json_value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum(hint)
    if hint in _SCALARS:
        return _scalar(hint)
    origin = typing.get_origin(hint)
    if origin in (dict, Mapping) and args and args[0] is str:
        values = field_decoder(owner, name, args[1])
        return _mapping(values)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        if typing.get_origin(item) in (dict, Mapping):
            return _sequence(_object_of)  # JSON objects, as the server sent them
        return _sequence(field_decoder(owner, name, item))
    raise TypeError(f"{owner}.{name}: {hint} has no JSON form on the wire.")


class EntityDecoder(Generic[E]):
    """Builds the entity ``cls`` from the server's JSON object of its fields, each read as its
    type hint says (see :func:`field_decoder`). Unknown keys are ignored (a newer server); a
    missing key takes the field's default (an older server); a value of the wrong kind is a
    :class:`WireFormatError` naming the field."""

    def __init__(self, cls: type[E]) -> None:
        self._cls = cls
        hints = typing.get_type_hints(cls)
        self._fields = [
            (
                f.name,
                field_decoder(cls.__name__, f.name, hints[f.name]),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(typing.cast(Any, cls))
        ]

    def __call__(self, data: JsonObject) -> E:
        values: dict[str, Any] = {}
        for name, decode, required in self._fields:
            if name in data:
                values[name] = decode(name, data[name])
            elif required:
                raise WireFormatError(
                    f"The server sent a {self._cls.__name__} without its {name!r} field; "
                    "the client and the server are probably different loopml versions."
                )
        return self._cls(**values)


# the entities the metadata store's slices read back, derived from their dataclasses
experiment_from_json = EntityDecoder(Experiment)
run_from_json = EntityDecoder(Run)
metric_from_json = EntityDecoder(Metric)
artifact_entry_from_json = EntityDecoder(ArtifactEntry)
artifact_listing_from_json = EntityDecoder(ArtifactListing)
artifact_edge_from_json = EntityDecoder(ArtifactEdge)
dataset_version_from_json = EntityDecoder(DatasetVersion)
dataset_input_from_json = EntityDecoder(DatasetInput)
model_version_from_json = EntityDecoder(ModelVersion)
registered_model_from_json = EntityDecoder(RegisteredModel)
alias_change_from_json = EntityDecoder(AliasChange)
gate_result_from_json = EntityDecoder(GateResult)
model_approval_from_json = EntityDecoder(ModelApproval)
event_from_json = EntityDecoder(Event)
# the loop store's (its deployments, leases and decisions) are derived beside it, in
# stores/remote/loop.py and loop_decisions.py, from core.loop_records
