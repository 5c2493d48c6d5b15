"""One way to show a URI without its credentials, used wherever a URI is printed, logged or
put in an error: the banner of ``loopml server``, store reprs, configuration errors.

Credentials hide in two places: the userinfo (``user:secret@host``) and query parameters
(``?password=…``, ``?sslpassword=…``, ``?aws_secret_access_key=…``, ``?token=…``). Both are
replaced by ``***``; the rest of the URI is kept so the message still says which store.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"
# a query parameter whose name contains one of these holds a credential
SECRET_PARAMETER_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "signature",
    "auth",
)


def is_secret_parameter(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_PARAMETER_WORDS)


def redact_uri(uri: str | None) -> str:
    """``uri`` with its password and secret query values replaced by ``***``.

    >>> redact_uri("postgresql://ana:pw@db/ml?sslmode=require&password=pw")
    'postgresql://ana:***@db/ml?sslmode=require&password=***'
    """
    if not uri:
        return ""
    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:  # e.g. an unbalanced IPv6 bracket: show nothing of it
        return "<unparsable URI>"
    netloc, query = parts.netloc, parts.query
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{host}"
    if query:
        query = _redact_query(query)
    if (netloc, query) == (parts.netloc, parts.query):
        return uri
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(is_secret_parameter(name) for name, _ in pairs):
        return query
    return "&".join(
        f"{quote(name, safe='')}={MASK if is_secret_parameter(name) else quote(value, safe='')}"
        for name, value in pairs
    )
