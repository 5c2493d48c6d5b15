"""Roles and the permissions each grants: pure data, read by the platform server (which
enforces them on every route), the CLI (which lists them) and the model server.

Each role holds every permission of the role before it:

* ``viewer``: every ``*:read``;
* ``editor``: + logging runs, adding data, registering models, and the writes the agent and
  the model server make (events, deployments, leases, decisions);
* ``approver``: + approving and promoting model versions (moving an alias, rolling back);
* ``admin``: + managing users, roles and tokens.

>>> "models:promote" in ROLE_PERMISSIONS[Role.APPROVER]
True
"""

from __future__ import annotations

import enum
from typing import Literal, get_args

Permission = Literal[
    "experiments:read",
    "experiments:write",
    "runs:read",
    "runs:write",
    "artifacts:read",
    "artifacts:write",
    "datasets:read",
    "datasets:write",
    "models:read",
    "models:write",
    "models:approve",
    "models:promote",
    "events:read",
    "events:write",
    "deployments:read",
    "deployments:write",
    "leases:read",
    "leases:write",
    "decisions:read",
    "decisions:write",
    "metrics:read",
    "users:admin",
]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)


class Role(enum.StrEnum):
    """A user's role in one project; each grants what the one before it does, and more."""

    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"


_READ: frozenset[Permission] = frozenset(p for p in PERMISSIONS if p.endswith(":read"))
_EDIT: frozenset[Permission] = frozenset(
    {
        "experiments:write",
        "runs:write",
        "artifacts:write",
        "datasets:write",
        "models:write",
        "events:write",
        "deployments:write",
        "leases:write",
        "decisions:write",
    }
)
_APPROVE: frozenset[Permission] = frozenset({"models:approve", "models:promote"})
_ADMIN: frozenset[Permission] = frozenset({"users:admin"})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _READ,
    Role.EDITOR: _READ | _EDIT,
    Role.APPROVER: _READ | _EDIT | _APPROVE,
    Role.ADMIN: _READ | _EDIT | _APPROVE | _ADMIN,
}
# a role binding for this project applies to every project the server serves
ALL_PROJECTS = "*"
DEFAULT_PROJECT = "default"


def permissions_of(roles: tuple[Role, ...] | frozenset[Role]) -> frozenset[Permission]:
    """Every permission any of ``roles`` grants."""
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return granted
