"""The JSON wire format shared by the server and the remote client.

JSON has no NaN or infinity, but metrics may hold them: a float travels as a JSON number when
finite and as one of the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` otherwise, in both
directions. Entities are decoded here so that every remote store builds them the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from loopml.core.entities import ArtifactEntry, Event, Experiment, Metric, Run, RunStatus
from loopml.core.errors import LoopMLError

NON_FINITE: dict[str, float] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

JsonObject = Mapping[str, object]


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
    )
