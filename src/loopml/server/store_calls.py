"""Store calls from ``async`` routes: on the event loop when that cannot stall it, else in the
threadpool.

A sync route costs a hop to a worker thread and back (anyio's threadpool, a wake-up of each
thread): on a SQLite store that is more than the store's own write for a run's start or end
(≈ 0.4 ms of server CPU per request, the largest part of what FastAPI adds). A write to a
SQLite file takes the store's write lock first; run on the loop without waiting for it, it
either gets the lock at once, and is short, or raises before writing anything, and is then
run in the threadpool like any sync route, where it waits for the lock without holding up the
other requests. Reads never wait in WAL mode. Other stores (PostgreSQL: a network round trip
per statement) are always called in the threadpool.

Every call passed here must be safe to run again after :class:`WriteLockBusyError`: a single
write, or writes that find their own earlier result (a run's experiment, found by name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.locking import WriteLockBusyError, writes_without_waiting

P = ParamSpec("P")
T = TypeVar("T")


async def call_store(
    store: object, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``call(*args, **kwargs)``, a call on ``store``, inline if it is quick, else in a thread."""
    if isinstance(store, SqlStoreBase) and store.writes_queue_on_a_file_lock:
        try:
            with writes_without_waiting():
                return call(*args, **kwargs)
        except WriteLockBusyError:
            pass  # another writer holds the lock: wait for it off the event loop
    return await run_in_threadpool(call, *args, **kwargs)
