"""Opaque page tokens and result-size bounds for the listings of the SQL store.

A token is URL-safe base64 of a small JSON object: which listing it belongs to, a position
(an offset, or the last id seen) and a fingerprint of the query, so a token passed to a
different query is refused instead of silently skipping results.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from loopml.core.errors import InvalidInputError
from loopml.core.query_limits import check_max_results as check_max_results


def fingerprint(*parts: object) -> str:
    """A short digest of the query a token belongs to."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(kind: str, position: int, query: str = "") -> str:
    payload = json.dumps({"k": kind, "p": position, "q": query}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str | None, kind: str, query: str = "") -> int:
    """The position stored in ``token`` (0 for no token); :class:`InvalidInputError` if bad."""
    if token is None or token == "":
        return 0
    bad = InvalidInputError(
        f"Invalid page_token {str(token)[:40]!r}: pass back the next_page_token of the "
        "previous page of the same query, unchanged."
    )
    if not isinstance(token, str) or len(token) > 1000:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise bad from exc
    if not isinstance(data, dict) or data.get("k") != kind or data.get("q") != query:
        raise bad
    position = data.get("p")
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise bad
    return position
