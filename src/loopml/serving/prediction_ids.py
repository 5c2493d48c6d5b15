"""Prediction ids a model server can recognise without remembering them.

A request's rows get ids ``PREFIX-0`` ... ``PREFIX-(n-1)``; ``PREFIX`` is 32 hex digits: 20
random, the row count ``n`` (6), and a 6-digit check of both keyed by the model's name. So any
server of that model (another worker, or a server started after a restart, for labels that
arrive days later) tells an id it issued from a typo, an id of another model, or a row past the
end of its request, with no lookup:

>>> prefix = mint_prefix("cancer", 3)
>>> is_issued("cancer", f"{prefix}-2"), is_issued("cancer", f"{prefix}-3")
(True, False)

It is a check against mistakes, not a signature: the key is the model's name.
"""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["MAX_ROWS_IN_ID", "is_issued", "mint_prefix"]

MAX_ROWS_IN_ID = 0xFFFFFF
_ID = re.compile(r"^([0-9a-f]{20})([0-9a-f]{6})([0-9a-f]{6})-(0|[1-9][0-9]{0,7})$")


def mint_prefix(model: str, rows: int) -> str:
    """A new prefix for a request of ``rows`` rows answered by a version of ``model``."""
    random = secrets.token_hex(10)
    count = f"{min(rows, MAX_ROWS_IN_ID):06x}"
    return f"{random}{count}{_check(model, random, count)}"


def is_issued(model: str, prediction_id: str) -> bool:
    """Whether ``prediction_id`` is one a server of ``model`` gave out."""
    found = _ID.match(prediction_id)
    if found is None:
        return False
    random, count, check = found.group(1, 2, 3)
    return check == _check(model, random, count) and int(found.group(4)) < int(count, 16)


def _check(model: str, random: str, count: str) -> str:
    key = hashlib.blake2b(model.encode("utf-8"), digest_size=32).digest()
    return hashlib.blake2b(f"{random}{count}".encode(), key=key, digest_size=3).hexdigest()
