"""The loop-decision behaviours every :class:`LoopStore` backend must have.

``decision_store_checks()`` lists them; each takes a :class:`LoopBackend` (the store, and a way
to open a second one, as a second agent process would). Checks name their models and keys
uniquely and never assume an empty store, so they run against a shared server too.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

import pytest

from loopml.core.errors import (
    ConflictError,
    InvalidInputError,
    LeaseLostError,
    NotFoundError,
    StaleDecisionError,
)
from loopml.core.ids import new_id
from loopml.core.loop_records import (
    Decision,
    DecisionState,
    DecisionUpdate,
    NewDecision,
    TriggerKind,
)
from loopml.stores.loop.base import LoopStore
from tests.contract.loop_checks import HOUR_MS, LoopBackend

S = DecisionState
DecisionCheck = Callable[[LoopBackend], None]


def _model() -> str:
    return f"loop-{uuid.uuid4().hex[:10]}"


def _new(model: str | None = None, **fields: object) -> NewDecision:
    name = model or _model()
    values: dict[str, object] = {
        "key": f"retrain:{name}@champion:drift:{uuid.uuid4().hex[:12]}",
        "model": name,
        "alias": "champion",
        "trigger": TriggerKind.DRIFT,
        "evidence": {"drift_share": 0.42, "threshold": 0.3, "window": {"end": 1_700_000_000}},
        "champion_version": 3,
        **fields,
    }
    return NewDecision(**values)  # type: ignore[arg-type]


def _walk(store: LoopStore, decision: Decision, *steps: DecisionUpdate) -> Decision:
    for step in steps:
        decision = store.advance_decision(decision.id, step)
    return decision


def check_a_recorded_decision_round_trips_every_field(backend: LoopBackend) -> None:
    store = backend.store
    new = _new()
    stored = store.record_decision(new)
    assert (stored.key, stored.model, stored.alias, stored.trigger) == (
        new.key,
        new.model,
        "champion",
        TriggerKind.DRIFT,
    )
    assert stored.evidence == new.evidence and stored.champion_version == 3
    assert stored.state is S.TRIGGERED and stored.created_at == stored.updated_at
    assert (stored.pipeline_run_id, stored.candidate_version, stored.gate_result_id) == (
        None,
        None,
        None,
    )
    assert (stored.action, stored.error, stored.lease_token) == (None, None, None)
    assert store.get_decision(stored.id) == stored


def check_the_same_key_gets_the_stored_decision_back(backend: LoopBackend) -> None:
    store = backend.store
    new = _new()
    first = store.record_decision(new)
    store.advance_decision(first.id, DecisionUpdate(S.TRIGGERED, S.TRAINING))
    # a restarted agent recomputes the situation (its numbers may differ a little)
    again = store.record_decision(replace(new, evidence={"drift_share": 0.43}))
    assert again.id == first.id and again.state is S.TRAINING
    assert again.evidence == new.evidence
    assert [d.id for d in store.list_decisions(model=new.model)] == [first.id]


def check_a_key_recorded_for_another_model_or_trigger_is_a_conflict(backend: LoopBackend) -> None:
    store = backend.store
    new = _new()
    store.record_decision(new)
    for changed in (
        replace(new, model=_model()),
        replace(new, alias="challenger"),
        replace(new, trigger=TriggerKind.DECAY),
    ):
        with pytest.raises(ConflictError):
            store.record_decision(changed)


def check_bad_decisions_are_refused_and_nothing_is_stored(backend: LoopBackend) -> None:
    store = backend.store
    model = _model()
    bad_fields: dict[str, object] = {
        "key": "has space",
        "model": "no/slash",
        "alias": "latest",
        "trigger": "whim",
        "evidence": {"drift_share": float("nan")},
        "champion_version": 0,
    }
    for field, value in bad_fields.items():
        with pytest.raises(InvalidInputError):
            store.record_decision(replace(_new(model), **{field: value}))
    with pytest.raises(InvalidInputError):
        store.record_decision(_new(model, evidence={"rows": "x" * 70_000}))
    assert not store.list_decisions(model=model).items


def check_a_decision_walks_the_state_machine_and_keeps_what_each_step_made(
    backend: LoopBackend,
) -> None:
    store = backend.store
    decision = store.record_decision(_new())
    run_id, gate_id = new_id(), new_id()
    time.sleep(0.002)
    decision = _walk(
        store,
        decision,
        DecisionUpdate(S.TRIGGERED, S.TRAINING, pipeline_run_id=run_id),
        DecisionUpdate(S.TRAINING, S.TRAINED, candidate_version=4),
        DecisionUpdate(S.TRAINED, S.GATED, gate_result_id=gate_id),
        DecisionUpdate(S.GATED, S.HELD, action="held for approval"),
        DecisionUpdate(S.HELD, S.PROMOTED, action="promoted churn@4 to champion"),
    )
    assert decision.state is S.PROMOTED
    assert (decision.pipeline_run_id, decision.candidate_version) == (run_id, 4)
    assert decision.gate_result_id == gate_id
    assert decision.action == "promoted churn@4 to champion"
    assert decision.updated_at > decision.created_at
    assert store.get_decision(decision.id) == decision
    rolled = store.advance_decision(
        decision.id, DecisionUpdate(S.PROMOTED, S.ROLLED_BACK, action="rolled back to 3")
    )
    assert rolled.state is S.ROLLED_BACK and not rolled.state.is_open


def check_moves_the_state_machine_lacks_are_refused(backend: LoopBackend) -> None:
    store = backend.store
    decision = store.record_decision(_new())
    for update in (
        DecisionUpdate(S.TRIGGERED, S.PROMOTED),
        DecisionUpdate(S.FAILED, S.TRAINING),
        DecisionUpdate(S.TRIGGERED, S.ROLLED_BACK),  # a retraining decision trains first
        DecisionUpdate(S.TRIGGERED, "dreaming"),  # type: ignore[arg-type]
        DecisionUpdate(S.TRIGGERED, S.TRAINING, candidate_version=0),
        DecisionUpdate(S.TRIGGERED, S.TRAINING, action=""),
    ):
        with pytest.raises(InvalidInputError):
            store.advance_decision(decision.id, update)
    assert store.get_decision(decision.id) == decision
    guard = store.record_decision(_new(trigger=TriggerKind.ROLLBACK_GUARD))
    with pytest.raises(InvalidInputError):
        store.advance_decision(guard.id, DecisionUpdate(S.TRIGGERED, S.TRAINING))
    rolled = store.advance_decision(
        guard.id, DecisionUpdate(S.TRIGGERED, S.ROLLED_BACK, action="champion 4 -> 3")
    )
    assert rolled.state is S.ROLLED_BACK


def check_a_stale_move_is_refused_and_a_repeated_one_is_a_no_op(backend: LoopBackend) -> None:
    store = backend.store
    decision = store.record_decision(_new())
    run_id = new_id()
    step = DecisionUpdate(S.TRIGGERED, S.TRAINING, pipeline_run_id=run_id)
    moved = store.advance_decision(decision.id, step)
    assert store.advance_decision(decision.id, step) == moved  # a retry after a lost answer
    with pytest.raises(StaleDecisionError):  # same move, another run: someone else's
        store.advance_decision(decision.id, replace(step, pipeline_run_id=new_id()))
    with pytest.raises(StaleDecisionError):
        store.advance_decision(decision.id, DecisionUpdate(S.TRIGGERED, S.FAILED, error="x"))
    trained = store.advance_decision(
        decision.id, DecisionUpdate(S.TRAINING, S.TRAINED, candidate_version=5)
    )
    with pytest.raises(ConflictError):  # a recorded run never changes
        store.advance_decision(
            decision.id, DecisionUpdate(S.TRAINED, S.GATED, pipeline_run_id=new_id())
        )
    assert store.get_decision(decision.id) == trained


def check_unknown_and_malformed_decision_ids_are_not_found(backend: LoopBackend) -> None:
    store = backend.store
    for missing in (new_id(), "not an id/at all"):
        with pytest.raises(NotFoundError):
            store.get_decision(missing)
        with pytest.raises(NotFoundError):
            store.advance_decision(missing, DecisionUpdate(S.TRIGGERED, S.TRAINING))


def check_a_fenced_write_needs_the_lease_held_now(backend: LoopBackend) -> None:
    store = backend.store
    name = f"agent-{uuid.uuid4().hex[:10]}"
    lease = store.acquire_lease(name, "agent-a", HOUR_MS)
    assert lease is not None
    decision = store.record_decision(_new(), lease=lease)
    assert decision.lease_token == lease.token
    store.release_lease(lease)
    taken = store.acquire_lease(name, "agent-b", HOUR_MS)
    assert taken is not None
    with pytest.raises(LeaseLostError):  # agent-a was deposed: it writes nothing
        store.advance_decision(decision.id, DecisionUpdate(S.TRIGGERED, S.TRAINING), lease=lease)
    with pytest.raises(LeaseLostError):
        store.record_decision(_new(), lease=lease)
    moved = store.advance_decision(
        decision.id, DecisionUpdate(S.TRIGGERED, S.TRAINING), lease=taken
    )
    assert moved.state is S.TRAINING and moved.lease_token == taken.token


def check_listing_filters_by_model_state_and_time_and_pages_newest_first(
    backend: LoopBackend,
) -> None:
    store = backend.store
    model = _model()
    made = []
    for _ in range(5):
        made.append(store.record_decision(_new(model)))
        time.sleep(0.002)
    store.record_decision(_new())  # another model's
    store.advance_decision(made[0].id, DecisionUpdate(S.TRIGGERED, S.FAILED, error="boom"))
    seen: list[str] = []
    token = None
    while True:
        page = store.list_decisions(model=model, max_results=2, page_token=token)
        assert len(page) <= 2
        seen += [d.id for d in page]
        token = page.next_page_token
        if token is None:
            break
    assert seen == [d.id for d in made[::-1]]
    failed = store.list_decisions(model=model, states=(S.FAILED,))
    assert [d.id for d in failed] == [made[0].id]
    open_ = store.list_decisions(model=model, states=(S.TRIGGERED, S.TRAINING))
    assert [d.id for d in open_] == [d.id for d in made[:0:-1]]
    recent = store.list_decisions(model=model, since=made[3].created_at)
    assert [d.id for d in recent] == [made[4].id, made[3].id]
    with pytest.raises(InvalidInputError):
        store.list_decisions(model=model, page_token="garbage")
    with pytest.raises(InvalidInputError):
        store.list_decisions(model=model, max_results=0)


def _race(stores: list[LoopStore], act: Callable[[LoopStore], object]) -> list[object]:
    """Each store acts at the same moment from its own thread; what each got (or raised)."""
    barrier = threading.Barrier(len(stores))
    results: list[object] = [None] * len(stores)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = act(stores[index])
        except Exception as exc:  # reported by the caller, not lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def check_two_agents_recording_the_same_key_make_one_decision(backend: LoopBackend) -> None:
    other = backend.open_another()
    try:
        model = _model()
        for _ in range(5):

            def record(store: LoopStore, new: NewDecision = _new(model)) -> object:
                return store.record_decision(new)

            results = _race([backend.store, other], record)
            assert all(isinstance(result, Decision) for result in results), results
            assert len({result.id for result in results}) == 1  # type: ignore[attr-defined]
        assert len(backend.store.list_decisions(model=model)) == 5
    finally:
        other.close()


def check_two_writers_advancing_one_decision_have_one_winner(backend: LoopBackend) -> None:
    other = backend.open_another()
    try:
        for _ in range(5):
            decision = backend.store.record_decision(_new())

            def advance(store: LoopStore, decision: Decision = decision) -> object:
                step = DecisionUpdate(S.TRIGGERED, S.TRAINING, pipeline_run_id=new_id())
                return store.advance_decision(decision.id, step)

            results = _race([backend.store, other], advance)
            won = [result for result in results if isinstance(result, Decision)]
            lost = [result for result in results if isinstance(result, StaleDecisionError)]
            assert (len(won), len(lost)) == (1, 1), results
            assert backend.store.get_decision(decision.id) == won[0]
    finally:
        other.close()


def decision_store_checks() -> list[DecisionCheck]:
    return [
        check_a_recorded_decision_round_trips_every_field,
        check_the_same_key_gets_the_stored_decision_back,
        check_a_key_recorded_for_another_model_or_trigger_is_a_conflict,
        check_bad_decisions_are_refused_and_nothing_is_stored,
        check_a_decision_walks_the_state_machine_and_keeps_what_each_step_made,
        check_moves_the_state_machine_lacks_are_refused,
        check_a_stale_move_is_refused_and_a_repeated_one_is_a_no_op,
        check_unknown_and_malformed_decision_ids_are_not_found,
        check_a_fenced_write_needs_the_lease_held_now,
        check_listing_filters_by_model_state_and_time_and_pages_newest_first,
        check_two_agents_recording_the_same_key_make_one_decision,
        check_two_writers_advancing_one_decision_have_one_winner,
    ]
