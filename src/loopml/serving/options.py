"""How a model server runs: batching, limits and polling — one frozen value, checked once,
that travels to worker processes as JSON (it holds no secrets)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.monitoring.sensitive_columns import (
    InputRedaction,
    hash_key_from_env,
    parse_sensitive,
)
from loopml.serving.split import parse_split

__all__ = ["ServeOptions"]

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class ServeOptions:
    """``max_batch_size`` rows per model call; a batch smaller than the previous one waits up
    to ``max_wait_ms`` for more requests; requests hold at most ``max_rows`` rows and
    ``max_body_bytes`` bytes; the registry is asked every ``poll_seconds`` whether the alias
    moved; ``prefer_onnx`` serves a version's ONNX conversion when it has one.

    ``log_predictions`` logs every prediction to the store (spilled to the local spool every
    ``log_flush_seconds``, stored as a part every ``log_roll_seconds`` or ``log_roll_rows``;
    ``/health`` calls it stuck when rows wait ``log_stuck_seconds`` longer than that).
    ``canary`` (``"challenger:10%"``) or ``shadow`` (``"challenger"``) name a second alias of
    the served model and what it gets (see :mod:`loopml.serving.traffic`).

    A request's headers must arrive within ``header_timeout_seconds`` and its body within
    ``body_timeout_seconds`` (else 408); at most ``max_connections`` are open at once (None:
    as many as the file limit allows, less a reserve; see :mod:`loopml.serving.connections`).

    ``drift`` compares the last ``drift_window_rows`` rows of the main traffic with the served
    version's reference (its training data, or the table ``drift_reference`` names) every
    ``drift_interval_seconds``, off the request path (see :mod:`loopml.serving.live_drift`).

    ``sensitive`` names input columns the prediction log must not hold as they are:
    ``"ssn"`` or ``"ssn:drop"`` (left out), ``"email:hash"`` (a keyed hash; the key from
    ``LOOPML_LOG_HASH_KEY_FILE``), see :mod:`loopml.monitoring.sensitive_columns`.

    ``trust_code`` lets the server load versions whose loading runs code they name (pickles,
    ``module:callable`` models, scikit-learn types outside loopml's allowlist) — decided once,
    at start-up: a version the alias moves to later is held to it."""

    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    max_rows: int = 10_000
    max_body_bytes: int = 10 * MEGABYTE
    poll_seconds: float = 5.0
    prefer_onnx: bool = True
    log_predictions: bool = True
    log_flush_seconds: float = 1.0
    log_roll_seconds: float = 60.0
    log_roll_rows: int = 100_000
    log_stuck_seconds: float = 120.0
    canary: str | None = None
    shadow: str | None = None
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0
    max_connections: int | None = None
    trust_code: bool = False
    drift: bool = True
    drift_window_rows: int = 5_000
    drift_interval_seconds: float = 30.0
    drift_reference: str | None = None
    sensitive: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.sensitive, str) or not isinstance(self.sensitive, list | tuple):
            raise InvalidInputError(
                "The 'sensitive' option of the model server must be a list of "
                f"'COLUMN[:drop|hash]'. Got {self.sensitive!r} instead."
            )
        parse_sensitive(self.sensitive)
        object.__setattr__(self, "sensitive", tuple(self.sensitive))
        for name in (
            "max_batch_size", "max_rows", "max_body_bytes", "log_roll_rows", "drift_window_rows"
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(
                    f"The '{name}' option of the model server must be a whole number ≥ 1. "
                    f"Got {value!r} instead."
                )
        if not isinstance(self.max_wait_ms, int | float) or not 0 <= self.max_wait_ms <= 1000:
            raise InvalidInputError(
                "The 'max_wait_ms' option of the model server must be a number of "
                f"milliseconds from 0 to 1000. Got {self.max_wait_ms!r} instead."
            )
        if not isinstance(self.poll_seconds, int | float) or self.poll_seconds < 0.05:
            raise InvalidInputError(
                "The 'poll_seconds' option of the model server must be a number of seconds "
                f"≥ 0.05. Got {self.poll_seconds!r} instead."
            )

        if self.max_connections is not None and (
            isinstance(self.max_connections, bool)
            or not isinstance(self.max_connections, int)
            or self.max_connections < 1
        ):
            raise InvalidInputError(
                "The 'max_connections' option of the model server must be a whole number ≥ 1 "
                f"(or None: from the file limit). Got {self.max_connections!r} instead."
            )
        for name, low in (
            ("log_flush_seconds", 0.01),
            ("log_roll_seconds", 0.1),
            ("log_stuck_seconds", 0.1),
            ("header_timeout_seconds", 0.1),
            ("body_timeout_seconds", 0.1),
            ("drift_interval_seconds", 0.05),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
                raise InvalidInputError(
                    f"The '{name}' option of the model server must be a number of seconds "
                    f"≥ {low}. Got {value!r} instead."
                )
        parse_split(canary=self.canary, shadow=self.shadow)

    def input_redaction(self) -> InputRedaction | None:
        """What the prediction log does to the ``sensitive`` columns (None: nothing to do);
        :class:`ConfigError` if a column is to be hashed and no hash key is configured."""
        if not self.sensitive:
            return None
        return InputRedaction(parse_sensitive(self.sensitive), hash_key_from_env())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        data: dict[str, Any] = json.loads(text)
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})
