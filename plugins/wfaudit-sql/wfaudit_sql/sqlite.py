"""SQLite specifics: connection pragmas, ``BEGIN IMMEDIATE`` for writes, busy errors.

pysqlite's own transaction handling is switched off (``isolation_level=None``)
and SQLAlchemy's ``begin`` event emits the ``BEGIN`` instead, as SQLAlchemy's
SQLite documentation describes. Write transactions (connections carrying the
:data:`WRITE_OPTION` execution option) start with ``BEGIN IMMEDIATE``: they take
the write lock up front, so two writers can never both hold a read lock and then
deadlock trying to upgrade it, which a deferred ``BEGIN`` allows (SQLite then
fails one of them at once with "database is locked", whatever the busy timeout).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from .urls import StoreTarget

__all__ = ["SINGLE_READ_OPTION", "WRITE_OPTION", "install", "is_busy", "prepare_file"]

WRITE_OPTION = "wfaudit_write"
"""Execution option marking a connection whose transactions write."""

SINGLE_READ_OPTION = "wfaudit_single_read"
"""Execution option marking a connection that only runs single-statement reads:
no ``BEGIN``, each statement is its own (consistent) read transaction, as on
PostgreSQL's autocommit reader. Two statements (and a ``COMMIT``) fewer per read."""

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


def prepare_file(target: StoreTarget) -> None:
    """Create the parent directories of a SQLite database file."""
    if target.memory or not target.url.database:
        return
    database = target.url.database
    if database.startswith("file:"):  # a URI filename: leave it to SQLite
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def connect_args(target: StoreTarget) -> dict[str, Any]:
    """Arguments for ``sqlite3.connect``."""
    return {
        # SQLAlchemy emits BEGIN itself (see the module docstring).
        "isolation_level": None,
        "timeout": target.busy_timeout_ms / 1000,
        # Connections move between threads through the pool, never shared at once
        # (the in-memory store serialises its calls itself).
        "check_same_thread": False,
    }


def install(engine: Engine, target: StoreTarget) -> None:
    """Register the pragma and BEGIN listeners on a SQLite engine."""
    pragmas = [
        # First, so that the pragmas below wait for a lock instead of failing.
        f"PRAGMA busy_timeout = {int(target.busy_timeout_ms)}",
        f"PRAGMA synchronous = {target.synchronous.upper()}",
        "PRAGMA foreign_keys = ON",
    ]
    if not target.memory:
        # Readers never block the writer and the writer never blocks readers.
        # The mode is stored in the file; setting it again is a no-op.
        pragmas.insert(1, "PRAGMA journal_mode = WAL")

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    def on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(SINGLE_READ_OPTION, False):
            connection.exec_driver_sql("BEGIN")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)


def is_busy(error: BaseException) -> bool:
    """True for "database is locked" / "table is locked": worth retrying later."""
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    message = str(error).lower()
    return "locked" in message or "busy" in message
