"""Request bodies sent compressed (``Content-Encoding: gzip``), decompressed with a limit so a
small body cannot expand past ``--max-body-bytes`` (a "zip bomb")."""

from __future__ import annotations

import zlib

from loopml.core.errors import InvalidInputError
from loopml.serving.errors import PayloadTooLargeError, UnsupportedMediaTypeError

__all__ = ["decode_body"]

_GZIP, _DEFLATE = zlib.MAX_WBITS | 16, zlib.MAX_WBITS
_WBITS = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": _DEFLATE}
_STEP = 1024 * 1024


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """``body`` with its ``Content-Encoding`` undone (gzip or deflate, possibly listed several
    times); PayloadTooLargeError (413) once it decompresses to more than ``limit`` bytes."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):  # the last applied is undone first
        if coding == "identity":
            continue
        if coding not in _WBITS:
            raise UnsupportedMediaTypeError(
                f"Content-Encoding {coding!r} is not supported; send the body as it is, or "
                "compressed with gzip or deflate."
            )
        body = _inflate(body, coding, limit)
    return body


def _inflate(body: bytes, coding: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(_WBITS[coding])
    parts: list[bytes] = []
    size = 0
    pending = body
    try:
        while pending:
            part = inflater.decompress(pending, _STEP)
            pending = inflater.unconsumed_tail
            size += len(part)
            if size > limit:
                raise PayloadTooLargeError(
                    f"The {coding} body expands to more than {limit} bytes; this server takes "
                    "at most that many per request (--max-body-bytes). Send fewer rows."
                )
            parts.append(part)
            if inflater.eof:
                break
        if not inflater.eof:
            raise zlib.error("the compressed data ends early")
    except zlib.error as exc:
        raise InvalidInputError(
            f"The body is not valid {coding} data (Content-Encoding: {coding}): {exc}."
        ) from exc
    return b"".join(parts)
