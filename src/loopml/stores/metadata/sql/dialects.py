"""What the SQL store needs from one database's dialect, imported only for the database in use.

SQLAlchemy's PostgreSQL dialect (its ``INSERT … ON CONFLICT``, JSONB, and the drivers it
registers) takes a tenth of a second to import: every command opening a SQLite store would pay
for it. So the upserts and the JSON payload type pick their dialect when a statement is built
or compiled, from the connection's dialect name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.engine import Dialect

    DialectInsert = sqlite.Insert | postgresql.Insert

__all__ = ["Payload", "insert_for"]

POSTGRES = "postgresql"


def insert_for(dialect: str, table: sa.Table) -> DialectInsert:
    """``INSERT INTO table`` of ``dialect`` (``"sqlite"`` or ``"postgresql"``), with its
    ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    if dialect == POSTGRES:
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


class Payload(sa.types.TypeDecorator[Any]):
    """JSON; stored as JSONB on PostgreSQL (what the migrations create there)."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == POSTGRES:
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())
