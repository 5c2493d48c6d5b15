"""``loopml agent``: the loop as one long-lived process per project.

Its state is the store's (decisions, leases, runs): a crash, a kill -9 or a SIGTERM never
loses a decision nor trains twice (``agent_tick``, ``agent_actions``, ``agent_training``).
One agent acts at a time: it holds the lease ``agent:<project>``, renewed every ttl/3 by a
thread of its own (so a long wait for a training keeps it); a second agent polls every
ttl/3 and takes over once the first's lease lapses. A lost lease stops the holder at once:
its writes carry the lease's fencing token and are refused anyway.

>>> stop = threading.Event()  # doctest: +SKIP
>>> run_agent(client, Path("."), tick_ms=30_000, lease_ttl_ms=30_000, holder="a", stop=stop)
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from loopml.core.errors import LeaseLostError, LoopMLError
from loopml.core.loop_records import Lease
from loopml.loop.agent_actions import TRAINING_TTL_MS, AgentContext
from loopml.loop.agent_tick import TickReport, tick_once
from loopml.tracking.client import Client

__all__ = ["LeaseKeeper", "agent_lease_name", "run_agent"]

_log = logging.getLogger("loopml.agent")


def agent_lease_name(client: Client, project: Path) -> str:
    """``agent:<project>``: one per store. A remote project is named by its server, an
    embedded one by its database (a file's path; a digest of a database URL, which may hold
    a password)."""
    spec = client.spec
    if spec.server_url is not None:
        where = spec.server_url.split("://", 1)[-1]
    elif spec.store_uri is not None and spec.store_uri.startswith("sqlite:"):
        where = spec.store_uri.split(":///", 1)[-1]
    elif spec.store_uri is not None:
        where = "store-" + hashlib.sha256(spec.store_uri.encode()).hexdigest()[:16]
    else:  # pragma: no cover - a client has a server or a store
        where = str(project.resolve())
    cleaned = "".join(c if c.isalnum() or c in "_.:@-" else "-" for c in where).strip("-")
    return "agent:" + cleaned[-190:]  # a lease name is at most 200 characters


class LeaseKeeper:
    """Holds the agent's lease: acquires it, renews it every ttl/3 on a thread, notices when
    it is lost (``lost`` is set, and the acting thread is told through ``stop``)."""

    def __init__(self, client: Client, name: str, holder: str, ttl_ms: int) -> None:
        self.client, self.name, self.holder, self.ttl_ms = client, name, holder, ttl_ms
        self.lease: Lease | None = None
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> Lease | None:
        self.lease = self.client.loop.acquire_lease(self.name, self.holder, self.ttl_ms)
        if self.lease is not None:
            self.lost.clear()
            self._done.clear()
            self._thread = threading.Thread(target=self._renew, name="loopml-agent-lease")
            self._thread.daemon = True
            self._thread.start()
        return self.lease

    def _renew(self) -> None:
        while not self._done.wait(self.ttl_ms / 3000):
            lease = self.lease
            if lease is None:
                return
            try:
                self.lease = self.client.loop.renew_lease(lease, self.ttl_ms)
            except LeaseLostError:
                _log.warning("lost the lease %s: stopping", self.name)
                self.lost.set()
                return
            except LoopMLError as exc:  # the store is away for a moment: the next beat retries
                _log.warning("could not renew the lease %s: %s", self.name, exc.message)

    def release(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        lease, self.lease = self.lease, None
        if lease is not None and not self.lost.is_set():
            try:
                self.client.loop.release_lease(lease)
            except LoopMLError as exc:  # it lapses after the ttl by itself
                _log.warning("could not release the lease %s: %s", self.name, exc.message)


def run_agent(
    client: Client,
    project: Path,
    *,
    tick_ms: int,
    lease_ttl_ms: int,
    holder: str,
    stop: threading.Event,
    on_tick: Callable[[TickReport], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Act as the project's agent until ``stop`` is set: wait for the lease (polling every
    ttl/3), then tick every ``tick_ms`` while it is held; a lost lease goes back to waiting.
    On ``stop`` the current store write finishes, the lease is released and it returns (a
    training in progress goes on in its own process; the next agent picks it up)."""
    say = progress or (lambda line: None)
    keeper = LeaseKeeper(client, agent_lease_name(client, project), holder, lease_ttl_ms)
    waiting_said = False
    while not stop.is_set():
        try:
            acquired = keeper.acquire()
            current = None if acquired is not None else client.loop.get_lease(keeper.name)
        except LoopMLError as exc:  # the store is away: try again in a moment
            say(f"cannot reach the store: {exc.message}")
            stop.wait(lease_ttl_ms / 3000)
            continue
        if acquired is None:
            if not waiting_said:
                other = current.holder if current is not None else "another agent"
                say(f"waiting: {other} holds {keeper.name}")
                waiting_said = True
            stop.wait(lease_ttl_ms / 3000)
            continue
        waiting_said = False
        say(f"holding {keeper.name} as {holder}")
        try:
            _hold(client, project, keeper, tick_ms, stop, on_tick, say)
        finally:
            keeper.release()
    say("stopped")


def _hold(
    client: Client,
    project: Path,
    keeper: LeaseKeeper,
    tick_ms: int,
    stop: threading.Event,
    on_tick: Callable[[TickReport], None] | None,
    say: Callable[[str], None],
) -> None:
    """Tick while the lease is held; returns when it is lost or on ``stop``."""
    acting = threading.Event()  # set by stop or by a lost lease: the tick gives up at once
    watcher = threading.Thread(target=_watch, args=(stop, keeper.lost, acting), daemon=True)
    watcher.start()
    lease = keeper.lease
    ctx = AgentContext(
        client=client,
        project=project,
        lease=lease,
        holder=keeper.holder,
        training_ttl_ms=max(keeper.ttl_ms, TRAINING_TTL_MS),
        stop=acting,
        say=say,
    )
    try:
        while not acting.is_set():
            try:
                report = tick_once(client, project, lease=lease, context=ctx)
            except LeaseLostError as exc:
                say(f"lease lost: {exc.message}")
                return
            except Exception as exc:  # the store is away, or a bug: try again at the next tick
                text = exc.message if isinstance(exc, LoopMLError) else repr(exc)
                _log.exception("tick failed")
                say(f"tick failed: {text}")
            else:
                if on_tick is not None:
                    on_tick(report)
            acting.wait(tick_ms / 1000)
    finally:
        acting.set()
        watcher.join()


def _watch(stop: threading.Event, lost: threading.Event, acting: threading.Event) -> None:
    while not acting.is_set():
        if stop.wait(0.1) or lost.is_set():
            acting.set()
