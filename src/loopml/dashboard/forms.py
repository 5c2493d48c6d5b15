"""Reading the dashboard's posted forms (``application/x-www-form-urlencoded``, what a plain
``<form method="post">`` and htmx send) without a multipart parser: bounded, every problem an
:class:`InvalidInputError` (400) naming the field."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from loopml.core.errors import InvalidInputError

__all__ = ["FORM_TYPE", "MAX_FORM_BYTES", "form_number", "form_text", "read_form"]

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16_384
MAX_FIELDS = 20


async def read_form(request: Request) -> dict[str, str]:
    """The posted form's fields (the last value of each)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise InvalidInputError(f"Send the form as {FORM_TYPE} (got {kind or 'no body type'!r}).")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInputError(f"The form is larger than {MAX_FORM_BYTES} bytes.")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(f"The form could not be read: {exc}.") from exc
    return {key: values[-1] for key, values in fields.items()}


def form_number(form: dict[str, str], key: str) -> int:
    """The field ``key`` as a version number (1, 2, …)."""
    text = form.get(key, "").strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"The form's {key!r} must be a version number (1, 2, …).")
    return int(text)


def form_text(form: dict[str, str], key: str, limit: int) -> str:
    """The field ``key``, stripped, at most ``limit`` characters (absent: empty)."""
    text = form.get(key, "").strip()
    if len(text) > limit:
        raise InvalidInputError(f"The form's {key!r} is longer than {limit} characters.")
    return text
