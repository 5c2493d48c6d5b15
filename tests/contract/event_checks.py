"""Metadata store checks of the event log: appended events are listed back in order."""

from __future__ import annotations

import math

import pytest

from loopml.core.errors import (
    InvalidInputError,
)
from loopml.stores.metadata.base import MetadataStore
from tests.contract.metadata_check_data import (
    unique_name,
)

# events


def check_events_are_listed_in_append_order(store: MetadataStore) -> None:
    target = unique_name("model")
    appended = [
        store.append_event(actor="ana", action="promote", target=target, payload={"n": i, "x": [1]})
        for i in range(5)
    ]
    # a server records its authenticated caller as the actor, and the name sent as a claim
    assert [_unclaimed(e.payload) for e in appended] == [{"n": i, "x": [1]} for i in range(5)]
    seqs = [e.seq for e in appended]
    assert seqs == list(range(seqs[0], seqs[0] + 5))  # positions of the hash chain
    assert [e.prev_hash for e in appended[1:]] == [e.hash for e in appended[:-1]]
    listed = []
    token = None
    while True:
        page = store.list_events(max_results=2, page_token=token)
        listed += [e for e in page.items if e.target == target]
        token = page.next_page_token
        if token is None:
            break
    assert listed == appended
    with pytest.raises(InvalidInputError):
        store.append_event(actor="ana", action="x", target=target, payload={"bad": math.nan})


def _unclaimed(payload: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in payload.items() if key != "claimed_actor"}
