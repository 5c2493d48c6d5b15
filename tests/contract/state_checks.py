"""The loop-state behaviours every :class:`LoopStore` backend must have (``get_loop_state`` /
``put_loop_state``): a document read back as written, replaced whole, bad names and documents
refused with nothing stored, and a fenced write refused to a holder that lost its lease.
Names are unique per check, so they run against a server shared by several checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

import pytest

from loopml.core.errors import InvalidInputError, LeaseLostError
from tests.contract.loop_checks import LoopBackend

StateCheck = Callable[[LoopBackend], None]


def _name() -> str:
    return f"alerts:agent-{uuid.uuid4().hex[:10]}"


def check_a_state_round_trips_and_is_replaced_whole(backend: LoopBackend) -> None:
    store, name = backend.store, _name()
    assert store.get_loop_state(name) is None
    first = {"last_fired": [{"rule": "drift", "model": "m@champion", "fired_at_ms": 1}], "n": 0.5}
    store.put_loop_state(name, first)
    assert store.get_loop_state(name) == first
    store.put_loop_state(name, {"last_fired": []})
    other = backend.open_another()
    try:
        assert other.get_loop_state(name) == {"last_fired": []}  # replaced, not merged
    finally:
        other.close()


def check_bad_states_are_refused_and_nothing_is_stored(backend: LoopBackend) -> None:
    store, name = backend.store, _name()
    for bad_name in ("", "has space", "x" * 201):
        with pytest.raises(InvalidInputError, match="name"):
            store.put_loop_state(bad_name, {})
    with pytest.raises(InvalidInputError, match="finite"):
        store.put_loop_state(name, {"value": float("nan")})
    with pytest.raises(InvalidInputError, match="at most"):
        store.put_loop_state(name, {"big": "x" * 300_000})
    assert store.get_loop_state(name) is None


def check_a_fenced_state_write_needs_the_lease_held_now(backend: LoopBackend) -> None:
    store, name = backend.store, _name()
    lease = store.acquire_lease(f"agent-{uuid.uuid4().hex[:8]}", "agent-a", 60_000)
    assert lease is not None
    store.put_loop_state(name, {"n": 1}, lease=lease)
    assert store.get_loop_state(name) == {"n": 1}
    with pytest.raises(LeaseLostError):
        store.put_loop_state(name, {"n": 2}, lease=replace(lease, token=lease.token + 1))
    store.release_lease(lease)
    with pytest.raises(LeaseLostError):
        store.put_loop_state(name, {"n": 3}, lease=lease)
    assert store.get_loop_state(name) == {"n": 1}


def state_store_checks() -> list[StateCheck]:
    return [
        check_a_state_round_trips_and_is_replaced_whole,
        check_bad_states_are_refused_and_nothing_is_stored,
        check_a_fenced_state_write_needs_the_lease_held_now,
    ]
