"""``loopml models describe``: a model's owner and intended use (shown on its cards)."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.core.errors import InvalidInputError


def describe_command(
    ref: Annotated[
        str, typer.Argument(help="NAME (its newest version, inherited by later ones) or NAME@V.")
    ],
    owner: Annotated[
        str | None, typer.Option("--owner", help="Who answers for the model (team, e-mail).")
    ] = None,
    intended_use: Annotated[
        str | None,
        typer.Option("--intended-use", help="What it is for, and what it is not for."),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Set the owner and intended use of a model version (the tags loopml.owner and
    loopml.intended_use), as 'loopml card' shows them.

    NAME alone sets them on the newest version; a later version without its own values
    shows the newest earlier ones. NAME@V sets them on that version only.

    Examples:

        loopml models describe churn --owner risk-team@example.com --intended-use "Rank renewals"
        loopml models describe churn@4 --intended-use "Shadow only: not for decisions"
    """
    from loopml.core.refs import parse_model_ref
    from loopml.governance.model_description import (
        INTENDED_USE_TAG,
        OWNER_TAG,
        describe,
    )

    parsed = parse_model_ref(ref)
    if parsed.alias is not None:
        raise InvalidInputError(
            f"Describe a version by number ({parsed.model}@3) or the model ({parsed.model}), "
            f"not through an alias ({ref}): an alias moves, the description stays."
        )
    with open_client() as client:
        version = describe(
            parsed.model, parsed.version, owner=owner, intended_use=intended_use, client=client
        )
    described = {
        "model": version.model,
        "version": version.version,
        "owner": version.tags.get(OWNER_TAG),
        "intended_use": version.tags.get(INTENDED_USE_TAG),
    }
    if as_json:
        output.print_json(described)
        return
    out = output.console()
    out.print(f"{version.model}@{version.version}", markup=False)
    out.print(f"  owner:        {described['owner'] or 'not set'}", markup=False)
    out.print(f"  intended use: {described['intended_use'] or 'not set'}", markup=False)
