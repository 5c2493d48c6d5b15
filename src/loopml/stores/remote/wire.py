"""The JSON wire format shared by the server and the remote client.

JSON has no NaN or infinity, but metrics may hold them: a float travels as a JSON number when
finite and as one of the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` otherwise, in both
directions. Entities are decoded here so that every remote store builds them the same way.

Dataset and lineage entities travel as an object of their dataclass fields (:func:`entity_json`,
:func:`dataset_version_from_json`), so a field added to the dataclass crosses the wire without
more code; a field the other side does not send keeps its default (an older server).
Model registry entities hold collections, so they are written out field by field
(:func:`model_version_json`, :func:`model_version_from_json`, :func:`gate_result_json`…);
an approval is flat (:func:`entity_json`, :func:`model_approval_from_json`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from loopml.core.entities import (
    AliasChange,
    ArtifactEdge,
    ArtifactEntry,
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
    RunStatus,
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


def _opt_int(data: JsonObject, key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


def _str_map(data: JsonObject, key: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise WireFormatError(f"The server sent a non-object {key!r} field.")
    return {str(k): str(v) for k, v in value.items()}


def _float(value: object) -> float:
    decoded = decode_float(value)
    if isinstance(decoded, bool) or not isinstance(decoded, int | float):
        raise WireFormatError(f"The server sent {value!r} where a number was expected.")
    return float(decoded)


def page_token(data: JsonObject) -> str | None:
    """A page's ``next_page_token`` (None on the last page)."""
    return _opt_str(data, "next_page_token")


def member(data: JsonObject, key: str) -> JsonObject:
    """The JSON object under ``key``."""
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise _mismatch(key, value)
    return value


def objects(data: JsonObject, key: str) -> list[JsonObject]:
    """The list of JSON objects under ``key``."""
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise _mismatch(key, value)
    return value


def experiment_from_json(data: JsonObject) -> Experiment:
    return Experiment(
        id=_str(data, "id"),
        name=_str(data, "name"),
        created_at=_int(data, "created_at"),
        tags=_str_map(data, "tags"),
    )


def _status(data: JsonObject) -> RunStatus:
    text = _str(data, "status")
    try:
        return RunStatus(text)
    except ValueError:
        raise _mismatch("status", text) from None


def run_from_json(data: JsonObject) -> Run:
    metrics = data.get("metrics") or {}
    if not isinstance(metrics, Mapping):
        raise WireFormatError("The server sent a non-object 'metrics' field.")
    return Run(
        id=_str(data, "id"),
        experiment_id=_str(data, "experiment_id"),
        name=_str(data, "name"),
        status=_status(data),
        start_time=_int(data, "start_time"),
        end_time=_opt_int(data, "end_time"),
        parent_run_id=_opt_str(data, "parent_run_id"),
        params=_str_map(data, "params"),
        metrics={str(k): _float(v) for k, v in metrics.items()},
        tags=_str_map(data, "tags"),
        heartbeat_at=_opt_int(data, "heartbeat_at"),
    )


def metric_from_json(data: JsonObject) -> Metric:
    return Metric(
        key=_str(data, "key"),
        value=_float(data.get("value")),
        step=_int(data, "step"),
        timestamp=_int(data, "timestamp"),
    )


def artifact_entry_from_json(data: JsonObject) -> ArtifactEntry:
    return ArtifactEntry(
        path=_str(data, "path"), digest=_str(data, "digest"), size=_int(data, "size")
    )


def event_from_json(data: JsonObject) -> Event:
    payload = data.get("payload") or {}
    if not isinstance(payload, Mapping):
        raise WireFormatError("The server sent a non-object 'payload' field.")
    return Event(
        id=_int(data, "id"),
        timestamp=_int(data, "timestamp"),
        actor=_str(data, "actor"),
        action=_str(data, "action"),
        target=_str(data, "target"),
        payload=dict(payload),
        seq=_int(data, "seq") if "seq" in data else 0,
        **{k: _str(data, k) for k in _CHAIN_FIELDS if k in data},
    )


_CHAIN_FIELDS = ("request_id", "before_digest", "after_digest", "prev_hash", "hash")


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


class EntityDecoder(Generic[E]):
    """Builds the entity ``cls`` from :func:`entity_json`'s objects. Unknown keys are ignored
    (a newer server); a missing key takes the field's default (an older server)."""

    def __init__(self, cls: type[E]) -> None:
        self._cls = cls
        self._fields = entity_fields(cls)

    def __call__(self, data: JsonObject) -> E:
        values: dict[str, Any] = {}
        for field in self._fields:
            if field.name in data:
                values[field.name] = _field_value(data, field)
            elif field.required:
                raise WireFormatError(
                    f"The server sent a {self._cls.__name__} without its {field.name!r} field; "
                    "the client and the server are probably different loopml versions."
                )
        return self._cls(**values)


def _field_value(data: JsonObject, field: EntityField) -> object:
    value = data[field.name]
    if value is None and field.optional:
        return None
    if field.kind is float:
        return _float(value)
    # bool is an int in Python, but never on the wire
    if isinstance(value, field.kind) and (field.kind is bool or not isinstance(value, bool)):
        return value
    raise _mismatch(field.name, value)


dataset_version_from_json = EntityDecoder(DatasetVersion)
dataset_input_from_json = EntityDecoder(DatasetInput)
artifact_edge_from_json = EntityDecoder(ArtifactEdge)


# the model registry: entities with collections, so written out field by field


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


def _strings(data: JsonObject, key: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _mismatch(key, value)
    return tuple(value)


def _object(data: JsonObject, key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is not None and not isinstance(value, Mapping):
        raise _mismatch(key, value)
    return None if value is None else dict(value)


def model_version_from_json(data: JsonObject) -> ModelVersion:
    metrics = _object(data, "metrics") or {}
    return ModelVersion(
        model=_str(data, "model"),
        version=_int(data, "version"),
        flavor=_str(data, "flavor"),
        tree_digest=_str(data, "tree_digest"),
        created_at=_int(data, "created_at"),
        run_id=_opt_str(data, "run_id"),
        signature=_object(data, "signature"),
        metrics={str(k): _float(v) for k, v in metrics.items()},
        datasets=_strings(data, "datasets"),
        requirements=_strings(data, "requirements"),
        description=_str(data, "description"),
        tags=_str_map(data, "tags"),
        created_by=_opt_str(data, "created_by"),
    )


def registered_model_from_json(data: JsonObject) -> RegisteredModel:
    aliases = _object(data, "aliases") or {}
    return RegisteredModel(
        name=_str(data, "name"),
        created_at=_int(data, "created_at"),
        updated_at=_int(data, "updated_at"),
        description=_str(data, "description"),
        latest_version=_opt_int(data, "latest_version"),
        aliases={str(alias): _int(aliases, alias) for alias in aliases},
    )


def alias_change_from_json(data: JsonObject) -> AliasChange:
    return AliasChange(
        model=_str(data, "model"),
        alias=_str(data, "alias"),
        from_version=_opt_int(data, "from_version"),
        to_version=_opt_int(data, "to_version"),
        at=_int(data, "at"),
        actor=_opt_str(data, "actor"),
        reason=_str(data, "reason"),
    )


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


def gate_result_from_json(data: JsonObject) -> GateResult:
    return GateResult(
        id=_str(data, "id"),
        model=_str(data, "model"),
        version=_int(data, "version"),
        passed=boolean(data, "passed"),
        checks=tuple(dict(check) for check in objects(data, "checks")),
        policy=dict(member(data, "policy")),
        policy_digest=_str(data, "policy_digest"),
        evaluated_at=_int(data, "evaluated_at"),
        against=_opt_int(data, "against"),
        dataset=_opt_str(data, "dataset"),
        actor=_opt_str(data, "actor"),
    )


model_approval_from_json = EntityDecoder(ModelApproval)
