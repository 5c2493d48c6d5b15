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

import sqlalchemy as sa

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


# keyset pages: the token holds the sort key of the last item listed, so a listing resumes
# after it with an indexed seek (never an OFFSET), and rows added before it do not shift it
Key = list[str | int]


def encode_key(kind: str, key: Key, query: str = "") -> str:
    payload = json.dumps({"k": kind, "a": key, "q": query}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_key(
    token: str | None, kind: str, shape: tuple[type, ...], query: str = ""
) -> Key | None:
    """The key stored in ``token`` (None for no token), its items of the types in ``shape``;
    :class:`InvalidInputError` if the token is not one this listing handed out."""
    if token is None or token == "":
        return None
    bad = InvalidInputError(
        f"Invalid page_token {str(token)[:40]!r}: pass back the next_page_token of the "
        "previous page of the same query, unchanged."
    )
    if not isinstance(token, str) or len(token) > 4000:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise bad from exc
    if not isinstance(data, dict) or data.get("k") != kind or data.get("q") != query:
        raise bad
    key = data.get("a")
    if not isinstance(key, list) or len(key) != len(shape):
        raise bad
    for item, kind_of in zip(key, shape, strict=True):
        if isinstance(item, bool) or not isinstance(item, kind_of):
            raise bad
        if isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise bad
        if isinstance(item, str) and ("\x00" in item or len(item) > 1000):
            raise bad
    return key


def code_point_order(column: sa.ColumnElement[str], conn: sa.Connection) -> sa.ColumnElement[str]:
    """``column`` compared and sorted by code point on every backend: SQLite's BINARY does;
    so does a PostgreSQL database created with the C collation, where the column is used as
    is (so its index serves the seek). Under another collation it is ``COLLATE "C"``: the
    same order, but a sort of the rows the other conditions select (an index over
    ``column COLLATE "C"`` would serve it)."""
    if conn.dialect.name != "postgresql":
        return column
    byte_order = conn.info.get(_BYTE_ORDER)  # kept with the pooled DBAPI connection
    if byte_order is None:
        byte_order = bool(conn.execute(_DATABASE_IS_C).scalar())
        conn.info[_BYTE_ORDER] = byte_order
    return column if byte_order else column.collate("C")


_BYTE_ORDER = "loopml.collation_is_c"
_DATABASE_IS_C = sa.text(
    "SELECT datcollate IN ('C', 'POSIX') FROM pg_database WHERE datname = current_database()"
)
