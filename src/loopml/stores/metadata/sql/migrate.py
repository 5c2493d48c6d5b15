"""Bring a database to the newest schema, safely when many processes open it at once.

Fast path: read the recorded revision with plain SQL; at :data:`HEAD_REVISION` nothing else
happens (Alembic is not even imported, it is slow to import). Slow path: take a lock that
serialises migrators, read the revision again inside it (another process may have just
migrated), and only then run Alembic:

* SQLite: an exclusive ``fcntl.flock`` on ``<database file>.lock``, then one ``BEGIN
  IMMEDIATE`` transaction for the whole upgrade (SQLite has transactional DDL).
* PostgreSQL: ``pg_advisory_xact_lock`` taken in the same transaction as the DDL, so the lock
  is released exactly when the new schema is committed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.errors import ConfigError
from loopml.stores.metadata.sql.engine import write_engine
from loopml.stores.metadata.sql.locking import exclusive_file_lock

HEAD_REVISION = "0012"
VERSION_TABLE = "loopml_schema_version"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# any fixed 64-bit number, shared by every loopml process talking to the same server
_PG_LOCK_KEY = 0x6C6F_6F70_6D6C_0001

log = logging.getLogger(__name__)


def current_revision(connection: Connection) -> str | None:
    """The schema revision recorded in the database, None for a fresh one."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    row = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return None if row is None else str(row[0])


def ensure_schema(engine: Engine, *, lock_file: Path | None) -> None:
    """Upgrade to :data:`HEAD_REVISION` unless already there.

    ``lock_file`` is the file locked around the upgrade of a SQLite file (None otherwise).
    """
    with engine.connect() as connection:
        if current_revision(connection) == HEAD_REVISION:
            return
    with exclusive_file_lock(lock_file, timeout_s=None):
        _upgrade(write_engine(engine))


def _upgrade(engine: Engine) -> None:
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # table rebuilds in future revisions must not cascade deletes; the pragma is only
            # honoured outside a transaction, so set it on the raw connection before BEGIN
            _sqlite_pragma(connection, "foreign_keys = OFF")
        try:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
                found = current_revision(connection)
                if found == HEAD_REVISION:
                    return
                # only the one process that migrates pays for importing Alembic
                _run_alembic(connection, found)
        finally:
            if sqlite:
                _sqlite_pragma(connection, "foreign_keys = ON")


def _run_alembic(connection: Connection, found: str | None) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.util.exc import CommandError

    log.info("Migrating the metadata store from %s to %s", found, HEAD_REVISION)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, "head")
    except CommandError as exc:
        raise ConfigError(
            f"The metadata store's schema is at revision {found!r}, which this version of "
            f"loopml does not know (newest known: {HEAD_REVISION}). Upgrade loopml, or point "
            "it at another database."
        ) from exc


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    """Run a PRAGMA outside any transaction (SQLAlchemy would BEGIN first)."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()
