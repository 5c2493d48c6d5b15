"""Every metadata store backend (sqlite, postgres, remote) filters the audit log itself:
``list_events(since=, actor=, target=)`` lists exactly the events ``EventFilter.matches``
(what ``loopml audit log`` showed when it filtered on the client), page by page; bad filters
are refused by the store, and by the server's ``GET /events`` with a 400."""

from __future__ import annotations

import httpx
import pytest

from loopml.core.entities import Event
from loopml.core.errors import InvalidInputError
from loopml.stores.metadata.base import MetadataStore
from loopml.tracking.audit_log import EventFilter, iter_events, select_events
from tests.contract.metadata_check_data import unique_name


def _paged(store: MetadataStore, wanted: EventFilter, size: int) -> list[Event]:
    listed: list[Event] = []
    token: str | None = None
    while True:
        page = store.list_events(
            max_results=size,
            page_token=token,
            since=wanted.since,
            actor=wanted.actor,
            target=wanted.target,
        )
        assert len(page.items) <= size
        listed += page.items
        token = page.next_page_token
        if token is None:
            return listed


def test_the_store_lists_what_the_filter_matches(metadata_store: MetadataStore) -> None:
    base = unique_name("model")
    targets = [f"{base}:a", f"{base}:b", f"{base}x:c", f"{base.upper()}:d", f"{base}Y:e"]
    appended = [
        metadata_store.append_event(actor="ana", action="note", target=t, payload={"n": n})
        for n, t in enumerate(targets)
    ]
    everything = list(iter_events(metadata_store))
    filters = [
        EventFilter(target=f"{base}:"),
        EventFilter(target=f"{base}:*"),
        EventFilter(target=f"{base}*"),
        EventFilter(target=f"{base}_:"),  # '_' is no wildcard, nor is the case ignored
        EventFilter(target=f"{base}:a"),
        EventFilter(target=f"{base}:"[:-1]),  # exact: no event has that target
        EventFilter(since=appended[2].timestamp, target=f"{base}*"),
        EventFilter(actor=appended[0].actor, target=f"{base}*"),
        EventFilter(actor="nobody-at-all"),
        EventFilter(since=appended[-1].timestamp + 10**9),
    ]
    for wanted in filters:
        expected = [e for e in everything if wanted.matches(e)]
        assert list(select_events(metadata_store, wanted)) == expected, wanted
        assert _paged(metadata_store, wanted, 1) == expected, wanted
    by_prefix = list(select_events(metadata_store, EventFilter(target=f"{base}:")))
    assert [e.target for e in by_prefix] == targets[:2]
    assert [e.target for e in select_events(metadata_store, EventFilter(target=f"{base}*"))] == [
        targets[0],
        targets[1],
        targets[2],
        targets[4],
    ]


@pytest.mark.parametrize(
    ("since", "actor", "target"),
    [(2**63, None, None), (True, None, None), (None, "a" * 251, None), (None, None, "t" * 1001)],
)
def test_bad_filters_are_refused(
    metadata_store: MetadataStore, since: object, actor: object, target: object
) -> None:
    with pytest.raises(InvalidInputError, match="events filter"):
        metadata_store.list_events(since=since, actor=actor, target=target)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        f"since={2**63}",
        "since=1.5",
        f"actor={'a' * 251}",
        f"target={'t' * 1001}",
    ],
)
def test_the_server_answers_400_to_a_bad_filter(
    shared_platform_server_url: str, query: str
) -> None:
    response = httpx.get(f"{shared_platform_server_url}/api/v1/events?{query}", timeout=30)
    assert response.status_code == 400, response.text
    assert query.split("=")[0] in response.text


def test_newest_first_lists_the_same_events_in_reverse_page_by_page(
    metadata_store: MetadataStore,
) -> None:
    target = f"{unique_name('model')}:"
    for n in range(5):
        metadata_store.append_event(actor="ana", action="note", target=f"{target}{n}", payload={})
    oldest_first = [e.seq for e in iter_events(metadata_store, EventFilter(target=target))]
    newest_first: list[int] = []
    token: str | None = None
    while True:
        page = metadata_store.list_events(
            max_results=2, page_token=token, target=target, newest_first=True
        )
        assert len(page.items) <= 2
        newest_first += [e.seq for e in page.items]
        token = page.next_page_token
        if token is None:
            break
    assert len(oldest_first) == 5 and newest_first == oldest_first[::-1]
    # a token of one order is refused by the other: it would skip or repeat events
    first = metadata_store.list_events(max_results=2, target=target, newest_first=True)
    with pytest.raises(InvalidInputError):
        metadata_store.list_events(max_results=2, page_token=first.next_page_token, target=target)
