"""Prediction ids a model server can recognise without remembering them.

A request's rows get ids ``PREFIX-0`` ... ``PREFIX-(n-1)``. A server registered as a
deployment mints 70-hex-digit prefixes: its deployment id (32), the model version that
answered (6), 20 random digits, the row count ``n`` (6) and a 6-digit check of all of these
keyed by the model's name. So an id leads back to the deployment and version that made it
(``loopml feedback`` needs no ``--model``), ids of different servers never collide, and any
server of the model tells an id it issued from a typo, an id of another model, or a row past
the end of its request, with no lookup:

>>> prefix = mint_prefix("cancer", 3, deployment="ab" * 16, version=2)
>>> is_issued("cancer", f"{prefix}-2"), is_issued("cancer", f"{prefix}-3")
(True, False)
>>> origin_of(f"{prefix}-0")
Origin(deployment='abababababababababababababababab', version=2)

A server without a deployment (no store) mints the older 32-digit prefixes: random (20),
count (6), check (6). It is a check against mistakes, not a signature: the key is the model's
name.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import NamedTuple

__all__ = ["MAX_ROWS_IN_ID", "Origin", "is_issued", "mint_prefix", "origin_of"]

MAX_ROWS_IN_ID = 0xFFFFFF
MAX_VERSION_IN_ID = 0xFFFFFF
_ID = re.compile(
    r"^((?:[0-9a-f]{32})(?:[0-9a-f]{6}))?([0-9a-f]{20})([0-9a-f]{6})([0-9a-f]{6})"
    r"-(0|[1-9][0-9]{0,7})$"
)
_DEPLOYMENT = re.compile(r"^[0-9a-f]{32}$")


class Origin(NamedTuple):
    """The deployment and model version a prediction id names."""

    deployment: str
    version: int


def mint_prefix(
    model: str, rows: int, *, deployment: str | None = None, version: int | None = None
) -> str:
    """A new prefix for a request of ``rows`` rows answered by ``version`` of ``model`` in
    ``deployment`` (a 32-hex-digit id; None: the short form, which names no origin)."""
    random = secrets.token_hex(10)
    count = f"{min(rows, MAX_ROWS_IN_ID):06x}"
    origin = ""
    if deployment is not None and _DEPLOYMENT.match(deployment):
        origin = f"{deployment}{min(version or 0, MAX_VERSION_IN_ID):06x}"
    return f"{origin}{random}{count}{_check(model, origin + random, count)}"


def is_issued(model: str, prediction_id: str) -> bool:
    """Whether ``prediction_id`` is one a server of ``model`` gave out."""
    found = _ID.match(prediction_id)
    if found is None:
        return False
    origin, random, count, check = found.group(1, 2, 3, 4)
    signed = (origin or "") + random
    return check == _check(model, signed, count) and int(found.group(5)) < int(count, 16)


def origin_of(prediction_id: str) -> Origin | None:
    """The deployment and version named by ``prediction_id`` (not checked: see
    :func:`is_issued`), None for a short-form or malformed id."""
    found = _ID.match(prediction_id)
    if found is None or found.group(1) is None:
        return None
    origin = found.group(1)
    return Origin(origin[:32], int(origin[32:], 16))


def _check(model: str, random: str, count: str) -> str:
    key = hashlib.blake2b(model.encode("utf-8"), digest_size=32).digest()
    return hashlib.blake2b(f"{random}{count}".encode(), key=key, digest_size=3).hexdigest()
