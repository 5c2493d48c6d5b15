"""Who owns a model and what it is for: the version tags ``loopml.owner`` and
``loopml.intended_use`` (set at registration with ``tags=``, or later with
``loopml models describe``), which model cards show.

A version without its own value takes the one of the newest earlier version that has one: a
model described once stays described as new versions are registered, and a version described
on its own keeps what was said about it.

>>> describe("churn", owner="risk@example.com", intended_use="Rank renewals.")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from loopml.core.entities import MAX_TAG_VALUE_LENGTH, ModelVersion
from loopml.core.errors import InvalidInputError
from loopml.tracking.client import Client, client_scope

__all__ = ["INTENDED_USE_TAG", "OWNER_TAG", "Description", "describe", "description_of"]

OWNER_TAG = "loopml.owner"
INTENDED_USE_TAG = "loopml.intended_use"


@dataclass(frozen=True)
class Description:
    """A version's owner and intended use, and the version each came from (None: unset)."""

    owner: str | None
    intended_use: str | None
    owner_from: int | None = None
    intended_use_from: int | None = None


def describe(
    name: str,
    version: int | None = None,
    *,
    owner: str | None = None,
    intended_use: str | None = None,
    client: Client | None = None,
) -> ModelVersion:
    """Set the owner and/or intended use of ``name@version`` (None: its newest version, so
    that later versions inherit them) and return the version as stored."""
    values = {OWNER_TAG: owner, INTENDED_USE_TAG: intended_use}
    chosen = {key: value.strip() for key, value in values.items() if value is not None}
    if not chosen:
        raise InvalidInputError("Nothing to set: give an owner, an intended use, or both.")
    for key, value in chosen.items():
        field = key.removeprefix("loopml.").replace("_", " ")
        if not value:
            raise InvalidInputError(f"The {field} must not be empty.")
        if len(value) > MAX_TAG_VALUE_LENGTH:
            raise InvalidInputError(
                f"The {field} is {len(value)} characters; at most {MAX_TAG_VALUE_LENGTH} are "
                "allowed."
            )
    with client_scope(client, create=False) as active:
        target = active.metadata.get_model_version(name, version)
        for key, value in chosen.items():
            active.metadata.set_model_version_tag(name, target.version, key, value)
        return active.metadata.get_model_version(name, target.version)


def description_of(version: ModelVersion, earlier: list[ModelVersion]) -> Description:
    """``version``'s description, each value from the version itself or else from the newest
    of ``earlier`` (versions of the same model, any order) that has it."""
    newest_first = sorted(
        (v for v in earlier if v.version < version.version), key=lambda v: -v.version
    )
    found: dict[str, tuple[str, int] | None] = {}
    for key in (OWNER_TAG, INTENDED_USE_TAG):
        found[key] = next(
            ((v.tags[key], v.version) for v in [version, *newest_first] if v.tags.get(key)),
            None,
        )
    owner, use = found[OWNER_TAG], found[INTENDED_USE_TAG]
    return Description(
        owner=owner[0] if owner else None,
        intended_use=use[0] if use else None,
        owner_from=owner[1] if owner else None,
        intended_use_from=use[1] if use else None,
    )
