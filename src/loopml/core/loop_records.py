"""The records of the loop that are not runs: deployments (a model server that is, or was,
serving), leases (one holder at a time for a named job, with a fencing token) and decisions
(what the loop did, why, with the numbers, and how far it got).

Plain frozen dataclasses, validated where they are made (:func:`check_new_deployment`), so
every backend refuses the same input with the same message.
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from loopml.core.errors import ConflictError, InvalidInputError, NotFoundError, StaleDecisionError
from loopml.core.model_validation import check_model_name
from loopml.core.record_checks import bounded_json_object, matching_name, one_of
from loopml.core.refs import check_alias

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
    rule = (
        f"The {kind} id must be 1-64 letters, digits, '_' or '-' (starting with a letter or digit)"
    )
    return matching_name(value, _ID, rule)


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
    rule = "A lease name must be 1-200 letters, digits or '_-.:@' (starting with a letter or digit)"
    return matching_name(value, _LEASE_NAME, rule)


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


# loop decisions ----------------------------------------------------------------------------

MAX_DECISION_KEY_LENGTH = 400
MAX_EVIDENCE_BYTES = 64 * 1024
MAX_ACTION_LENGTH = 2000
_DECISION_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,399}$")


class TriggerKind(enum.StrEnum):
    """Why the loop acted: the champion's data drifted, its performance decayed, the schedule
    came round, a new dataset version arrived, a person asked, or the rollback guard fired."""

    DRIFT = "drift"
    DECAY = "decay"
    SCHEDULE = "schedule"
    NEW_DATA = "new_data"
    MANUAL = "manual"
    ROLLBACK_GUARD = "rollback_guard"


class DecisionState(enum.StrEnum):
    """Where a decision is: ``triggered → training → trained → gated → promoted | held |
    rejected``, ``held → promoted | rejected``, ``promoted → rolled_back`` (the guard undid
    it), and ``failed`` from any open state. A rollback-guard decision goes ``triggered →
    rolled_back | failed``."""

    TRIGGERED = "triggered"
    TRAINING = "training"
    TRAINED = "trained"
    GATED = "gated"
    HELD = "held"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"

    @property
    def is_open(self) -> bool:
        """Work is still to be done (or an approval awaited) before the decision is settled."""
        return self in OPEN_DECISION_STATES


OPEN_DECISION_STATES = frozenset(
    {
        DecisionState.TRIGGERED,
        DecisionState.TRAINING,
        DecisionState.TRAINED,
        DecisionState.GATED,
        DecisionState.HELD,
    }
)
_S = DecisionState
DECISION_TRANSITIONS: dict[DecisionState, frozenset[DecisionState]] = {
    _S.TRIGGERED: frozenset({_S.TRAINING, _S.ROLLED_BACK, _S.FAILED}),
    _S.TRAINING: frozenset({_S.TRAINED, _S.FAILED}),
    _S.TRAINED: frozenset({_S.GATED, _S.FAILED}),
    _S.GATED: frozenset({_S.PROMOTED, _S.HELD, _S.REJECTED, _S.FAILED}),
    _S.HELD: frozenset({_S.PROMOTED, _S.REJECTED, _S.FAILED}),
    _S.PROMOTED: frozenset({_S.ROLLED_BACK}),
    _S.REJECTED: frozenset(),
    _S.ROLLED_BACK: frozenset(),
    _S.FAILED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class NewDecision:
    """A decision the loop takes, before it is stored. ``key`` makes it idempotent across the
    project: the same situation (``retrain:churn@champion:drift:<window end>``) recorded again —
    by a restarted agent, or a second one — gets the stored decision back, never a second one.
    ``evidence`` holds the numbers that triggered it (JSON); ``champion_version`` is the
    version ``alias`` named when it was triggered."""

    key: str
    model: str
    alias: str
    trigger: TriggerKind
    evidence: dict[str, Any]
    champion_version: int | None = None


@dataclass(frozen=True, slots=True)
class DecisionUpdate:
    """Move a decision from ``expected`` to ``state`` (compare-and-set: refused if it is not in
    ``expected`` any more), recording what the step produced. A field left None is unchanged;
    the pipeline run, the candidate and the gate result, once recorded, never change."""

    expected: DecisionState
    state: DecisionState
    pipeline_run_id: str | None = None
    candidate_version: int | None = None
    gate_result_id: str | None = None
    action: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision of the loop as stored: its trigger and evidence, how far it got, and what
    was done. Times are the store's clock (ms); ``lease_token`` is the fencing token of the
    lease its last writer held (None when written without one)."""

    id: str
    key: str
    model: str
    alias: str
    trigger: TriggerKind
    evidence: dict[str, Any]
    state: DecisionState
    created_at: int
    updated_at: int
    champion_version: int | None = None
    pipeline_run_id: str | None = None
    candidate_version: int | None = None
    gate_result_id: str | None = None
    action: str | None = None
    error: str | None = None
    lease_token: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trigger"], data["state"] = str(self.trigger), str(self.state)
        return data


_SET_ONCE = ("pipeline_run_id", "candidate_version", "gate_result_id")


def decision_not_found(decision_id: object) -> NotFoundError:
    return NotFoundError(f"No loop decision {decision_id!r:.80}; 'loopml loop log' lists them.")


def check_decision_key(value: object) -> str:
    rule = (
        f"A decision key must be 1-{MAX_DECISION_KEY_LENGTH} letters, digits or '_-.:@' "
        "(starting with a letter or digit)"
    )
    return matching_name(value, _DECISION_KEY, rule)


def check_new_decision(decision: NewDecision) -> NewDecision:
    """``decision`` with its trigger as a :class:`TriggerKind` when every field is allowed;
    InvalidInputError naming the field otherwise."""
    check_decision_key(decision.key)
    check_model_name(decision.model)
    check_alias(decision.alias)
    trigger = one_of(TriggerKind, "trigger", decision.trigger)
    if decision.champion_version is not None:
        check_served_version(decision.champion_version)
    check_evidence(decision.evidence)
    return replace(decision, trigger=trigger)


def check_evidence(evidence: object) -> dict[str, Any]:
    """A JSON object of at most 64 KiB, finite numbers only (NaN has no JSON)."""
    hint = " Record the numbers, not the data."
    return bounded_json_object(evidence, "evidence", MAX_EVIDENCE_BYTES, hint=hint)


def check_decision_update(update: DecisionUpdate) -> DecisionUpdate:
    """``update`` with its states as :class:`DecisionState` when the state machine has the
    move and every field is allowed; InvalidInputError otherwise."""
    expected = one_of(DecisionState, "expected", update.expected)
    state = one_of(DecisionState, "state", update.state)
    if state not in DECISION_TRANSITIONS[expected]:
        allowed = ", ".join(sorted(DECISION_TRANSITIONS[expected])) or "none (it is settled)"
        raise InvalidInputError(
            f"A decision cannot move from {expected} to {state}; from {expected} it may move "
            f"to: {allowed}."
        )
    if update.pipeline_run_id is not None:
        check_record_id("run", update.pipeline_run_id)
    if update.gate_result_id is not None:
        check_record_id("gate result", update.gate_result_id)
    if update.candidate_version is not None:
        check_served_version(update.candidate_version)
    for field in ("action", "error"):
        text = getattr(update, field)
        if text is not None and (
            not isinstance(text, str) or not 0 < len(text) <= MAX_ACTION_LENGTH
        ):
            raise InvalidInputError(
                f"{field} must be 1-{MAX_ACTION_LENGTH} characters, got {text!r:.80}."
            )
    return replace(update, expected=expected, state=state)


def apply_decision_update(stored: Decision, update: DecisionUpdate) -> dict[str, Any] | None:
    """The column values that move ``stored`` by ``update`` (checked), or None when ``stored``
    already is where ``update`` leads (a retry after a lost answer). ConflictError when it is
    not in ``update.expected`` or a recorded field would change."""
    given = {f: getattr(update, f) for f in (*_SET_ONCE, "action", "error")}
    given = {field: value for field, value in given.items() if value is not None}
    if stored.state != update.expected:
        if stored.state == update.state and all(
            getattr(stored, field) == value for field, value in given.items()
        ):
            return None
        raise StaleDecisionError(
            f"Loop decision {stored.id} is {stored.state}, not {update.expected}: another "
            f"writer moved it; read it again (loopml loop log --model {stored.model})."
        )
    rollback = stored.trigger is TriggerKind.ROLLBACK_GUARD
    first_step = DecisionState.ROLLED_BACK if rollback else DecisionState.TRAINING
    if stored.state is DecisionState.TRIGGERED and update.state not in (
        first_step,
        DecisionState.FAILED,
    ):
        raise InvalidInputError(
            f"A {stored.trigger} decision cannot move from triggered to {update.state}: a "
            "rollback-guard decision is rolled_back or failed; a retraining one starts training."
        )
    for field in _SET_ONCE:
        if field in given and getattr(stored, field) not in (None, given[field]):
            raise ConflictError(
                f"Loop decision {stored.id} has {field}={getattr(stored, field)!r} recorded "
                f"already; it cannot become {given[field]!r}."
            )
    return {"state": str(update.state), **given}


# loop states ---------------------------------------------------------------------------------

MAX_STATE_BYTES = 256 * 1024


def check_state_name(value: object) -> str:
    """A loop state's name: 1-200 letters, digits or '_-.:@', like a lease's."""
    rule = (
        "A loop state's name must be 1-200 letters, digits or '_-.:@' (starting with a "
        "letter or digit)"
    )
    return matching_name(value, _LEASE_NAME, rule)


def check_state_document(document: object) -> dict[str, Any]:
    """A JSON object of at most 256 KiB, finite numbers only."""
    return bounded_json_object(document, "A loop state", MAX_STATE_BYTES)
