"""Verifying the audit log stored in SQL (``loopml audit verify``), fast: rows come straight
from the driver's cursor (SQLAlchemy's row processing cost a third more on a million events),
and a long log is walked as two stretches at once, one in a forked process.

Each entry's check needs only the stored hash before it, so the tail (positions after
``split``) can be walked from the stored hash of entry ``split`` while this process walks the
head (positions up to ``split``) from :data:`~loopml.core.audit_chain.GENESIS`. The tail's
result is kept only when the head ends intact exactly where the tail started (position
``split``, that same hash); otherwise the tail is walked again here, from where the head
really ended, so the report is always the one a single walk gives: the FIRST bad position.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Generator, Iterable
from contextlib import closing
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.audit_chain import (
    GENESIS,
    Anchor,
    ChainEntry,
    ChainReport,
    ChainWalk,
    anchor_positions,
    chain_report,
    walk_chain,
)
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.engine import is_memory_sqlite

SPLIT_FROM = 100_000
"""Logs shorter than this are walked in one process (a fork then costs more than it saves)."""

_COLUMNS = (
    'seq, "timestamp", actor, action, target, request_id, before_digest, after_digest, '
    "payload, prev_hash, hash"
)


def verify_stored_chain(
    store: SqlStoreBase, anchors: Iterable[Anchor] = (), *, split: int | None = None
) -> ChainReport:
    """:func:`~loopml.core.audit_chain.verify_chain` of the log in ``store``, in one read
    transaction (a consistent snapshot). ``split``: the last position of the head stretch
    (tests choose it); by default the middle of a log of at least :data:`SPLIT_FROM`
    entries when this process may fork (one thread, a database file or server), else none.
    """
    wanted = anchor_positions(anchors)
    with store._read() as conn:
        if split is None and _may_fork(store):
            last = conn.execute(sa.text("SELECT max(seq) FROM events")).scalar()
            split = last // 2 if isinstance(last, int) and last >= SPLIT_FROM else None
        if split is None:
            walk = _walk(conn, "", wanted)
        else:
            walk = _walk_in_two(store, conn, split, wanted)
    return chain_report(walk, wanted)


def _may_fork(store: SqlStoreBase) -> bool:
    # forking a process that runs other threads (a server) may copy a lock one of them holds
    return (
        hasattr(os, "fork")
        and threading.active_count() == 1
        and not is_memory_sqlite(store._engine.url)
    )


def _walk_in_two(
    store: SqlStoreBase, conn: Connection, split: int, wanted: dict[int, str]
) -> ChainWalk:
    reader, writer = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no process to spare: one walk
        os.close(reader)
        os.close(writer)
        return _walk(conn, "", wanted)
    if pid == 0:  # the child: walks the tail, sends its result, never returns
        os.close(reader)
        _walk_tail_and_exit(store, split, wanted, writer)
    os.close(writer)
    tail: tuple[str, int, ChainWalk] | None = None
    try:
        head = _walk(conn, f"WHERE seq <= {int(split)}", wanted)
        if head.first_bad is None:
            tail = _result_of(reader)
    finally:
        os.close(reader)
        if tail is None:  # not needed (or never came): stop the child
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if head.first_bad is not None:
        return head
    if tail is not None and tail[:2] == (head.prev, head.expected):
        return tail[2]
    # the head ended elsewhere (or the child failed): walk the tail on from where it ended
    return _walk(conn, f"WHERE seq > {int(split)}", wanted, head.prev, head.expected)


def _walk_tail_and_exit(
    store: SqlStoreBase, split: int, wanted: dict[int, str], writer: int
) -> None:
    code = 1
    try:
        # the parent's pooled connections are not this process's to use or close
        store._engine.dispose(close=False)
        with store._read() as conn, closing(_rows(conn, f"WHERE seq >= {int(split)}")) as rows:
            first = next(rows, None)
            if first is not None and first[0] == split:
                start = (first[10], split + 1)
                walk = walk_chain(rows, wanted, *start)
                with os.fdopen(writer, "wb") as out:
                    pickle.dump((*start, walk), out)
        code = 0
    finally:
        os._exit(code)  # no atexit hooks, no flushing of buffers the parent still owns


def _result_of(reader: int) -> tuple[str, int, ChainWalk] | None:
    with os.fdopen(reader, "rb", closefd=False) as data:
        sent = data.read()
    if not sent:
        return None
    prev, expected, walk = pickle.loads(sent)
    return str(prev), int(expected), ChainWalk(*walk)


def _walk(
    conn: Connection, where: str, wanted: dict[int, str], prev: str = GENESIS, expected: int = 1
) -> ChainWalk:
    with closing(_rows(conn, where)) as rows:  # its cursor closed at once, even on a bad entry
        return walk_chain(rows, wanted, prev, expected)


def _rows(conn: Connection, where: str) -> Generator[ChainEntry]:
    """The entries ``where`` selects, in position order, from the driver's own cursor
    (PostgreSQL: a server-side one, so a big log is never held in memory whole)."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    postgres = conn.dialect.name == "postgresql"
    cursor: Any = dbapi.cursor(name="loopml_audit_chain") if postgres else dbapi.cursor()
    try:
        cursor.execute(f"SELECT {_COLUMNS} FROM events {where} ORDER BY seq")
        while batch := cursor.fetchmany(20_000):
            yield from batch
    finally:
        cursor.close()
