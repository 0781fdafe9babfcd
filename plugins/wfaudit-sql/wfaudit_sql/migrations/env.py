"""Alembic environment of the wfaudit SQL store.

Migrations only run through :mod:`wfaudit_sql.migrate` (``wfaudit db upgrade``, or
automatically when a store is opened), which hands Alembic an open connection
inside the transaction (and, on PostgreSQL, the advisory lock) it holds. There is
no ``alembic.ini`` and no URL here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from wfaudit_sql.migrate import VERSION_TABLE
from wfaudit_sql.schema import metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "the wfaudit-sql migrations run through `wfaudit db upgrade`, "
            "not the alembic command line"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
