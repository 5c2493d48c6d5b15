"""The records of the loop that are not runs: deployments (a model server that is, or was,
serving) and leases (one holder at a time for a named job, with a fencing token).

Plain frozen dataclasses, validated where they are made (:func:`check_new_deployment`), so
every backend refuses the same input with the same message.
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass
from typing import Any

from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.model_validation import check_model_name

# a deployment is gone once its heartbeat has been silent for this many declared intervals
LAPSE_INTERVALS = 3
MAX_ADDRESS_LENGTH = 500
MAX_REASON_LENGTH = 500
MAX_TTL_MS = 24 * 3600 * 1000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")
_LEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,199}$")


class DeploymentState(enum.StrEnum):
    """``live`` (heartbeat on time), ``ended`` (said goodbye) or ``gone`` (heartbeat lapsed:
    killed, or cut off from the store)."""

    LIVE = "live"
    ENDED = "ended"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class NewDeployment:
    """What a model server registers: ``id`` is chosen by the server, so registering again
    after a lost answer is a no-op. ``heartbeat_ms`` is the interval it promises to beat at;
    it is gone after :data:`LAPSE_INTERVALS` of them without one."""

    id: str
    model: str
    address: str
    heartbeat_ms: int
    alias: str | None = None
    version: int | None = None
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    """A model server as the store knows it; ``state`` is read on the store's clock."""

    id: str
    model: str
    address: str
    heartbeat_ms: int
    alias: str | None
    version: int | None
    run_id: str | None
    started_at: int
    heartbeat_at: int
    expires_at: int
    ended_at: int | None
    end_reason: str | None
    state: DeploymentState

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = str(self.state)
        return data


@dataclass(frozen=True, slots=True)
class Lease:
    """``holder`` holds ``name`` until ``expires_at`` (store clock, ms). ``token`` grows with
    every new acquisition of the name: a write guarded by the lease carries it, so a holder
    whose lease was taken over is told apart from the new one (a fencing token)."""

    name: str
    holder: str
    token: int
    acquired_at: int
    expires_at: int


def check_record_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInputError(
            f"The {kind} id must be 1-64 letters, digits, '_' or '-' (starting with a letter "
            f"or digit), got {value!r:.80}."
        )
    return value


def is_record_id(value: object) -> bool:
    return isinstance(value, str) and _ID.match(value) is not None


def deployment_not_found(deployment_id: object) -> NotFoundError:
    return NotFoundError(
        f"No deployment {deployment_id!r:.80}; 'loopml deployments list --all' lists them."
    )


def check_new_deployment(deployment: NewDeployment) -> NewDeployment:
    """``deployment`` when every field is allowed; InvalidInputError naming the field."""
    check_record_id("deployment", deployment.id)
    check_model_name(deployment.model)
    alias = deployment.alias
    if alias is not None and (not isinstance(alias, str) or not 0 < len(alias) <= 64):
        raise InvalidInputError(f"The alias must be 1-64 characters, got {alias!r:.80}.")
    if deployment.version is not None:
        check_served_version(deployment.version)
    if deployment.run_id is not None:
        check_record_id("run", deployment.run_id)
    address = deployment.address
    if not isinstance(address, str) or not 0 < len(address) <= MAX_ADDRESS_LENGTH:
        raise InvalidInputError(
            f"The deployment's address must be 1-{MAX_ADDRESS_LENGTH} characters (like "
            f"http://10.0.0.5:8080), got {address!r:.80}."
        )
    check_duration_ms("heartbeat_ms", deployment.heartbeat_ms)
    return deployment


def check_served_version(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"The served version must be an integer >= 1, got {value!r:.80}.")
    return value


def check_duration_ms(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_TTL_MS:
        raise InvalidInputError(
            f"{field} must be a whole number of milliseconds from 1 to {MAX_TTL_MS} (a day), "
            f"got {value!r:.80}."
        )
    return value


def check_reason(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REASON_LENGTH:
        raise InvalidInputError(
            f"The reason must be 1-{MAX_REASON_LENGTH} characters, got {value!r:.80}."
        )
    return value


def check_lease_name(value: object) -> str:
    if not isinstance(value, str) or not _LEASE_NAME.match(value):
        raise InvalidInputError(
            "A lease name must be 1-200 letters, digits or '_-.:@' (starting with a letter or "
            f"digit), got {value!r:.80}."
        )
    return value


def check_holder(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise InvalidInputError(f"A lease holder must be 1-200 characters, got {value!r:.80}.")
    return value


def deployment_state(stored: str, expires_at: int, now: int) -> DeploymentState:
    """The state of a deployment stored as ``stored`` at ``now`` (store clock): a live one
    whose heartbeat deadline passed is gone, whether or not it was marked so yet."""
    if stored == DeploymentState.LIVE and expires_at < now:
        return DeploymentState.GONE
    return DeploymentState(stored)
