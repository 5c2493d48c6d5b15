"""Checks on what a caller wants written to the model registry, shared by every backend (the
remote client runs them too, so JSON never has to carry what the stores would refuse)."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from loopml.core.entities import MAX_NAME_LENGTH, ModelVersion
from loopml.core.errors import InvalidInputError
from loopml.core.hashing import Digest
from loopml.core.refs import check_alias
from loopml.core.validation import validate_key, validate_ref_name, validate_value

MAX_FLAVOR_LENGTH = 64
MAX_VERSION = 2**31 - 1
MAX_REQUIREMENT_LENGTH = 1000
MAX_DESCRIPTION_LENGTH = 100_000
MAX_REASON_LENGTH = 10_000
MAX_SIGNATURE_CHARS = 1_000_000
# how a forced alias move's reason starts in the alias history; the remote store sends such a
# move to the platform server as ``force: true`` with the rest of the reason
FORCED_REASON = "forced: "


def check_model_name(name: object) -> str:
    """A model name: the rules of dataset names (1–250 letters, digits, ``_ - .``)."""
    return validate_ref_name("model", name)


def check_model_version(model: str, version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version <= MAX_VERSION:
        raise InvalidInputError(
            f"The version of model {model!r} must be a positive integer. Got {version!r:.80} "
            "instead."
        )
    return version


def check_alias_name(alias: object) -> str:
    """An alias: 1–64 letters, digits, ``_`` or ``-``, starting with a letter, not 'latest'."""
    if not isinstance(alias, str):
        raise InvalidInputError(f"An alias must be a string. Got {alias!r:.80} instead.")
    return check_alias(alias)


def check_reason(reason: object) -> str:
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH or "\x00" in reason:
        raise InvalidInputError(
            f"The reason of an alias change must be a string of at most {MAX_REASON_LENGTH} "
            f"characters without NUL. Got {reason!r:.80} instead."
        )
    return reason


def split_forced(reason: str) -> tuple[bool, str]:
    """Whether ``reason`` marks a forced move (see :data:`FORCED_REASON`), and the reason
    without the mark."""
    if reason.startswith(FORCED_REASON):
        return True, reason[len(FORCED_REASON) :]
    return False, reason


def check_actor(actor: object) -> str | None:
    """Who made a change (an alias move, a gate result, an approval): None, or 1–250
    characters without NUL."""
    return None if actor is None else _short_text("actor", actor)


def _short_text(what: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH or "\x00" in value:
        raise InvalidInputError(
            f"The {what} must be a non-empty string of at most {MAX_NAME_LENGTH} characters "
            f"without NUL, or None. Got {value!r:.80} instead."
        )
    return value


def validate_model_version(new: object) -> ModelVersion:
    """``new`` checked and normalised (the digest as ``blake3:…``, collections as plain dicts
    and tuples); its ``version`` is ignored (0)."""
    if not isinstance(new, ModelVersion):
        raise InvalidInputError(f"Expected a ModelVersion. Got {new!r:.80} instead.")
    name = check_model_name(new.model)
    where = f"of model {name!r}"
    if not isinstance(new.description, str) or len(new.description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInputError(
            f"The description {where} must be a string of at most {MAX_DESCRIPTION_LENGTH} "
            f"characters. Got {new.description!r:.80} instead."
        )
    return ModelVersion(
        model=name,
        version=0,
        flavor=_flavor(where, new.flavor),
        tree_digest=_digest(where, new.tree_digest),
        created_at=_time(where, new.created_at),
        run_id=_run_id(where, new.run_id),
        signature=_signature(where, new.signature),
        metrics=_metrics(where, new.metrics),
        datasets=_strings(where, "datasets", new.datasets, _dataset_ref),
        requirements=_strings(where, "requirements", new.requirements, _requirement),
        description=new.description,
        tags=_tags(name, new.tags),
        created_by=None
        if new.created_by is None
        else _short_text(f"created_by {where}", new.created_by),
    )


def validate_model_tag(model: str, key: object, value: object) -> tuple[str, str]:
    """A tag of a model version: keys and values as for run tags."""
    tag_key = validate_key("tag", key)
    if not isinstance(value, str):
        raise InvalidInputError(
            f"The value of tag {tag_key!r} of model {model!r} must be a string. Got "
            f"{value!r:.80} instead."
        )
    return tag_key, validate_value("tag", tag_key, value)


def _flavor(where: str, flavor: object) -> str:
    if not isinstance(flavor, str) or not flavor.strip() or len(flavor) > MAX_FLAVOR_LENGTH:
        raise InvalidInputError(
            f"The flavor {where} must be a non-empty string of at most {MAX_FLAVOR_LENGTH} "
            f"characters (e.g. 'sklearn', 'onnx'). Got {flavor!r:.80} instead."
        )
    return flavor


def _digest(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(
            f"The tree_digest {where} must be a digest string ('blake3:' and 64 hex "
            f"characters). Got {value!r:.80} instead."
        )
    try:
        return str(Digest.parse(value))
    except InvalidInputError as exc:
        raise InvalidInputError(f"The tree_digest {where} is invalid: {exc}") from exc


def _time(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidInputError(
            f"The created_at {where} must be an integer number of milliseconds since the "
            f"epoch (>= 0). Got {value!r:.80} instead."
        )
    return value


def _run_id(where: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidInputError(
            f"The run_id {where} must be a non-empty run id or None. Got {value!r:.80} instead."
        )
    return value


def _signature(where: str, signature: object) -> dict[str, Any] | None:
    if signature is None:
        return None
    try:
        if not isinstance(signature, Mapping):
            raise TypeError("it is not a mapping")
        text = json.dumps(dict(signature), allow_nan=False)
        if len(text) > MAX_SIGNATURE_CHARS:
            raise ValueError(f"it is {len(text)} characters long as JSON")
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"The signature {where} must be a JSON object (strings, numbers, booleans, null, "
            f"lists, objects; no NaN or infinity) of at most {MAX_SIGNATURE_CHARS} characters, "
            f"or None ({exc}). Got {signature!r:.80} instead."
        ) from exc
    decoded: dict[str, Any] = json.loads(text)
    return decoded


def _metrics(where: str, metrics: object) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        raise InvalidInputError(
            f"The metrics {where} must be a mapping of key to number. Got {metrics!r:.80} instead."
        )
    checked: dict[str, float] = {}
    for key, value in metrics.items():
        name = validate_key("metric", key)
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value))
        ):
            raise InvalidInputError(
                f"The metric {name!r} {where} must be a finite number (int or float; no NaN or "
                f"infinity). Got {value!r:.80} instead."
            )
        checked[name] = float(value)
    return checked


def _tags(model: str, tags: object) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise InvalidInputError(
            f"The tags of model {model!r} must be a mapping of key to string. Got {tags!r:.80} "
            "instead."
        )
    return dict(validate_model_tag(model, key, value) for key, value in tags.items())


def _strings(
    where: str, what: str, values: object, check: Callable[[str, object], str]
) -> tuple[str, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise InvalidInputError(
            f"The {what} {where} must be a list of strings. Got {values!r:.80} instead."
        )
    return tuple(check(where, value) for value in values)


def _dataset_ref(where: str, value: object) -> str:
    name, sep, version = value.partition("@") if isinstance(value, str) else ("", "", "")
    if sep and name and version.isascii() and version.isdigit() and int(version) > 0:
        validate_ref_name("dataset", name)
        return f"{name}@{int(version)}"
    raise InvalidInputError(
        f"The datasets {where} must be dataset versions written 'NAME@N' (e.g. 'iris@3'). Got "
        f"{value!r:.80} instead."
    )


def _requirement(where: str, value: object) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_REQUIREMENT_LENGTH
        or any(c in value for c in "\x00\r\n")
    ):
        raise InvalidInputError(
            f"The requirements {where} must be pip requirement lines (one line each, 1 to "
            f"{MAX_REQUIREMENT_LENGTH} characters). Got {value!r:.80} instead."
        )
    return value
