"""``loopml tokens``: API tokens for clients, workers and model servers (``LOOPML_TOKEN``).

A token is printed once, when it is created; the store keeps only a salted hash of it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli import output
from loopml.cli.users import identity_store
from loopml.core.durations import DURATION_FORMS, parse_duration_ms
from loopml.core.errors import InvalidInputError
from loopml.core.identity_records import TokenInfo
from loopml.core.ids import now_ms

app = typer.Typer(
    help="API tokens (LOOPML_TOKEN): create one for a user (shown once), list them with their "
    "expiry and last use, revoke one.",
    no_args_is_help=True,
)


@app.command("create")
def create_command(
    user: Annotated[str, typer.Argument(help="Whose token it is.")],
    label: Annotated[str, typer.Option("--label", help="What it is for (shown in list).")] = "",
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Lifetime, e.g. 30d, 12h [default: never expires]."),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Create a token for a user and print it, once: store it now (a secret manager, the CI's
    secrets). Clients send it as LOOPML_TOKEN.

    Examples:

        loopml tokens create alice --label laptop --expires 30d
        export LOOPML_TOKEN=$(loopml tokens create ci-bot --label ci --expires 90d)
    """
    expires_in_ms = None if expires is None else _lifetime(expires)
    with identity_store() as store:
        issued = store.create_token(user, label=label, expires_in_ms=expires_in_ms)
    if as_json:
        output.print_json({**_token_json(issued.info), "token": issued.secret})
        return
    print(issued.secret)  # alone on stdout, so $(…) captures it
    until = output.format_time(issued.info.expires_at) if issued.info.expires_at else "never"
    output.console(stderr=True).print(
        f"Token {issued.info.id} for {issued.info.user} (expires: {until}). It is shown this "
        "once: the store keeps only a salted hash.",
        markup=False,
    )


@app.command("list")
def list_command(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """List tokens (never their secrets): owner, label, expiry, last use, state.

    Examples:

        loopml tokens list
        loopml tokens list --user alice --json
    """
    with identity_store() as store:
        tokens = store.list_tokens(user)
    if as_json:
        output.print_json([_token_json(info) for info in tokens])
        return
    from rich.table import Column, Table

    now = now_ms()
    table = Table("user", "label", "created", "expires", "last used", "state")
    table.columns.insert(0, Column("id", no_wrap=True))
    for info in tokens:
        table.add_row(
            info.id,
            info.user,
            info.label or "-",
            output.format_time(info.created_at),
            output.format_time(info.expires_at) if info.expires_at else "never",
            output.format_time(info.last_used_at) if info.last_used_at else "-",
            info.state_at(now),
        )
    output.console().print(table if tokens else "No tokens.")


@app.command("revoke")
def revoke_command(
    token_id: Annotated[str, typer.Argument(help="The token's id (as 'tokens list' shows).")],
) -> None:
    """Revoke a token: it stops working (within the server's cache time, 5 s).

    Examples:

        loopml tokens revoke 3f9c0a1b2c3d4e5f
    """
    with identity_store() as store:
        info = store.revoke_token(token_id)
    output.console().print(f"Token {info.id} of {info.user} is revoked.", markup=False)


def _lifetime(text: str) -> int:
    ms = parse_duration_ms(text)
    if ms is None or ms < 1:
        raise InvalidInputError(f"The --expires option is {DURATION_FORMS}, got {text!r:.40}.")
    return ms


def _token_json(info: TokenInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "user": info.user,
        "label": info.label,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "revoked_at": info.revoked_at,
        "last_used_at": info.last_used_at,
        "state": info.state_at(now_ms()),
    }
