"""Store URLs: which ones this backend owns, and how they become SQLAlchemy URLs.

A store URL is a SQLAlchemy URL plus a few query parameters of wfaudit's own
(:data:`SQLITE_OPTIONS`, :data:`COMMON_OPTIONS`), which are taken out before the
URL reaches SQLAlchemy and the driver. Nothing here ever puts a password into a
message: :attr:`StoreTarget.display` is the form to print.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import attrs

from wfaudit_hookspecs import BadStoreURL

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "COMMON_OPTIONS",
    "POSTGRESQL_SCHEMES",
    "SQLITE_OPTIONS",
    "SQLITE_SCHEMES",
    "StoreTarget",
    "owns",
    "parse_store_url",
    "scheme_of",
]

SQLITE_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite"})
POSTGRESQL_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})

SQLITE_OPTIONS = frozenset({"synchronous", "busy_timeout"})
"""``?synchronous=off|normal|full|extra`` and ``?busy_timeout=<ms>`` (SQLite only)."""
COMMON_OPTIONS = frozenset({"retry_deadline"})
"""``?retry_deadline=<seconds>``: how long a write is retried while the store is busy."""

SYNCHRONOUS_MODES = ("off", "normal", "full", "extra")
DEFAULT_BUSY_TIMEOUT_MS = 5000
DEFAULT_RETRY_DEADLINE_S = 10.0
"""Ten seconds: long enough to ride out a burst of writers from many processes,
short enough that an audit facing a store locked for good gives up and goes to
the durable spool while the orchestrator waits (and the following audits skip
the store at once: see ``wfaudit.spool``)."""
DEFAULT_CONNECT_TIMEOUT_S = 10
"""PostgreSQL connect timeout unless the URL sets ``connect_timeout``: an unreachable
server must fail an audit quickly rather than hang the orchestrator."""

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword", "passfile"})


def scheme_of(url: str) -> str | None:
    """The lower-cased scheme of ``url`` (``sqlite``, ``postgresql+psycopg``), or None.

    Pure string work: deciding whether a URL is ours must not import SQLAlchemy.
    """
    match = _SCHEME.match(url.strip())
    return match.group(1).lower() if match else None


def owns(url: str) -> bool:
    """True when ``url`` has one of the schemes this backend serves."""
    scheme = scheme_of(url)
    return scheme in SQLITE_SCHEMES or scheme in POSTGRESQL_SCHEMES


@attrs.frozen(kw_only=True)
class StoreTarget:
    """A parsed store URL.

    :ivar backend: ``sqlite`` or ``postgresql``.
    :ivar url: the SQLAlchemy URL to connect with (driver set, wfaudit options removed).
    :ivar display: the URL as it may be printed: password and secret options hidden.
    :ivar memory: an in-memory SQLite database.
    :ivar synchronous: SQLite ``PRAGMA synchronous`` mode.
    :ivar busy_timeout_ms: SQLite ``PRAGMA busy_timeout``.
    :ivar retry_deadline: seconds a busy/locked write is retried before giving up.
    :ivar connect_timeout: PostgreSQL connect timeout to add (None when the URL sets one).
    """

    backend: Literal["sqlite", "postgresql"]
    url: URL = attrs.field(repr=False)
    display: str
    memory: bool = False
    synchronous: str = "full"
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    retry_deadline: float = DEFAULT_RETRY_DEADLINE_S
    connect_timeout: int | None = None


def parse_store_url(raw: str) -> StoreTarget:
    """Parse a store URL of one of our schemes; :class:`BadStoreURL` if it is malformed.

    Messages name the scheme and what is wrong, never the URL itself (it may
    hold a password that could not be located in an unparseable string).
    """
    from sqlalchemy.engine import make_url

    scheme = scheme_of(raw)
    if scheme not in SQLITE_SCHEMES and scheme not in POSTGRESQL_SCHEMES:
        raise BadStoreURL(
            f"not a SQL store URL (scheme {scheme or '(none)'}); "
            "expected sqlite:///path.db or postgresql://user@host/dbname"
        )
    try:
        url = make_url(raw.strip())
    except Exception:  # ArgumentError, ValueError: the message may quote the URL
        raise BadStoreURL(
            f"malformed {scheme} store URL: cannot parse it (expected {_example(scheme)})"
        ) from None

    query = dict(url.query)
    for key, value in query.items():
        if not isinstance(value, str):
            raise BadStoreURL(f"malformed {scheme} store URL: option {key!r} is given twice")

    retry_deadline = _positive_float(
        scheme, "retry_deadline", query.pop("retry_deadline", None), DEFAULT_RETRY_DEADLINE_S
    )
    if scheme in SQLITE_SCHEMES:
        return _sqlite_target(scheme, url, query, retry_deadline)
    return _postgresql_target(scheme, url, query, retry_deadline)


def _sqlite_target(
    scheme: str, url: URL, query: dict[str, str | tuple[str, ...]], retry_deadline: float
) -> StoreTarget:
    if url.host or url.username or url.password or url.port:
        raise BadStoreURL(
            f"malformed {scheme} store URL: a SQLite URL has no host; use "
            "sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    synchronous = str(query.pop("synchronous", "full")).lower()
    if synchronous not in SYNCHRONOUS_MODES:
        raise BadStoreURL(
            f"malformed {scheme} store URL: synchronous must be one of "
            f"{', '.join(SYNCHRONOUS_MODES)}"
        )
    busy_timeout = query.pop("busy_timeout", None)
    busy_ms = DEFAULT_BUSY_TIMEOUT_MS
    if busy_timeout is not None:
        if not str(busy_timeout).isdigit():
            raise BadStoreURL(
                f"malformed {scheme} store URL: busy_timeout must be a whole number of milliseconds"
            )
        busy_ms = int(str(busy_timeout))
    database = url.database or ""
    memory = database in ("", ":memory:") or query.get("mode") == "memory"
    # sqlite:// already means pysqlite; keep the scheme the user wrote.
    clean = url.set(query=query)
    return StoreTarget(
        backend="sqlite",
        url=clean,
        display="sqlite://" if memory and not query else _display(clean),
        memory=memory,
        synchronous=synchronous,
        busy_timeout_ms=busy_ms,
        retry_deadline=retry_deadline,
    )


def _postgresql_target(
    scheme: str, url: URL, query: dict[str, str | tuple[str, ...]], retry_deadline: float
) -> StoreTarget:
    if url.port is not None and not 0 < url.port < 65536:
        raise BadStoreURL(f"malformed {scheme} store URL: the port must be 1 to 65535")
    misplaced = sorted(SQLITE_OPTIONS & query.keys())
    if misplaced:
        raise BadStoreURL(
            f"malformed {scheme} store URL: {', '.join(misplaced)} only applies to SQLite"
        )
    # Plain postgresql:// (and the old postgres:// alias) would pick psycopg2;
    # this backend is built on psycopg 3.
    clean = url.set(drivername="postgresql+psycopg", query=query)
    connect_timeout = None if "connect_timeout" in query else DEFAULT_CONNECT_TIMEOUT_S
    return StoreTarget(
        backend="postgresql",
        url=clean,
        display=_display(clean),
        retry_deadline=retry_deadline,
        connect_timeout=connect_timeout,
    )


def _positive_float(
    scheme: str, name: str, value: str | tuple[str, ...] | None, default: float
) -> float:
    if value is None:
        return default
    try:
        number = float(str(value))
    except ValueError:
        number = -1.0
    if not number > 0 or number == float("inf"):
        raise BadStoreURL(f"malformed {scheme} store URL: {name} must be a positive number")
    return number


def _display(url: URL) -> str:
    """``url`` as text with the password and any secret-bearing option hidden."""
    hidden = {
        key: ("***" if key.lower() in _SECRET_QUERY_KEYS else value)
        for key, value in url.query.items()
    }
    return url.set(query=hidden).render_as_string(hide_password=True)


def _example(scheme: str) -> str:
    if scheme in SQLITE_SCHEMES:
        return "sqlite:///relative/path.db or sqlite:////absolute/path.db"
    return "postgresql://user@host:5432/dbname"
