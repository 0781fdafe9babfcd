"""Building the SQLAlchemy engine for a store URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from . import sqlite
from .urls import StoreTarget

__all__ = ["create_store_engine", "session_settings"]


def create_store_engine(target: StoreTarget, *, create: bool = True) -> Engine:
    """An engine for ``target``; no connection is made yet.

    Every engine hides SQL parameters from its messages and logs: they carry
    configs (masked, but still the users' data) and identities.

    :param create: the SQLite file (and its directories) may be created. When
        False, no directory is made and SQLite opens the file with ``mode=rw``,
        which never creates it.
    """
    if target.backend == "sqlite":
        options: dict[str, Any] = {"connect_args": sqlite.connect_args(target)}
        path = sqlite.database_path(target)
        if create:
            sqlite.prepare_file(target)
        elif path is not None:
            options = {"creator": sqlite.existing_file_connector(path, target)}
        if target.memory:
            # One connection for the life of the store: each new connection to
            # ":memory:" would be a new, empty database.
            options["poolclass"] = StaticPool
        engine = create_engine(target.url, hide_parameters=True, **options)
        sqlite.install(engine, target, create=create)
        return engine
    connect_args: dict[str, Any] = {}
    if target.connect_timeout is not None:
        connect_args["connect_timeout"] = target.connect_timeout
    engine = create_engine(
        target.url,
        hide_parameters=True,
        # No ping on checkout (a round trip per transaction): a pooled connection
        # the server or a proxy dropped fails its first statement, SQLAlchemy
        # invalidates it, and SqlStore runs the transaction again on a new one.
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    install_session_settings(engine, target)
    return engine


IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000
"""The server ends a session of ours idle inside a transaction this long: only a
client that died (or hung) mid-transaction does that, and its locks (the chain
head's above all) must not block every other writer until TCP notices."""


def session_settings(target: StoreTarget) -> dict[str, str]:
    """The PostgreSQL session settings of every connection of a store."""
    return {
        # Waiting for a lock (a chain head held by a stuck transaction) ends at
        # the retry deadline, as waiting for a busy SQLite file does.
        "lock_timeout": f"{int(target.retry_deadline * 1000)}ms",
        "idle_in_transaction_session_timeout": f"{IDLE_IN_TRANSACTION_TIMEOUT_MS}ms",
    }


def install_session_settings(engine: Engine, target: StoreTarget) -> None:
    settings = session_settings(target)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Outside a transaction, so the settings hold for the whole session.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                for name, value in settings.items():
                    cursor.execute(f"SET {name} = '{value}'")
        finally:
            dbapi_connection.autocommit = autocommit

    event.listen(engine, "connect", on_connect)
