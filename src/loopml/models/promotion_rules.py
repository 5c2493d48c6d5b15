"""What a gate policy requires before an alias may move to a version: the one definition the
library's :func:`loopml.models.promotion.promote` and the platform server's alias route both
run, so a raw HTTP client is held to the same rules as ``loopml models promote``.

- a passed gate under this very policy (``promotion.require_gate``), and/or a recorded
  approval (``promotion.require_approval``);
- none of it for a move to a version the alias names now or named before (not undone by a
  rollback since): that is a rollback (the guard's, or ``loopml models rollback``), and the
  version met the rules, or was forced with a reason, when it first took the alias.

The server holds protected aliases to the rules (``champion``, and the policy's champion
alias); the library holds whatever alias ``promote`` is asked to move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from loopml.core.entities import AliasChange, ModelVersion
from loopml.stores.metadata.model_store import ModelStore

if TYPE_CHECKING:  # the platform server imports this module; YAML only once it reads a policy
    from loopml.models.gate_policy import GatePolicy

__all__ = [
    "APPROVAL_NEEDED",
    "CHAMPION",
    "blockers",
    "move_blockers",
    "previous_versions",
    "protected_aliases",
]

CHAMPION = "champion"
APPROVAL_NEEDED = "it needs an approval"


def protected_aliases(policy: GatePolicy | None) -> frozenset[str]:
    """The aliases the platform server holds to ``policy``: ``champion`` and the alias the
    policy's ``champion`` section names."""
    names = {CHAMPION}
    if policy is not None and policy.champion_alias:
        names.add(policy.champion_alias)
    return frozenset(names)


def blockers(version: ModelVersion, policy: GatePolicy, metadata: ModelStore) -> list[str]:
    """What ``policy`` still requires before ``version`` may be promoted (empty: nothing)."""
    missing = []
    ref = f"{version.model}@{version.version}"
    if policy.require_gate:
        results = [
            result
            for result in metadata.list_gate_results(version.model, version.version)
            if result.policy_digest == policy.digest
        ]
        if not results:
            missing.append(f"no gate under {policy.source} yet (loopml gate {ref} --policy …)")
        elif not results[-1].passed:
            checks = results[-1].checks
            failed = [str(check["name"]) for check in checks if not check["passed"]]
            missing.append(f"its last gate under {policy.source} failed: {', '.join(failed)}")
    if policy.require_approval and not metadata.list_model_approvals(
        version.model, version.version
    ):
        missing.append(f"{APPROVAL_NEEDED} (loopml models approve {ref})")
    return missing


def move_blockers(
    version: ModelVersion, alias: str, policy: GatePolicy, metadata: ModelStore
) -> list[str]:
    """What ``policy`` still requires before ``alias`` may point at ``version``: nothing for
    the version it names now or a version it named before (a rollback), else
    :func:`blockers`."""
    history = metadata.list_alias_history(version.model, alias)
    if version.version in previous_versions(history):
        return []
    return blockers(version, policy, metadata)


def previous_versions(history: Sequence[AliasChange]) -> list[int]:
    """The versions an alias went through, the current one last, with moves undone by a
    rollback (a move back to the version before) taken out."""
    stack: list[int] = []
    for change in history:
        if change.to_version is None:
            stack = []
        elif len(stack) >= 2 and stack[-2] == change.to_version:
            stack.pop()
        else:
            stack.append(change.to_version)
    return stack
