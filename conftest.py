"""Fixtures shared by every test suite of the repository (engine and plugins).

* ``store_url``: a fresh, empty store URL per test, once per backend named by
  ``--wfaudit-backends`` (default ``sqlite,postgresql``). SQLite is a file in the
  test's ``tmp_path``; PostgreSQL is a new schema of the test database
  (``WFAUDIT_TEST_PG_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
  selected with the ``search_path`` connection option and dropped afterwards.
  When PostgreSQL cannot be reached its tests are skipped, or fail when
  ``WFAUDIT_REQUIRE_POSTGRES=1``.
* an autouse fixture giving every test its own ``WFAUDIT_HOME`` and no wfaudit
  settings from the developer's environment.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# Hypothesis: in CI (the CI variable set) derandomized, so a run is the same run every
# time and a gate never flakes; elsewhere it explores freely and keeps what it finds in
# a local database. A failure it finds becomes an explicit test (see
# tests/test_secrets_property.py). HYPOTHESIS_PROFILE overrides the choice.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    database=DirectoryBasedExampleDatabase(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), ".hypothesis", "examples")
    ),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

BACKENDS = ("sqlite", "postgresql")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

_ISOLATED_ENV = (
    "WFAUDIT_STORE_URL",
    "WFAUDIT_ALLOW_UNMASKED",
    "WFAUDIT_DB_AUTO_UPGRADE",
    "WFAUDIT_AGENT",  # opt-in; tests/test_cli_agent.py turns it on, and stops its agents
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--wfaudit-backends",
        default=",".join(BACKENDS),
        help="comma-separated store backends the store_url fixture runs on (default: %(default)s)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wfaudit_backends(*names): run a store_url test only on these backends",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_url" not in metafunc.fixturenames:
        return
    option = str(metafunc.config.getoption("--wfaudit-backends"))
    backends = [name.strip() for name in option.split(",") if name.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(
            f"--wfaudit-backends: unknown backend(s) {', '.join(unknown)}; "
            f"choose from {', '.join(BACKENDS)}"
        )
    marker = metafunc.definition.get_closest_marker("wfaudit_backends")
    if marker is not None:
        backends = [name for name in backends if name in marker.args]
    if not backends:
        # Keep the test visible as skipped rather than silently dropping it.
        metafunc.parametrize(
            "store_url",
            [pytest.param("none", marks=pytest.mark.skip(reason="backend not selected"))],
            ids=["no-backend"],
            indirect=True,
        )
        return
    metafunc.parametrize("store_url", backends, ids=backends, indirect=True)


@pytest.fixture(autouse=True)
def _isolated_wfaudit_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads or writes the developer's wfaudit home or settings."""
    monkeypatch.setenv("WFAUDIT_HOME", str(tmp_path_factory.mktemp("wfaudit-home")))
    for name in _ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty store on the backend of the test's parameter."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    yield from _postgresql_schema()


def pg_base_url() -> str:
    """The PostgreSQL URL tests create their schemas in (always with psycopg 3)."""
    url = os.environ.get("WFAUDIT_TEST_PG_URL", DEFAULT_PG_URL)
    for alias in ("postgresql://", "postgres://"):
        if url.startswith(alias):
            return "postgresql+psycopg://" + url.removeprefix(alias)
    return url


@functools.cache
def _postgresql_problem() -> str | None:
    """Why PostgreSQL cannot be used (checked once per session), or None."""
    try:
        from sqlalchemy import create_engine, text
    except ImportError:  # pragma: no cover - the sql plugin's dependencies are missing
        return "SQLAlchemy is not installed"
    engine = create_engine(pg_base_url(), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()
        return first_line[0] if first_line else type(error).__name__
    finally:
        engine.dispose()
    return None


def _postgresql_schema() -> Iterator[str]:
    problem = _postgresql_problem()
    if problem is not None:
        message = f"PostgreSQL unreachable at {_hide_password(pg_base_url())}: {problem}"
        if os.environ.get("WFAUDIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " (WFAUDIT_REQUIRE_POSTGRES=1)")
        pytest.skip(message)

    from sqlalchemy import create_engine, text

    schema = f"wfa_{secrets.token_hex(6)}"
    admin = create_engine(
        pg_base_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        base = pg_base_url()
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}', safe='')}"
    finally:
        with admin.connect() as connection:
            # A store a test left open must not hang the session on the drop.
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable WFAUDIT_TEST_PG_URL)"


# -- a TCP proxy whose link can be cut (a store that becomes unreachable) -----------------


class TcpProxy:
    """Forwards a local port to ``target``; :meth:`cut` makes the port refuse
    connections and drops the open ones, :meth:`restore` brings it back on the
    same port. Tests point a store URL at :attr:`port` to take the store away
    mid-stream and give it back, as a network outage or a server restart would.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket
        import threading

        self._socket_module = socket
        self._threading = threading
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self._listener: socket.socket | None = None
        self._links: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        """Listen (again) on :attr:`port`; a no-op while it listens."""
        if self._listener is not None:
            return
        socket = self._socket_module
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening (connections are refused) and reset every open link."""
        socket = self._socket_module
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone may not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            with contextlib.suppress(OSError):
                link.shutdown(socket.SHUT_RDWR)
            link.close()

    close = cut

    def url_for(self, store_url: str) -> str:
        """``store_url`` (a PostgreSQL URL) going through this proxy."""
        from sqlalchemy.engine import make_url

        url = make_url(store_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def _accept(self, listener: Any) -> None:
        socket = self._socket_module
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:
                client.close()
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._links.extend((client, server))
            for source, sink in ((client, server), (server, client)):
                self._threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: Any, sink: Any) -> None:
        import socket

        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown() first: close() alone does not wake the other pump blocked
            # in recv() on the same socket, so the far end would never see the
            # connection end (a killed client's server session would linger).
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    end.close()


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[[str], TcpProxy]]:
    """Make a :class:`TcpProxy` to the server of a PostgreSQL store URL; every
    proxy made is cut at the end of the test."""
    made: list[TcpProxy] = []

    def make(store_url: str) -> TcpProxy:
        from sqlalchemy.engine import make_url

        url = make_url(store_url)
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.cut()
