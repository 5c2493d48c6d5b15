"""Dataset references as people type them: ``iris``, ``iris@3``, ``iris@latest``."""

from __future__ import annotations

from loopml.core.errors import InvalidInputError
from loopml.core.validation import validate_name

LATEST = "latest"
_FORMS = "'NAME', 'NAME@latest' or 'NAME@3' (a version number from 1)"


def check_dataset_name(name: str) -> str:
    """``name`` if it can name a dataset: non-empty, at most 250 characters, no '@' or '/'."""
    validate_name("dataset", name)
    if "@" in name or "/" in name or name != name.strip():
        raise InvalidInputError(
            f"Invalid dataset name {name!r}: it must not contain '@' or '/' nor start or end "
            "with spaces ('@' separates the version in a reference such as 'iris@3')."
        )
    return name


def parse_dataset_ref(text: str) -> tuple[str, int | None]:
    """``(name, version)`` from a reference; version None means the newest.

    >>> parse_dataset_ref("iris@3"), parse_dataset_ref("iris@latest")
    (('iris', 3), ('iris', None))
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"Invalid dataset reference {text!r}: write {_FORMS}.")
    name, sep, version = text.partition("@")
    if not sep:
        return check_dataset_name(name), None
    if not name:
        raise InvalidInputError(
            f"Invalid dataset reference {text!r}: the name before '@' is empty. Write {_FORMS}."
        )
    if "@" in version:
        raise InvalidInputError(f"Invalid dataset reference {text!r}: it has more than one '@'.")
    if version.lower() == LATEST:
        return check_dataset_name(name), None
    if not version.isascii() or not version.isdigit() or int(version) < 1:
        raise InvalidInputError(
            f"Invalid dataset reference {text!r}: the version {version!r} is not a positive "
            f"whole number or 'latest'. Write {_FORMS}."
        )
    return check_dataset_name(name), int(version)


def format_dataset_ref(name: str, version: int) -> str:
    return f"{name}@{version}"
