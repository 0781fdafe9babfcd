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

import contextlib
import os
import sqlite3
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from .urls import StoreTarget

__all__ = [
    "DIRECTORY_MODE",
    "FILE_MODE",
    "SINGLE_READ_OPTION",
    "WRITE_OPTION",
    "create_private_file",
    "database_path",
    "existing_file_connector",
    "install",
    "is_busy",
    "make_private_directories",
    "prepare_file",
]

WRITE_OPTION = "wfaudit_write"
"""Execution option marking a connection whose transactions write."""

SINGLE_READ_OPTION = "wfaudit_single_read"
"""Execution option marking a connection that only runs single-statement reads:
no ``BEGIN``, each statement is its own (consistent) read transaction, as on
PostgreSQL's autocommit reader. Two statements (and a ``COMMIT``) fewer per read."""

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


FILE_MODE = 0o600
"""A store file is the owner's only: it holds every audited config (masked, but
still the users' data). SQLite creates the ``-wal`` and ``-shm`` files with the
database file's permissions, so they follow."""
DIRECTORY_MODE = 0o700
"""Directories created for a store file."""


def database_path(target: StoreTarget) -> Path | None:
    """The file of a file-backed SQLite store; None in memory or for a URI filename."""
    database = target.url.database
    if target.backend != "sqlite" or target.memory or not database or database.startswith("file:"):
        return None  # a URI filename is left to SQLite (and its own mode= option)
    return Path(database).expanduser()


def prepare_file(target: StoreTarget) -> None:
    """Create a SQLite database file (0600) and its missing parent directories (0700).

    Only a store opened to write (``create=True``) gets here; an existing file
    keeps its permissions.
    """
    path = database_path(target)
    if path is None:
        return
    make_private_directories(path.parent)
    # O_EXCL: never touch a file that is there already. An empty file is a valid,
    # empty SQLite database.
    with contextlib.suppress(FileExistsError):
        create_private_file(path)


def make_private_directories(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each 0700 (existing ones are
    left as they are)."""
    missing = []
    while not directory.exists() and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            each.mkdir(mode=DIRECTORY_MODE)
            os.chmod(each, DIRECTORY_MODE)  # the umask may have taken bits off the mode


def create_private_file(path: Path) -> None:
    """Create the empty file ``path``, 0600; :class:`FileExistsError` if it is there."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    os.chmod(path, FILE_MODE)


def existing_file_connector(path: Path, target: StoreTarget) -> Callable[[], sqlite3.Connection]:
    """A ``creator`` for a store that must already exist: SQLite opens the file
    with ``mode=rw``, which fails rather than creating it (a missing file is
    reported by the store before it gets here; this holds even if the file goes
    away in between)."""
    uri = "file:" + urllib.request.pathname2url(str(path.absolute())) + "?mode=rw"

    options = connect_args(target)

    def connect() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(
            uri,
            uri=True,
            isolation_level=options["isolation_level"],
            timeout=options["timeout"],
            check_same_thread=options["check_same_thread"],
        )
        return connection

    return connect


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


def install(engine: Engine, target: StoreTarget, *, create: bool = True) -> None:
    """Register the pragma and BEGIN listeners on a SQLite engine.

    :param create: the store may be new. When False the journal mode is left as
        the file has it (a wfaudit store is in WAL mode already): switching it
        would write to a file that may not even be a wfaudit store.
    """
    pragmas = [
        # First, so that the pragmas below wait for a lock instead of failing.
        f"PRAGMA busy_timeout = {int(target.busy_timeout_ms)}",
        f"PRAGMA synchronous = {target.synchronous.upper()}",
        "PRAGMA foreign_keys = ON",
    ]
    if create and not target.memory:
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
