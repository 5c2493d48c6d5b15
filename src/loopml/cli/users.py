"""``loopml users``: who may use the platform server, and their role in each project.

Embedded (no ``LOOPML_SERVER_URL``) the commands work on the project's store directly: how an
admin bootstraps the first user and token before starting ``loopml server --auth``. Remote,
they go through the server and need an admin's ``LOOPML_TOKEN``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from loopml.cli import output
from loopml.core.config import load_config
from loopml.core.errors import ConfigError
from loopml.core.identity_records import RoleBinding, User
from loopml.core.roles import DEFAULT_PROJECT, Role
from loopml.stores.identity.base import IdentityStore
from loopml.stores.registry import open_identity_store

app = typer.Typer(
    help="Users of the platform server and their roles per project (viewer, editor, approver, "
    "admin). Embedded, on the project's store; remote, as an admin (LOOPML_TOKEN).",
    no_args_is_help=True,
)
ProjectOption = Annotated[
    str,
    typer.Option(
        "--project", help="The project the role holds in ('*': every project); see LOOPML_PROJECT."
    ),
]


@contextmanager
def identity_store() -> Iterator[IdentityStore]:
    """The identity store of the nearest project, or of the server ``LOOPML_SERVER_URL``
    names (with ``LOOPML_TOKEN``)."""
    config = load_config()
    uri = config.server_url or config.store_uri
    if uri is None:
        raise ConfigError(
            "No loopml project here: no .loopml folder in this directory or its parents. Run "
            "'loopml init', or set LOOPML_STORE_URI or LOOPML_SERVER_URL."
        )
    store = open_identity_store(uri, token=config.token)
    try:
        yield store
    finally:
        store.close()


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="The user's name (letters, digits, _ . @ -).")],
    role: Annotated[
        Role | None, typer.Option("--role", help="Grant this role in --project at once.")
    ] = None,
    project: ProjectOption = DEFAULT_PROJECT,
) -> None:
    """Add a user (and grant a role).

    Examples:

        loopml users add alice --role admin
        loopml users add ci-bot --role editor --project fraud
    """
    with identity_store() as store:
        user = store.add_user(name, role=role, project=project)
    granted = f" ({role.value} in {project})" if role is not None else ""
    output.console().print(f"Added user {user.name}{granted}.", markup=False)


@app.command("list")
def list_command(as_json: output.JsonFlag = False) -> None:
    """List users and their roles.

    Examples:

        loopml users list
        loopml users list --json
    """
    with identity_store() as store:
        users, bindings = store.list_users(), store.list_roles()
    if as_json:
        output.print_json([_user_json(user, bindings) for user in users])
        return
    from rich.table import Table

    table = Table("user", "roles", "created", "state")
    for user in users:
        roles = ", ".join(f"{b.role.value}@{b.project}" for b in bindings if b.user == user.name)
        state = "disabled" if user.disabled else "active"
        table.add_row(user.name, roles or "-", output.format_time(user.created_at), state)
    output.console().print(table if users else "No users yet: add one with 'loopml users add'.")


@app.command("disable")
def disable_command(name: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disable a user: their tokens stop working (within the server's cache time, 5 s).

    Examples:

        loopml users disable alice
    """
    with identity_store() as store:
        user = store.disable_user(name)
    output.console().print(f"User {user.name} is disabled.", markup=False)


@app.command("grant")
def grant_command(
    name: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[Role, typer.Argument(help="viewer, editor, approver or admin.")],
    project: ProjectOption = DEFAULT_PROJECT,
) -> None:
    """Give a user a role in a project (replacing the one they held there).

    Examples:

        loopml users grant bob approver
        loopml users grant bob viewer --project '*'
    """
    with identity_store() as store:
        binding = store.grant_role(name, project, role)
    output.console().print(
        f"{binding.user} is {binding.role.value} in {binding.project}.", markup=False
    )


@app.command("revoke")
def revoke_command(
    name: Annotated[str, typer.Argument(help="The user.")],
    project: ProjectOption = DEFAULT_PROJECT,
) -> None:
    """Take a user's role in a project away.

    Examples:

        loopml users revoke bob
    """
    with identity_store() as store:
        store.revoke_role(name, project)
    output.console().print(f"{name} holds no role in {project} now.", markup=False)


def _user_json(user: User, bindings: list[RoleBinding]) -> dict[str, object]:
    return {
        "name": user.name,
        "created_at": user.created_at,
        "disabled_at": user.disabled_at,
        "roles": {b.project: b.role.value for b in bindings if b.user == user.name},
    }
