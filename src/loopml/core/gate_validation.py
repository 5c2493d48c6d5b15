"""Checks on gate results and approvals written to the model registry, shared by every backend
(the remote client runs them too, so JSON never has to carry what the stores would refuse)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from loopml.core.entities import GateResult
from loopml.core.errors import InvalidInputError
from loopml.core.model_validation import (
    MAX_VERSION,
    check_actor,
    check_model_name,
    check_model_version,
)

MAX_DATASET_REF_LENGTH = 255
MAX_COMMENT_LENGTH = 2000
MAX_DOCUMENT_CHARS = 1_000_000  # checks and policy, each as JSON
_GATE_ID = re.compile(r"[0-9a-f]{32}")
_POLICY_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def validate_gate_result(result: object) -> GateResult:
    """``result`` checked, its JSON as plain dicts and lists (``actor`` as given)."""
    if not isinstance(result, GateResult):
        raise InvalidInputError(f"Expected a GateResult. Got {result!r:.80} instead.")
    name = check_model_name(result.model)
    where = f"of the gate result of model {name!r}"
    if not isinstance(result.id, str) or not _GATE_ID.fullmatch(result.id):
        raise InvalidInputError(
            f"The id {where} must be 32 lowercase hex characters (loopml.core.ids.new_id()). "
            f"Got {result.id!r:.80} instead."
        )
    if not isinstance(result.passed, bool):
        raise InvalidInputError(
            f"The passed flag {where} must be a bool. Got {result.passed!r:.80} instead."
        )
    if not isinstance(result.policy_digest, str) or not _POLICY_DIGEST.fullmatch(
        result.policy_digest
    ):
        raise InvalidInputError(
            f"The policy_digest {where} must be 'sha256:' and 64 lowercase hex characters. Got "
            f"{result.policy_digest!r:.80} instead."
        )
    evaluated_at = result.evaluated_at
    if (
        isinstance(evaluated_at, bool)
        or not isinstance(evaluated_at, int)
        or not 0 <= evaluated_at < 2**63
    ):
        raise InvalidInputError(
            f"The evaluated_at {where} must be an integer number of milliseconds since the "
            f"epoch (>= 0). Got {evaluated_at!r:.80} instead."
        )
    if isinstance(result.checks, str | bytes | Mapping) or not isinstance(result.checks, Sequence):
        raise InvalidInputError(
            f"The checks {where} must be a list of JSON objects. Got {result.checks!r:.80} instead."
        )
    checks = tuple(_check(f"checks[{i}] {where}", c) for i, c in enumerate(result.checks))
    if result.passed is not gate_verdict(checks):
        raise InvalidInputError(
            f"The passed flag {where} must be what its checks say: passed when every check "
            f"passed ({gate_verdict(checks)} here). Got {result.passed!r} instead."
        )
    return GateResult(
        id=result.id,
        model=name,
        version=check_model_version(name, result.version),
        passed=result.passed,
        checks=checks,
        policy=_json_object(f"policy {where}", result.policy),
        policy_digest=result.policy_digest,
        evaluated_at=evaluated_at,
        against=_against(where, result.against),
        dataset=_dataset(where, result.dataset),
        actor=check_actor(result.actor),
    )


def gate_verdict(checks: Sequence[Mapping[str, Any]]) -> bool:
    """A gate passes when every one of its checks passed (none: nothing failed). The one rule
    :func:`loopml.models.gates.gate` computes a result by and every store holds a stored one
    to, so a client cannot store a passed gate over a failed check."""
    return all(check["passed"] for check in checks)


def _check(what: str, value: object) -> dict[str, Any]:
    """One check of a gate: a JSON object with at least a ``name`` (text) and whether it
    ``passed`` (a bool), which promotion reads."""
    check = _json_object(what, value)
    if not isinstance(check.get("name"), str) or not isinstance(check.get("passed"), bool):
        raise InvalidInputError(
            f"The {what} must name the check ('name': text) and say whether it passed "
            f"('passed': true or false). Got {value!r:.80} instead."
        )
    return check


def check_comment(comment: object) -> str:
    """The comment of an approval: at most 2000 characters, without NUL."""
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_LENGTH or "\x00" in comment:
        raise InvalidInputError(
            f"The comment of an approval must be a string of at most {MAX_COMMENT_LENGTH} "
            f"characters without NUL. Got {comment!r:.80} instead."
        )
    return comment


def _json_object(what: str, value: object) -> dict[str, Any]:
    """``value`` as decoded JSON, so what is stored is what is read back."""
    try:
        if not isinstance(value, Mapping):
            raise TypeError("it is not an object")
        text = json.dumps(dict(value), allow_nan=False)
        if len(text) > MAX_DOCUMENT_CHARS:
            raise ValueError(f"it is {len(text)} characters long as JSON")
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"The {what} must be a JSON object (strings, numbers, booleans, null, lists, "
            f"objects; no NaN or infinity) of at most {MAX_DOCUMENT_CHARS} characters ({exc}). "
            f"Got {value!r:.80} instead."
        ) from exc
    decoded: dict[str, Any] = json.loads(text)
    return decoded


def _against(where: str, version: object) -> int | None:
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version <= MAX_VERSION:
        raise InvalidInputError(
            f"The against {where} must be the champion's version number (a positive integer) "
            f"or None. Got {version!r:.80} instead."
        )
    return version


def _dataset(where: str, dataset: object) -> str | None:
    if dataset is not None and (
        not isinstance(dataset, str)
        or not dataset
        or len(dataset) > MAX_DATASET_REF_LENGTH
        or "\x00" in dataset
    ):
        raise InvalidInputError(
            f"The dataset {where} must be a dataset version ('NAME@N', at most "
            f"{MAX_DATASET_REF_LENGTH} characters) or None. Got {dataset!r:.80} instead."
        )
    return dataset
