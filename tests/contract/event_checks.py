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
    assert [e.payload for e in appended] == [{"n": i, "x": [1]} for i in range(5)]
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
