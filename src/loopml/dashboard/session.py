"""The browser session of the dashboard under ``loopml server --auth``: the cookie that
carries the API token a person signed in with, and the CSRF value bound to it.

A browser cannot send ``Authorization: Bearer``, so ``/ui/login`` puts the token in an
HttpOnly, SameSite=Strict cookie and the server's one authorization dependency reads it when
no Bearer header is sent. A request authenticated by the cookie with an unsafe method must
also carry :data:`CSRF_HEADER` (or the :data:`CSRF_FIELD` form field) equal to
:func:`csrf_value` of the token: a value a page of the dashboard holds (``base.html`` puts
it in a ``<meta>`` and in htmx's headers) and another site cannot read or compute.

Pure functions only: the servers import this module, it imports neither.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "csrf_matches",
    "csrf_value",
    "form_field",
    "safe_next",
]

SESSION_COOKIE = "loopml_session"
CSRF_HEADER = "X-LoopML-CSRF"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
MAX_NEXT_LENGTH = 2000
_CSRF_CONTEXT = b"loopml dashboard csrf v1"


def csrf_value(token: str) -> str:
    """The CSRF value of the session holding ``token``: an HMAC keyed by the token, so it is
    the same on every replica and after a restart, proves nothing without the cookie, and
    gives the token away to no one who reads it from a page."""
    return hmac.new(token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def csrf_matches(token: str, sent: str | None) -> bool:
    """Whether ``sent`` (the header or form field) is the session's CSRF value."""
    return sent is not None and hmac.compare_digest(csrf_value(token), sent)


def form_field(body: bytes, name: str) -> str | None:
    """The first value of ``name`` in an ``application/x-www-form-urlencoded`` body."""
    try:
        values = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return None
    found = values.get(name)
    return found[0] if found else None


def safe_next(target: str | None, home: str) -> str:
    """Where to go after signing in: ``target`` when it is a path on this site under the
    dashboard (``home``, such as ``/ui/``), else ``home``. Refuses absolute and
    scheme-relative URLs (``https://evil``, ``//evil``, ``/\\evil``), control characters and
    paths outside the dashboard, so the login page cannot send anyone elsewhere."""
    if not target or len(target) > MAX_NEXT_LENGTH:
        return home
    if "\\" in target or any(ord(char) < 0x21 or ord(char) == 0x7F for char in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return home
    prefix = home.rstrip("/")
    if parts.path != prefix and not parts.path.startswith(prefix + "/"):
        return home
    return target
