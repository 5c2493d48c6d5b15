"""Engines for the SQL metadata store: URI checks, SQLite pragmas and locking, error mapping.

SQLite is tuned so that many processes can write one file at once: WAL (readers never block
the writer), a 30 s busy timeout, ``synchronous=NORMAL`` and foreign keys on. Write
transactions start with ``BEGIN IMMEDIATE`` so a writer takes the write lock up front and waits
for it (instead of failing with "database is locked" when a read transaction tries to upgrade).
This is SQLAlchemy's recipe for the pysqlite driver: turn off the driver's own transaction
handling and emit BEGIN from a ``begin`` event.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from loopml.core.errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    InvalidInputError,
    LoopMLError,
)
from loopml.core.redaction import redact_uri

BUSY_TIMEOUT_S = 30.0
WRITE_OPTION = "loopml_write"
_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")
_POSTGRES_DRIVERS = ("postgresql", "postgresql+psycopg")


def parse_uri(uri: str) -> URL:
    """Check ``uri`` and return it with the driver loopml uses (``postgresql`` → ``+psycopg``)."""
    try:
        url = sa.engine.make_url(uri)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConfigError(
            # SQLAlchemy's message repeats the whole URI, password included: not shown
            f"Invalid metadata store URI {redact_uri(uri)!r}. Use sqlite:///path/to/file.db "
            "or postgresql+psycopg://user:password@host:port/database."
        ) from exc
    if url.drivername in _POSTGRES_DRIVERS:
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in _SQLITE_DRIVERS:
        if is_memory_sqlite(url) or url.query.get("uri") in ("true", "1"):
            return url
        # absolute, so a later chdir cannot point new pooled connections at another file
        return url.set(database=str(Path(str(url.database)).absolute()))
    raise ConfigError(
        f"Unsupported SQL driver {url.drivername!r} in {mask_uri(uri)!r}; supported: "
        "sqlite://, postgresql://, postgresql+psycopg://."
    )


def mask_uri(uri: str | URL) -> str:
    """The URI with its password and secret query values replaced by ``***``, safe to log or
    show (SQLAlchemy's own rendering hides ``user:password@`` but not ``?password=``)."""
    try:
        url = sa.engine.make_url(uri)
    except (sa.exc.ArgumentError, ValueError):
        return "<unparsable URI>"
    return redact_uri(url.render_as_string(hide_password=False))


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL, None for an in-memory database."""
    if url.get_backend_name() != "sqlite" or is_memory_sqlite(url):
        return None
    return Path(str(url.database))


def create_store_engine(url: URL) -> Engine:
    """An engine for ``url`` (already checked by :func:`parse_uri`)."""
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
        if is_memory_sqlite(url):
            return engine  # its one connection *is* the database: a fork keeps using it
    else:
        try:
            engine = sa.create_engine(
                url,
                pool_pre_ping=True,
                connect_args={"application_name": "loopml", "connect_timeout": 10},
            )
        except ImportError as exc:
            raise BackendUnavailableError(
                f"PostgreSQL needs the psycopg driver, which is missing ({exc.name}). Install "
                "it with: pip install 'loopml[postgres]'."
            ) from exc
    _drop_connections_inherited_through_fork(engine)
    return engine


def _drop_connections_inherited_through_fork(engine: Engine) -> None:
    """A forked child (multiprocessing's default on Linux) must not use its parent's pooled
    connections: SQLAlchemy's recipe, each connection remembers the pid that opened it."""

    @event.listens_for(engine, "connect")
    def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _check_pid(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get("pid", os.getpid()) != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise sa.exc.DisconnectionError(
                "A connection opened by the parent process was left to the parent."
            )


def _sqlite_engine(url: URL) -> Engine:
    memory = is_memory_sqlite(url)
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the folder {path.parent} for the SQLite store: {exc}."
            ) from exc
    if memory:
        engine = sa.create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = sa.create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # the driver must not emit BEGIN itself: the "begin" listener below does
        dbapi_connection.isolation_level = None
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if not memory:
            _enable_wal(dbapi_connection)
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(dbapi_connection: sqlite3.Connection) -> None:
    """Switch to WAL. A fresh file being switched by another process at the same moment can
    answer "locked" despite the busy timeout, so that is retried; any other outcome (say, a
    read-only medium keeping its rollback journal) is accepted as it is."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def write_engine(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take the SQLite write lock up front."""
    return engine.execution_options(**{WRITE_OPTION: True})


@contextmanager
def translate_errors(masked_uri: str) -> Iterator[None]:
    """Turn driver errors into :class:`LoopMLError` subclasses that say what happened."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        raise ConflictError(
            f"The write conflicts with data already in the metadata store: {_first_line(exc)}."
        ) from exc
    except sa.exc.DataError as exc:
        raise InvalidInputError(f"The metadata store refused a value: {_first_line(exc)}.") from exc
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise BackendUnavailableError(
            f"The metadata store {masked_uri} failed: {_first_line(exc)}. Check that the "
            "database is reachable and the disk is writable, then retry."
        ) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise LoopMLError(f"The metadata store {masked_uri} failed: {_first_line(exc)}.") from exc


def _first_line(exc: sa.exc.SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
