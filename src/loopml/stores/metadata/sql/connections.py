"""What every slice of the SQL metadata store stands on: the engine, the schema migration on
open, and the read and write transactions (writers of one SQLite file queue on a file lock).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.errors import NotFoundError
from loopml.stores.metadata.sql.engine import (
    BUSY_TIMEOUT_S,
    create_store_engine,
    is_memory_sqlite,
    mask_uri,
    parse_uri,
    sqlite_path,
    translate_errors,
    write_engine,
)
from loopml.stores.metadata.sql.locking import exclusive_file_lock, lock_file_for
from loopml.stores.metadata.sql.migrate import ensure_schema
from loopml.stores.metadata.sql.schema import runs
from loopml.stores.metadata.sql.writes import Upserts


class SqlStoreBase:
    """Opens the database at ``uri`` (migrating its schema) and hands out transactions."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        url = parse_uri(uri)
        self._masked_uri = mask_uri(url)
        self._engine: Engine = create_store_engine(url)
        self._writer = write_engine(self._engine)
        self._upserts = Upserts(self._engine.dialect.name)
        # an in-memory database is one shared connection: one transaction at a time
        self._serial: AbstractContextManager[object] = (
            threading.RLock() if is_memory_sqlite(url) else nullcontext()
        )
        path = sqlite_path(url)
        # writers of one SQLite file queue on this lock (see .locking); None for PostgreSQL
        self._lock_file = None if path is None else lock_file_for(path)
        try:
            with translate_errors(self._masked_uri):
                ensure_schema(self._engine, lock_file=self._lock_file)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def writes_queue_on_a_file_lock(self) -> bool:
        """Whether this is a SQLite file, whose writers take turns on a lock file: a write
        then either gets the lock at once or can be told not to wait for it (see .locking;
        not on Windows, which has no ``flock``: there SQLite's own busy handler waits)."""
        return self._lock_file is not None and sys.platform != "win32"

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._serial, translate_errors(self._masked_uri), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with (
            self._serial,
            exclusive_file_lock(self._lock_file, timeout_s=BUSY_TIMEOUT_S),
            translate_errors(self._masked_uri),
            self._writer.begin() as conn,
        ):
            yield conn

    def _require_run(
        self, conn: Connection, run_id: str, *, what: str = "run", lock: bool = False
    ) -> None:
        query = sa.select(runs.c.id).where(runs.c.id == run_id)
        if lock:  # PostgreSQL: a concurrent delete waits until this transaction ends
            query = query.with_for_update(read=True, key_share=True)
        if conn.execute(query).first() is None:
            raise NotFoundError(f"No {what} with id {run_id!r}.")
