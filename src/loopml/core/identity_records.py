"""The records of identity and access: users, API tokens and role bindings, and the token
format every backend shares.

A token is ``lml_<id>_<secret>``: ``id`` (16 hex characters) finds its row with one indexed
read; ``secret`` (256 random bits, URL-safe base64) is never stored, only
HMAC-SHA256(salt, secret) with a random per-token salt, compared in constant time. The whole
token is shown once, when it is created.

>>> parse_token("lml_0123456789abcdef_" + "A" * 43).token_id
'0123456789abcdef'
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from loopml.core.errors import InvalidInputError, UnauthenticatedError
from loopml.core.record_checks import matching_name, one_of
from loopml.core.roles import ALL_PROJECTS, Role

TOKEN_PREFIX = "lml"
MAX_LABEL_LENGTH = 200
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,99}$")
_PROJECT = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9_.\-]{0,99})$")
_TOKEN = re.compile(r"^lml_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class User:
    """Someone who may hold tokens; a disabled user's tokens stop working at once."""

    name: str
    created_at: int
    disabled_at: int | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True, slots=True)
class RoleBinding:
    """``user`` holds ``role`` in ``project`` (``*``: every project)."""

    user: str
    project: str
    role: Role


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What the store keeps about a token: never its secret. Times in ms on the store's
    clock; ``last_used_at`` is updated at most once a minute (see ``LAST_USED_PRECISION_MS``)."""

    id: str
    user: str
    label: str
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None

    def state_at(self, now: int) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: ``secret`` is the whole token, shown to its owner once."""

    info: TokenInfo
    secret: str

    def __repr__(self) -> str:  # never show the secret
        return f"IssuedToken(info={self.info!r}, secret='***')"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token belongs to and the roles they hold, in every project."""

    user: str
    token_id: str
    bindings: tuple[RoleBinding, ...]
    expires_at: int | None = None

    def roles_in(self, project: str) -> frozenset[Role]:
        return frozenset(b.role for b in self.bindings if b.project in (project, ALL_PROJECTS))


@dataclass(frozen=True, slots=True)
class TokenParts:
    token_id: str
    secret: str


LAST_USED_PRECISION_MS = 60_000


def check_user_name(name: object) -> str:
    rule = "A user name is 1–100 letters, digits and _ . @ - (starting with a letter or digit)"
    return matching_name(name, _USER, rule, shown=60)


def check_project(project: object) -> str:
    rule = "A project is '*' (every project) or 1–100 letters, digits and _ . -"
    return matching_name(project, _PROJECT, rule, shown=60)


def check_role(role: object) -> Role:
    return one_of(Role, "role", role)


def check_label(label: object) -> str:
    if not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH or "\n" in label:
        raise InvalidInputError(
            f"A token label is one line of at most {MAX_LABEL_LENGTH} characters."
        )
    return label


def check_token_id(token_id: object) -> str:
    rule = "A token id is 16 hex characters (as 'loopml tokens list' shows)"
    return matching_name(token_id, _TOKEN_ID, rule, shown=40)


def check_expires_in_ms(expires_in_ms: object) -> int | None:
    if expires_in_ms is None:
        return None
    if isinstance(expires_in_ms, bool) or not isinstance(expires_in_ms, int) or expires_in_ms < 1:
        raise InvalidInputError(
            f"expires_in_ms must be a positive whole number of ms, got {expires_in_ms!r:.40}."
        )
    return expires_in_ms


def new_token() -> tuple[TokenParts, str]:
    """A new token's parts and its whole text."""
    parts = TokenParts(secrets.token_hex(8), secrets.token_urlsafe(32))
    return parts, f"{TOKEN_PREFIX}_{parts.token_id}_{parts.secret}"


def parse_token(token: str) -> TokenParts:
    """The id and secret of ``token``; UnauthenticatedError (never echoing it) if it is not
    a loopml token."""
    found = _TOKEN.match(token)
    if found is None:
        raise UnauthenticatedError(
            "The token is not a loopml API token (lml_…); create one with 'loopml tokens create'."
        )
    return TokenParts(found.group(1), found.group(2))


def new_salt() -> str:
    return secrets.token_hex(16)


def hash_secret(salt: str, secret: str) -> str:
    """HMAC-SHA256 of the secret under the token's salt, hex (what the store keeps)."""
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def secret_matches(salt: str, secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(salt, secret), stored_hash)


def token_refused(reason: str) -> UnauthenticatedError:
    """The one 401 a bad token gets (unknown, wrong secret, expired, revoked, disabled user):
    says which, so the caller knows to ask for a new token."""
    return UnauthenticatedError(f"The API token is {reason}; ask an admin for a new one.")
