"""Promotion under a gate policy: ``promote`` moves an alias only when the policy's
``promotion`` section is satisfied (a passed gate under this very policy, a recorded approval),
or waits for an approval; ``approve`` records one.

>>> approve("churn@7", comment="checked the slices by region")  # doctest: +SKIP
>>> promote("churn@7", policy="gates.yaml")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path

from loopml.core.entities import AliasChange, ModelApproval
from loopml.core.errors import InvalidInputError, PromotionBlockedError
from loopml.core.model_validation import FORCED_REASON
from loopml.core.refs import check_alias
from loopml.models.gate_policy import DEFAULT_POLICY_FILE, GatePolicy, read_policy
from loopml.models.promotion_rules import APPROVAL_NEEDED, CHAMPION, move_blockers
from loopml.models.registry import resolve
from loopml.tracking.client import Client, client_scope
from loopml.tracking.system_info import local_user

__all__ = ["approve", "project_policy", "promote"]

POLL_SECONDS = 1.0


def promote(
    ref: str,
    *,
    alias: str = CHAMPION,
    reason: str = "",
    policy: GatePolicy | str | Path | None = None,
    force: bool = False,
    wait: float = 0.0,
    client: Client | None = None,
) -> AliasChange:
    """Point ``alias`` (default ``champion``) of the model at the version ``ref`` names
    (``churn@4``, ``churn@challenger``).

    ``policy`` (default: the project's ``gates.yaml``, if there is one) may require a passed
    gate under that policy and/or an approval; what is missing raises
    :class:`PromotionBlockedError` (exit code 1), after waiting up to ``wait`` seconds for an
    approval; a move back to a version the alias named before is a rollback and needs neither
    (see :mod:`loopml.models.promotion_rules`). ``force`` moves the alias anyway; it needs a
    ``reason``, kept in the history. Through a platform server, the server also holds the move
    to its own policy (409 :class:`PromotionBlockedError` naming what is missing)."""
    check_alias(alias)
    if force and not reason.strip():
        raise InvalidInputError("A forced promotion needs a reason (--reason), kept in history.")
    with client_scope(client, create=False) as active:
        version, store = resolve(ref, active), active.metadata
        rules = _policy(policy, active)
        deadline = time.monotonic() + max(wait, 0.0)
        missing = [] if force or rules is None else move_blockers(version, alias, rules, store)
        while missing and rules and time.monotonic() < deadline and _only_approval(missing):
            time.sleep(POLL_SECONDS)
            missing = move_blockers(version, alias, rules, store)
        if missing:
            raise PromotionBlockedError(
                f"{version.model}@{version.version} cannot become {alias}: "
                + "; ".join(missing)
                + "."
            )
        note = reason or f"promote {ref}"
        while True:
            try:
                return active.metadata.set_model_alias(
                    version.model,
                    alias,
                    version.version,
                    actor=local_user(),
                    reason=f"{FORCED_REASON}{note}" if force else note,
                )
            except PromotionBlockedError:  # a platform server's own policy: wait for it too
                if time.monotonic() >= deadline:
                    raise
                time.sleep(POLL_SECONDS)


def approve(ref: str, *, comment: str = "", client: Client | None = None) -> ModelApproval:
    """Record the caller's approval of the version ``ref`` names for promotion."""
    with client_scope(client, create=False) as active:
        version = resolve(ref, active)
        return active.metadata.add_model_approval(
            version.model, version.version, actor=local_user(), comment=comment
        )


def _only_approval(missing: list[str]) -> bool:
    return all(item.startswith(APPROVAL_NEEDED) for item in missing)


def project_policy(client: Client) -> GatePolicy | None:
    """The project's ``gates.yaml`` (beside ``.loopml/``), or None when there is none."""
    if client.project_root is None:
        return None
    path = client.project_root.parent / DEFAULT_POLICY_FILE
    return read_policy(path) if path.is_file() else None


def _policy(policy: GatePolicy | str | Path | None, client: Client) -> GatePolicy | None:
    if policy is None:
        return project_policy(client)
    if isinstance(policy, GatePolicy):
        return policy
    return read_policy(policy)
