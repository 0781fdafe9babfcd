"""Turning database errors into wfaudit's store errors.

Each error is classed as *transient* (the store is down, busy, locked, out of
resources: :class:`StoreUnavailable`, spooled by the engine and replayed
later), *permanent* (the database refused this data: :class:`StoreRejected`,
never spooled, quarantined if met at drain time) or neither (a plain
:class:`StoreError`, such as a schema the database lacks).

Engines are created with ``hide_parameters=True``, so SQLAlchemy's messages carry
no bound values; these messages go further and quote only the first line of
the driver's message (PostgreSQL's DETAIL lines may quote key values), next to
the store URL with its password hidden.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

from wfaudit_hookspecs import StoreError, StoreRejected, StoreUnavailable

from .sqlite import is_busy

__all__ = ["is_disconnect", "is_permanent", "is_transient", "reason_of", "translate"]

_MAX_REASON = 200

# serialization_failure, deadlock_detected: the transaction may simply be re-run.
_PG_RETRYABLE = frozenset({"40001", "40P01"})
# lock_not_available (lock_timeout), query_canceled (statement_timeout): the store
# stayed busy for as long as we were prepared to wait.
_PG_BUSY = frozenset({"55P03", "57014"})
# SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_PROTOCOL.
_SQLITE_UNAVAILABLE = frozenset({8, 10, 13, 14, 15})
# Errors of the data, not of the store: data exception (a value too long, a NUL
# in text, bad encoding), integrity constraint violation, program limit exceeded
# (an index row too large). The same write fails the same way every time.
_PG_PERMANENT_CLASSES = frozenset({"22", "23", "54"})
# SQLITE_TOOBIG, SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_RANGE.
_SQLITE_PERMANENT = frozenset({18, 19, 20, 25})


def driver_error(error: BaseException) -> BaseException:
    """The DBAPI exception inside a SQLAlchemy wrapper, or ``error`` itself."""
    if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
        return error.orig
    return error


def is_transient(error: BaseException) -> bool:
    """True when re-running the same transaction later may succeed."""
    inner = driver_error(error)
    if is_busy(inner):
        return True
    return getattr(inner, "sqlstate", None) in _PG_RETRYABLE


def is_permanent(error: BaseException) -> bool:
    """True when the database refused the data itself: the same write can never succeed.

    PostgreSQL says so by its SQLSTATE class (22, 23, 54); psycopg's own checks
    before sending (a NUL in a text value) raise its ``DataError``; SQLite by its
    result code or error class. A duplicate that the idempotent save expects
    never gets here: it is an ``ON CONFLICT DO NOTHING``.
    """
    inner = driver_error(error)
    sqlstate = getattr(inner, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _PG_PERMANENT_CLASSES
    if isinstance(inner, sqlite3.Error):
        code = getattr(inner, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_PERMANENT:
            return True
        return isinstance(inner, sqlite3.IntegrityError | sqlite3.DataError)
    return isinstance(error, sa_exc.DataError | sa_exc.IntegrityError)


def is_disconnect(error: BaseException) -> bool:
    """True when the server dropped a connection that was in use (SQLAlchemy has
    invalidated it): the transaction did not commit and may run again elsewhere."""
    return isinstance(error, sa_exc.DBAPIError) and bool(error.connection_invalidated)


def reason_of(error: BaseException) -> str:
    """A short, data-free reason: the first line of the driver's message."""
    inner = driver_error(error)
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    reason = lines[0] if lines else type(inner).__name__
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 3] + "..."
    return reason


def translate(error: BaseException, url: str, *, waited: float | None = None) -> StoreError:
    """The :class:`StoreError` to raise for a database error on the store at ``url``.

    :param waited: seconds spent retrying a busy store, when that is why we gave up.
    """
    reason = reason_of(error)
    if is_permanent(error):
        return StoreRejected(
            f"the store at {url} refused the data ({reason}); retrying cannot help"
        )
    if is_transient(error) or getattr(driver_error(error), "sqlstate", None) in _PG_BUSY:
        waited_text = f" for {waited:.0f} s" if waited is not None else ""
        return StoreUnavailable(
            f"the store at {url} stayed busy{waited_text} ({reason}); "
            "another process holds a long write transaction, try again later"
        )
    if _unreachable(error):
        return StoreUnavailable(f"cannot reach the store at {url}: {reason}")
    return StoreError(f"store operation failed at {url}: {reason}")


def _unreachable(error: BaseException) -> bool:
    inner = driver_error(error)
    if isinstance(inner, sqlite3.Error):
        # pysqlite raises OperationalError for "no such table" too, which is not
        # an outage; its result code tells them apart.
        code = getattr(inner, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF in _SQLITE_UNAVAILABLE
        return "unable to open" in str(inner) or "disk" in str(inner)
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    # psycopg's OperationalError covers the connection (08), resources (53) and
    # operator intervention (57) classes: the server, not the request, is at fault.
    return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)
