"""Take a store away from its clients and give it back, on SQLite and PostgreSQL.

>>> outage = StoreOutage(store_url, tcp_proxy)       # doctest: +SKIP
>>> client = Auditor.from_url(outage.url)            # doctest: +SKIP
>>> with outage:                                     # doctest: +SKIP
...     client.audit_trigger(...)                    # the store is down: spooled

PostgreSQL goes through a :class:`~wfaudit.testing.network.TcpProxy` that is cut
(the shared server itself is never touched); SQLite is held by a connection
with an exclusive lock past the clients' busy timeout. Clients must use
:attr:`StoreOutage.url`, which routes through the proxy (PostgreSQL) or gives up
quickly on the lock (SQLite).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from types import TracebackType

from .network import TcpProxy

__all__ = ["StoreOutage"]

SQLITE_CLIENT_OPTIONS = "busy_timeout=50&retry_deadline=0.3"
"""What :attr:`StoreOutage.url` adds to a SQLite URL: writers give up on the lock
quickly (and spool) instead of waiting it out."""


def _with_query(url: str, query: str) -> str:
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


class StoreOutage:
    """An outage of the store at ``store_url``: :meth:`begin` takes it away,
    :meth:`end` gives it back (both idempotent); also a context manager.

    ``tcp_proxy`` makes the proxy of a PostgreSQL store (the ``tcp_proxy``
    fixture, which cuts it at the end of the test); without it the outage makes
    its own and :meth:`close` cuts it. ``client_options`` are added to
    :attr:`url` for PostgreSQL clients (``retry_deadline=0.5`` ...);
    ``lock_wait`` is how long the SQLite holder waits for the lock itself.
    """

    def __init__(
        self,
        store_url: str,
        tcp_proxy: Callable[[str], TcpProxy] | None = None,
        *,
        client_options: str = "",
        lock_wait: float = 5.0,
    ) -> None:
        self.store_url = store_url
        self.down = False
        self.proxy: TcpProxy | None = None
        self._own_proxy = False
        self._holder: sqlite3.Connection | None = None
        self._lock_wait = lock_wait
        if store_url.startswith("sqlite"):
            from sqlalchemy.engine import make_url

            self.database = make_url(store_url).database or ""
            if not self.database or self.database == ":memory:":
                raise ValueError("a StoreOutage needs a SQLite file, not an in-memory database")
            self.url = _with_query(store_url, SQLITE_CLIENT_OPTIONS)
        elif store_url.startswith(("postgresql", "postgres")):
            from sqlalchemy.engine import make_url

            self.database = ""
            if tcp_proxy is None:
                parsed = make_url(store_url)
                self.proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
                self._own_proxy = True
            else:
                self.proxy = tcp_proxy(store_url)
            self.url = _with_query(self.proxy.url_for(store_url), client_options)
        else:
            raise ValueError(f"a StoreOutage takes a SQLite or PostgreSQL URL, not {store_url!r}")

    def begin(self) -> None:
        """Take the store away (a no-op while it is away)."""
        if self.down:
            return
        self.down = True
        if self.proxy is not None:
            self.proxy.cut()
            return
        holder = sqlite3.connect(self.database, isolation_level=None, timeout=self._lock_wait)
        holder.execute("BEGIN EXCLUSIVE")
        self._holder = holder

    def end(self) -> None:
        """Give the store back (a no-op while it is there)."""
        self.down = False
        if self.proxy is not None:
            self.proxy.restore()
        elif self._holder is not None:
            holder, self._holder = self._holder, None
            holder.execute("COMMIT")
            holder.close()

    def close(self) -> None:
        """End the outage; cut the proxy the outage made itself."""
        self.end()
        if self._own_proxy and self.proxy is not None:
            self.proxy.cut()

    def __enter__(self) -> StoreOutage:
        self.begin()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end()

    def __repr__(self) -> str:
        state = "down" if self.down else "up"
        kind = "postgresql" if self.proxy is not None else "sqlite"
        return f"<StoreOutage {kind} {state}>"
