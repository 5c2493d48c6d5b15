"""Alembic environment for the SQL metadata store.

It only runs programmatically (see :mod:`loopml.stores.metadata.sql.migrate`): the caller
passes an open connection, already inside the transaction (and lock) the upgrade must use, in
``config.attributes["connection"]``. There is no alembic.ini and no logging configuration.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from loopml.core.errors import ConfigError
from loopml.stores.metadata.sql.migrate import VERSION_TABLE


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise ConfigError(
            "loopml migrations run through loopml.stores.metadata.sql.migrate.ensure_schema, "
            "which passes an open connection; the alembic command line is not supported."
        )
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=VERSION_TABLE,
        transactional_ddl=True,
        # SQLite cannot ALTER most things: later revisions use batch mode (table rebuild)
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
