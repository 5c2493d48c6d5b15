"""Remote stores share one pooled HTTP client per server per process: ``loopml.start_run()``
with ``LOOPML_SERVER_URL`` set opens a new :class:`Client` for every run, and its runs
should still travel over one keep-alive connection, not a new client (and CA bundle load)
and connection each."""

from __future__ import annotations

import multiprocessing

import pytest

import loopml
from loopml.stores.remote.connections import shared_clients
from tests.fixtures.server import PlatformServer
from tests.fixtures.tcp_proxy import proxy_to

RUNS = 30


def test_many_start_runs_reuse_one_connection(
    platform_server: PlatformServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with proxy_to(platform_server.url) as proxy:
        monkeypatch.setenv("LOOPML_SERVER_URL", proxy.url)
        for _ in range(RUNS):
            with loopml.start_run(experiment="reuse"):
                pass
        # one connection, or a couple if the machine stalled past the keep-alive expiry;
        # a client per run opened at least one connection per run
        assert proxy.accepted <= 3, proxy.accepted


BEFORE_FORK: list[object] = []  # the parent's client, inherited by a forked child


def _is_the_parents_client(url: str) -> bool:
    return shared_clients.get(url, {}) is BEFORE_FORK[0]


def test_a_forked_child_gets_its_own_client_and_the_same_headers_share_one() -> None:
    url = "http://127.0.0.1:9/api/v1"
    first = shared_clients.get(url, {"Authorization": "Bearer a"})
    assert shared_clients.get(url, {"Authorization": "Bearer a"}) is first
    assert shared_clients.get(url, {"Authorization": "Bearer b"}) is not first
    BEFORE_FORK[:] = [shared_clients.get(url, {})]
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            assert pool.map(_is_the_parents_client, [url]) == [False]
    finally:
        BEFORE_FORK.clear()
