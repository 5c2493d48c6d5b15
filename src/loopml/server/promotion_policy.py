"""The promotion policy the platform server holds alias moves to: a protected alias
(``champion``, and the policy's champion alias) moves through ``PUT
/models/{name}/aliases/{alias}`` only when :func:`loopml.models.promotion_rules.move_blockers`
finds nothing missing — the rules ``loopml models promote`` runs — or when the caller forces
the move with a reason (kept in the history as ``forced: <reason>``).

The policy is ``loopml server --policy FILE`` (``LOOPML_SERVER_POLICY``), else the project's
``gates.yaml`` when the server runs in a project; none: alias moves are not checked. The file
is read at start-up (a bad one stops the server, naming file, line and column) and again when
it changes, so the server and ``loopml gate`` agree on the policy's digest.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from loopml.core.config import load_config
from loopml.core.errors import ConfigError, InvalidInputError, PromotionBlockedError
from loopml.core.model_validation import FORCED_REASON
from loopml.models.promotion_rules import move_blockers, protected_aliases
from loopml.stores.metadata.model_store import ModelStore

if TYPE_CHECKING:  # imported when a policy is read: a server without one never loads YAML
    from loopml.models.gate_policy import GatePolicy

__all__ = ["ENV_POLICY", "ServerPolicy", "checked_alias_reason"]

ENV_POLICY = "LOOPML_SERVER_POLICY"


class ServerPolicy:
    """The policy file the server enforces (None: no policy), re-read when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._policy: GatePolicy | None = None
        if path is not None:
            self.current()  # a missing or malformed policy stops the server here

    @classmethod
    def resolve(cls, path: str | Path | None = None) -> ServerPolicy:
        """``path``, else ``LOOPML_SERVER_POLICY``, else the project's ``gates.yaml`` (beside
        ``.loopml/``) if there is one, else no policy."""
        named = path or os.environ.get(ENV_POLICY) or None
        if named is not None:
            return cls(Path(named))
        try:
            root = load_config().root
        except ConfigError:
            root = None
        if root is None:
            return cls(None)
        from loopml.models.gate_policy import DEFAULT_POLICY_FILE

        default = root.parent / DEFAULT_POLICY_FILE
        return cls(default if default.is_file() else None)

    def current(self) -> GatePolicy | None:
        """The policy as the file says now."""
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise ConfigError(
                f"The server's promotion policy {self.path} cannot be read ({exc.strerror}); "
                "alias moves are refused until it can."
            ) from exc
        stamp = (stat.st_mtime_ns, stat.st_size)
        from loopml.models.gate_policy import read_policy

        with self._lock:
            if stamp != self._stamp:
                self._policy, self._stamp = read_policy(self.path), stamp
            return self._policy


def checked_alias_reason(
    policy: ServerPolicy,
    metadata: ModelStore,
    move: tuple[str, str, int],
    reason: str,
    *,
    force: bool,
) -> str:
    """The reason to record for moving ``move`` (model, alias, version) once the server's
    policy allows it; raises :class:`PromotionBlockedError` (409) naming what is missing."""
    model, alias, number = move
    if force:
        if not reason.strip():
            raise InvalidInputError(
                f"A forced move of {model}@{alias} needs a reason (kept in the alias history)."
            )
        return f"{FORCED_REASON}{reason}"
    rules = policy.current()
    if rules is None or alias not in protected_aliases(rules):
        return reason
    version = metadata.get_model_version(model, number)
    missing = move_blockers(version, alias, rules, metadata)
    if missing:
        raise PromotionBlockedError(
            f"{model}@{number} cannot become {alias} under the server's promotion policy "
            f"({rules.source}): {'; '.join(missing)}. A move the policy does not allow yet can "
            "be forced with a reason (loopml models promote --force --reason …)."
        )
    return reason
