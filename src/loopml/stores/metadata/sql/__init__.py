"""The SQL metadata store: SQLite (embedded default) and PostgreSQL, with Alembic migrations."""

from loopml.stores.metadata.sql.store import SqlMetadataStore

__all__ = ["SqlMetadataStore"]
