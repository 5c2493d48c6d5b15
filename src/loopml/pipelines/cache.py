"""Cache keys: a step call's output is reused when the same code ran with the same params on
the same inputs in the same environment.

``key = BLAKE3(canonical JSON of {step code, step name, params, inputs, environment})``, where an
input is the digest of the tree another step's output was stored as, or the canonical JSON of
a plain value. The code is the step function's source (its bytecode when there is no source),
so editing a step invalidates its cached outputs and, through the digests, everything after.
"""

from __future__ import annotations

import inspect
import json
import platform
from collections.abc import Mapping, Sequence
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.core.hashing import hash_bytes
from loopml.core.version import __version__
from loopml.pipelines.definitions import Step

__all__ = ["CACHE_KEY_TAG", "cache_key", "code_fingerprint", "environment"]

CACHE_KEY_TAG = "loopml.cache_key"


def code_fingerprint(step: Step[Any, Any]) -> str:
    """The digest of the step function's source (or bytecode)."""
    try:
        code = inspect.getsource(step.fn).encode("utf-8")
    except (OSError, TypeError):  # defined in a REPL or built dynamically
        code = step.fn.__code__.co_code if hasattr(step.fn, "__code__") else repr(step.fn).encode()
    return hash_bytes(code).hexdigest


def environment() -> dict[str, str]:
    """What else decides a step's output: the Python and loopml versions."""
    return {"python": platform.python_version(), "loopml": __version__}


def cache_key(
    step: Step[Any, Any],
    params: Mapping[str, Any],
    inputs: Sequence[str],
    env: Mapping[str, str],
) -> str:
    """The key of one call; ``inputs`` are input digests or canonical JSON of plain values."""
    document = {
        "step": step.name,
        "code": code_fingerprint(step),
        "params": dict(params),
        "inputs": list(inputs),
        "environment": dict(env),
    }
    return hash_bytes(canonical_json(document).encode("utf-8")).hexdigest


def canonical_json(value: object) -> str:
    """Sorted keys, no spaces; refuses values that have no JSON form (with the reason)."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"A plain input or param of a step must be JSON-like to be part of its cache key: "
            f"{exc}. Pass it as the output of a step instead."
        ) from exc
