"""The deployment and lease behaviours every :class:`LoopStore` backend must have.

``loop_store_checks()`` lists them. Each takes a :class:`LoopBackend`: the store, and a way to
open another one on the same backend (a second process's view, for the races). Checks name
their models and leases uniquely and never assume an empty store, so they also run against a
server shared by several checks. A deadline that must pass is waited out with a sleep several
times longer than it (1 ms heartbeat → gone after 3 ms); nothing measures how long a call took.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from loopml.core.errors import (
    ConflictError,
    InvalidInputError,
    LeaseLostError,
    NotFoundError,
)
from loopml.core.ids import new_id
from loopml.core.loop_records import LAPSE_INTERVALS, DeploymentState, Lease, NewDeployment
from loopml.stores.loop.base import LoopStore


@dataclass
class LoopBackend:
    store: LoopStore
    open_another: Callable[[], LoopStore]


LoopCheck = Callable[[LoopBackend], None]
HOUR_MS = 3_600_000


def _model() -> str:
    return f"served-{uuid.uuid4().hex[:10]}"


def _new(model: str | None = None, **fields: object) -> NewDeployment:
    values: dict[str, object] = {
        "id": new_id(),
        "model": model or _model(),
        "address": "http://127.0.0.1:8080",
        "heartbeat_ms": HOUR_MS,
        "alias": "champion",
        "version": None,
        "run_id": new_id(),
        **fields,
    }
    return NewDeployment(**values)  # type: ignore[arg-type]


def _lapse() -> None:
    time.sleep(0.05)  # > LAPSE_INTERVALS x the 1 ms heartbeat of _new(heartbeat_ms=1)


def check_a_registered_deployment_round_trips_every_field(backend: LoopBackend) -> None:
    store = backend.store
    new = _new(version=3)
    stored = store.register_deployment(new)
    assert (stored.id, stored.model, stored.address, stored.alias) == (
        new.id,
        new.model,
        new.address,
        "champion",
    )
    assert (stored.version, stored.run_id, stored.heartbeat_ms) == (3, new.run_id, HOUR_MS)
    assert stored.state is DeploymentState.LIVE
    assert stored.heartbeat_at == stored.started_at
    assert stored.expires_at == stored.heartbeat_at + LAPSE_INTERVALS * HOUR_MS
    assert (stored.ended_at, stored.end_reason) == (None, None)
    assert store.get_deployment(new.id) == stored


def check_registering_again_with_the_same_id_is_a_no_op(backend: LoopBackend) -> None:
    store = backend.store
    new = _new()
    first = store.register_deployment(new)
    again = store.register_deployment(new)
    assert again.started_at == first.started_at
    assert [d.id for d in store.list_deployments(model=new.model)] == [new.id]


def check_an_id_registered_for_another_model_is_a_conflict(backend: LoopBackend) -> None:
    new = _new()
    backend.store.register_deployment(new)
    with pytest.raises(ConflictError):
        backend.store.register_deployment(replace(new, model=_model()))


def _bad(field: str) -> NewDeployment:
    """A registration with one bad field."""
    values = {
        "id": "no spaces allowed",
        "model": "no/slash",
        "address": "",
        "heartbeat_ms": 0,
        "version": 0,
    }
    return replace(_new(), **{field: values[field]})


def check_bad_fields_are_refused_and_nothing_is_stored(backend: LoopBackend) -> None:
    for field in ("id", "model", "address", "heartbeat_ms", "version"):
        bad = _bad(field)
        with pytest.raises(InvalidInputError):
            backend.store.register_deployment(bad)
        if field != "id":
            with pytest.raises(NotFoundError):
                backend.store.get_deployment(bad.id)


def check_a_heartbeat_moves_the_deadline_and_records_the_version(backend: LoopBackend) -> None:
    store = backend.store
    new = _new()
    first = store.register_deployment(new)
    time.sleep(0.005)
    beat = store.heartbeat_deployment(new.id, version=2)
    assert beat.version == 2 and beat.heartbeat_at > first.heartbeat_at
    assert beat.expires_at == beat.heartbeat_at + LAPSE_INTERVALS * HOUR_MS
    assert store.heartbeat_deployment(new.id).version == 2  # None: unchanged
    with pytest.raises(InvalidInputError):
        store.heartbeat_deployment(new.id, version=-1)


def check_unknown_and_malformed_ids_are_not_found(backend: LoopBackend) -> None:
    store = backend.store
    for missing in (new_id(), "not an id/at all"):
        with pytest.raises(NotFoundError):
            store.get_deployment(missing)
        with pytest.raises(NotFoundError):
            store.heartbeat_deployment(missing)
        with pytest.raises(NotFoundError):
            store.end_deployment(missing, "stopped")


def check_an_ended_deployment_stays_ended(backend: LoopBackend) -> None:
    store = backend.store
    new = _new()
    store.register_deployment(new)
    ended = store.end_deployment(new.id, "stopped")
    assert ended.state is DeploymentState.ENDED
    assert ended.end_reason == "stopped" and ended.ended_at is not None
    assert store.end_deployment(new.id, "again") == store.get_deployment(new.id) == ended
    with pytest.raises(ConflictError):
        store.heartbeat_deployment(new.id)
    with pytest.raises(InvalidInputError):
        store.end_deployment(new.id, "")


def check_a_silent_deployment_is_gone_and_marked_once(backend: LoopBackend) -> None:
    store = backend.store
    model = _model()
    silent = _new(model, heartbeat_ms=1)
    beating = _new(model)
    store.register_deployment(silent)
    store.register_deployment(beating)
    _lapse()
    assert store.get_deployment(silent.id).state is DeploymentState.GONE
    gone = [d.id for d in store.list_deployments(model=model, state=DeploymentState.GONE)]
    live = [d.id for d in store.list_deployments(model=model, state=DeploymentState.LIVE)]
    assert (gone, live) == ([silent.id], [beating.id])
    marked = [d for d in store.mark_gone_deployments() if d.model == model]
    assert [d.id for d in marked] == [silent.id]
    assert marked[0].state is DeploymentState.GONE
    assert marked[0].ended_at == marked[0].heartbeat_at  # gone since its last heartbeat
    assert not [d for d in store.mark_gone_deployments() if d.model == model]
    revived = store.heartbeat_deployment(silent.id)  # it was cut off, not dead
    assert revived.state is DeploymentState.LIVE and revived.ended_at is None


def check_listing_filters_and_pages_newest_first(backend: LoopBackend) -> None:
    store = backend.store
    model = _model()
    ids = []
    for _ in range(5):
        ids.append(store.register_deployment(_new(model)).id)
        time.sleep(0.002)
    store.register_deployment(_new())  # another model's
    store.end_deployment(ids[0], "stopped")
    seen: list[str] = []
    token = None
    while True:
        page = store.list_deployments(model=model, max_results=2, page_token=token)
        assert len(page) <= 2
        seen += [d.id for d in page]
        token = page.next_page_token
        if token is None:
            break
    assert seen == ids[::-1]
    ended = store.list_deployments(model=model, state=DeploymentState.ENDED)
    assert [d.id for d in ended] == [ids[0]]
    with pytest.raises(InvalidInputError):
        store.list_deployments(model=model, page_token="garbage")
    with pytest.raises(InvalidInputError):
        store.list_deployments(model=model, max_results=0)


def check_a_lease_has_one_holder_and_a_growing_token(backend: LoopBackend) -> None:
    store = backend.store
    name = f"lease-{uuid.uuid4().hex[:10]}"
    assert store.get_lease(name) is None
    first = store.acquire_lease(name, "agent-a", HOUR_MS)
    assert first is not None and first.holder == "agent-a"
    assert store.acquire_lease(name, "agent-b", HOUR_MS) is None
    again = store.acquire_lease(name, "agent-a", HOUR_MS)
    assert again is not None and again.token == first.token
    renewed = store.renew_lease(first, HOUR_MS)
    assert renewed.token == first.token and renewed.expires_at >= first.expires_at
    assert store.get_lease(name) == renewed
    store.release_lease(first)
    assert store.get_lease(name) is None
    second = store.acquire_lease(name, "agent-b", HOUR_MS)
    assert second is not None and second.token > first.token
    with pytest.raises(LeaseLostError):
        store.renew_lease(first, HOUR_MS)
    store.release_lease(first)  # not the holder any more: a no-op
    assert store.get_lease(name) == second


def check_an_expired_lease_is_taken_over_with_a_larger_token(backend: LoopBackend) -> None:
    store = backend.store
    name = f"lease-{uuid.uuid4().hex[:10]}"
    short = store.acquire_lease(name, "agent-a", 1)
    assert short is not None
    _lapse()
    assert store.get_lease(name) is None
    with pytest.raises(LeaseLostError):
        store.renew_lease(short, HOUR_MS)
    taken = store.acquire_lease(name, "agent-b", HOUR_MS)
    assert taken is not None and taken.token > short.token


def check_bad_lease_arguments_are_refused(backend: LoopBackend) -> None:
    store = backend.store
    with pytest.raises(InvalidInputError):
        store.acquire_lease("has space", "agent-a", HOUR_MS)
    with pytest.raises(InvalidInputError):
        store.acquire_lease(f"lease-{uuid.uuid4().hex[:10]}", "", HOUR_MS)
    with pytest.raises(InvalidInputError):
        store.acquire_lease(f"lease-{uuid.uuid4().hex[:10]}", "agent-a", 0)


def _race(first: LoopStore, second: LoopStore, name: str) -> dict[str, object]:
    """Both stores acquire ``name`` at the same moment; what each got (or raised)."""
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def contend(store: LoopStore, holder: str) -> None:
        barrier.wait()
        try:
            results[holder] = store.acquire_lease(name, holder, HOUR_MS)
        except Exception as exc:  # reported by the caller, not lost in the thread
            results[holder] = exc

    threads = [
        threading.Thread(target=contend, args=(first, "agent-a")),
        threading.Thread(target=contend, args=(second, "agent-b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def check_two_contenders_never_both_hold_a_lease(backend: LoopBackend) -> None:
    """Two stores (as two processes would have) race for fresh leases, then for the same one
    once released; each round exactly one wins, with a token larger than the last."""
    other = backend.open_another()
    try:
        name = f"race-{uuid.uuid4().hex[:10]}"
        last = 0
        for _ in range(10):
            results = _race(backend.store, other, name)
            winners = [lease for lease in results.values() if isinstance(lease, Lease)]
            assert len(winners) == 1 and len(results) == 2, results
            assert [v for v in results.values() if v is not winners[0]] == [None], results
            assert winners[0].token > last
            last = winners[0].token
            assert backend.store.get_lease(name) == winners[0]
            backend.store.release_lease(winners[0])
    finally:
        other.close()


def loop_store_checks() -> list[LoopCheck]:
    return [
        check_a_registered_deployment_round_trips_every_field,
        check_registering_again_with_the_same_id_is_a_no_op,
        check_an_id_registered_for_another_model_is_a_conflict,
        check_bad_fields_are_refused_and_nothing_is_stored,
        check_a_heartbeat_moves_the_deadline_and_records_the_version,
        check_unknown_and_malformed_ids_are_not_found,
        check_an_ended_deployment_stays_ended,
        check_a_silent_deployment_is_gone_and_marked_once,
        check_listing_filters_and_pages_newest_first,
        check_a_lease_has_one_holder_and_a_growing_token,
        check_an_expired_lease_is_taken_over_with_a_larger_token,
        check_bad_lease_arguments_are_refused,
        check_two_contenders_never_both_hold_a_lease,
    ]
