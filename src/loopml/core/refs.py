"""References as people type them: datasets (``iris``, ``iris@3``, ``iris@latest``) and models
(``churn@3``, ``churn@champion``, ``models:/churn@champion``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


# -- models ----------------------------------------------------------------------------------

MODELS_SCHEME = "models:/"
_MODEL_FORMS = (
    "'NAME' (the newest version), 'NAME@3', 'NAME@latest', 'NAME@ALIAS' (e.g. "
    "'churn@champion'), or the same after 'models:/'"
)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed model reference: the model and either a version, an alias, or neither (the
    newest version)."""

    model: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.model}@{self.alias}"
        return self.model if self.version is None else f"{self.model}@{self.version}"


def parse_model_ref(text: str) -> ModelRef:
    """A model reference as people type it.

    >>> parse_model_ref("models:/churn/3").version, parse_model_ref("churn@champion").alias
    (3, 'champion')
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"Invalid model reference {text!r}: write {_MODEL_FORMS}.")
    body = text[len(MODELS_SCHEME) :] if text.startswith(MODELS_SCHEME) else text
    name, sep, rest = body.partition("@")
    if "/" in name and not sep:  # MLflow's models:/NAME/3 form
        name, _, rest = name.partition("/")
        sep = "@" if rest else ""
    if not name:
        raise InvalidInputError(f"Invalid model reference {text!r}: the name is empty. Write "
                                f"{_MODEL_FORMS}.")  # fmt: skip
    check_dataset_name(name)  # model names follow the same rules
    if not sep or rest.lower() == LATEST:
        return ModelRef(name)
    if rest.isascii() and rest.isdigit():
        if int(rest) < 1:
            raise InvalidInputError(f"Invalid model reference {text!r}: versions start at 1.")
        return ModelRef(name, version=int(rest))
    return ModelRef(name, alias=check_alias(rest))


_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def check_alias(alias: str) -> str:
    """``alias`` if it can name an alias: 1–64 letters, digits, '_' or '-', starting with a
    letter, and not 'latest' (which always means the newest version)."""
    if not isinstance(alias, str) or not _ALIAS.match(alias) or alias.lower() == LATEST:
        raise InvalidInputError(
            f"Invalid alias {alias!r}: use 1-64 letters, digits, '_' or '-', starting with a "
            "letter (e.g. 'champion'); 'latest' is reserved for the newest version."
        )
    return alias
