"""wfaudit's pytest plugin: fixtures, a marker, options and assertion output.

Registered through the ``pytest11`` entry point, so installing wfaudit makes it
available to every test suite (``pytest --fixtures`` lists the fixtures below).

Options: ``--wfaudit-store URL`` (or the ``wfaudit_store`` ini option) runs the
``wfaudit_*`` fixtures on that store instead of a SQLite file per test; a
PostgreSQL URL gets a fresh schema per test, dropped afterwards.

Marker: ``@pytest.mark.wfaudit_plugins(plugin, ...)`` registers plugins in the
test's ``wfaudit_auditor``.

For a plugin's own test suite (the repository's plugins use these):

* ``store_url``: a fresh, empty store URL per test, once per backend named by
  ``--wfaudit-backends`` (default ``sqlite,postgresql``); the marker
  ``@pytest.mark.wfaudit_backends("sqlite")`` narrows a test to some. SQLite is
  a file in ``tmp_path``; PostgreSQL a new schema of the test database
  (``WFAUDIT_TEST_PG_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
  dropped afterwards. When PostgreSQL cannot be reached its tests are skipped,
  or fail when ``WFAUDIT_REQUIRE_POSTGRES=1``. A ``store_url`` fixture of your
  own (in a conftest) replaces this one and is not parametrized.
* ``tcp_proxy``: ``tcp_proxy(url)`` makes a :class:`~wfaudit.testing.TcpProxy`
  to a PostgreSQL store's server, to cut and restore the link; with
  :class:`~wfaudit.testing.StoreOutage` a store goes down and up on either backend.
* the ini option ``wfaudit_isolate_env = true``: every test gets its own
  ``WFAUDIT_HOME``, none of ``WFAUDIT_STORE_URL``, ``WFAUDIT_ALLOW_UNMASKED`` and
  ``WFAUDIT_DB_AUTO_UPGRADE`` from the environment, nor the runner's ``COLUMNS``
  and ``LINES`` (pytest-xdist's workers set them), so that the commands a test
  runs print the same with and without ``-n``; and ``WFAUDIT_AGENT=0``: the
  ``wfaudit trigger`` commands a test runs start no local agent that would
  outlive it (a test that wants one sets ``WFAUDIT_AGENT=1``). Off by default: a
  suite may mean to use them. ``WFAUDIT_AGENT=0`` holds for the whole session
  (session and module fixtures included); the ``wfaudit_home`` fixture sets it too.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pathlib
import secrets
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from wfaudit.auditor import Auditor
    from wfaudit.testing.clock import Clock
    from wfaudit.testing.memory_keyring import MemoryKeyring
    from wfaudit.testing.network import TcpProxy
    from wfaudit.testing.recorder import HookRecorder

from wfaudit.testing.kit_plugins import kit_auditor  # noqa: F401  (a fixture of the kits)

__all__ = ["WfauditTester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wfaudit", "wfaudit audit fixtures")
    group.addoption(
        "--wfaudit-store",
        metavar="URL",
        default=None,
        help="run the wfaudit fixtures on this store URL (default: a SQLite file per test); "
        "a PostgreSQL URL gets a fresh schema per test",
    )
    parser.addini(
        "wfaudit_store", "store URL for the wfaudit fixtures (see --wfaudit-store)", default=""
    )
    group.addoption(
        "--wfaudit-backends",
        default=",".join(BACKENDS),
        help="comma-separated store backends the store_url fixture runs on (default: %(default)s)",
    )
    parser.addini(
        "wfaudit_isolate_env",
        "give every test its own WFAUDIT_HOME and no wfaudit settings from the environment",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getini("wfaudit_isolate_env"):
        # For the whole session, not only inside each test: a session or module
        # fixture that runs ``wfaudit trigger`` must not leave an agent behind either.
        config.stash[_AGENT_BEFORE] = os.environ.get(_NO_AGENT[0])
        os.environ[_NO_AGENT[0]] = _NO_AGENT[1]
    config.addinivalue_line(
        "markers",
        "wfaudit_plugins(*plugins): register these plugins in the test's wfaudit_auditor",
    )
    config.addinivalue_line(
        "markers",
        "wfaudit_backends(*names): run a store_url test only on these backends",
    )


# -- store_url: every test on every backend ---------------------------------------------

BACKENDS = ("sqlite", "postgresql")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_ISOLATED_ENV = (
    "WFAUDIT_STORE_URL",
    "WFAUDIT_ALLOW_UNMASKED",
    "WFAUDIT_DB_AUTO_UPGRADE",
    # The runner's terminal size: pytest-xdist's workers set COLUMNS=80 and LINES=24,
    # so a command a test runs would print narrower tables under -n than without it.
    "COLUMNS",
    "LINES",
)
_NO_AGENT = ("WFAUDIT_AGENT", "0")
"""A suite's ``wfaudit trigger`` commands start no local agent (wfaudit/agent.py),
which would outlive the test and its temporary data directory."""
_AGENT_BEFORE = pytest.StashKey[str | None]()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _AGENT_BEFORE in config.stash:
        before = config.stash[_AGENT_BEFORE]
        if before is None:
            os.environ.pop(_NO_AGENT[0], None)
        else:
            os.environ[_NO_AGENT[0]] = before


def _ours(metafunc: pytest.Metafunc) -> bool:
    """Whether the test's ``store_url`` is this plugin's (not a conftest's own)."""
    definitions = getattr(metafunc, "_arg2fixturedefs", {}).get("store_url")
    if not definitions:
        return False
    return getattr(getattr(definitions[-1], "func", None), "__module__", None) == __name__


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_url" not in metafunc.fixturenames or not _ours(metafunc):
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
def _wfaudit_isolated_env(request: pytest.FixtureRequest) -> None:
    """With ``wfaudit_isolate_env = true``: no test reads or writes the
    developer's wfaudit home or settings."""
    if not request.config.getini("wfaudit_isolate_env"):
        return
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    monkeypatch.setenv("WFAUDIT_HOME", str(factory.mktemp("wfaudit-home")))
    for name in _ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(*_NO_AGENT)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """The URL of a fresh, empty store on the backend of the test's parameter
    (``--wfaudit-backends``, the ``wfaudit_backends`` marker)."""
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
        options = urllib.parse.quote(f"-csearch_path={schema}", safe="")
        yield f"{base}{separator}options={options}"
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


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[[str], TcpProxy]]:
    """Make a :class:`~wfaudit.testing.TcpProxy` to the server of a PostgreSQL
    store URL; every proxy made is cut at the end of the test."""
    from sqlalchemy.engine import make_url

    from wfaudit.testing.network import TcpProxy

    made: list[TcpProxy] = []

    def make(store_url: str) -> TcpProxy:
        url = make_url(store_url)
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.cut()


# -- the store -------------------------------------------------------------------------


@contextlib.contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    import sqlalchemy as sa

    schema = f"wfaudit_test_{secrets.token_hex(6)}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options={urllib.parse.quote(f'-csearch_path={schema}')}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def wfaudit_store_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """The URL of a fresh, empty store for this test.

    A SQLite file in ``tmp_path`` unless ``--wfaudit-store`` / the ``wfaudit_store``
    ini option names another; a PostgreSQL URL gets a schema of its own per test.
    """
    configured = request.config.getoption("--wfaudit-store") or request.config.getini(
        "wfaudit_store"
    )
    if not configured:
        yield f"sqlite:///{tmp_path / 'wfaudit.sqlite3'}"
    elif configured.rstrip("/") == "memory:":
        # memory:// is a new store at each opening: name one for the test, so that
        # every auditor the test opens (its own included) shares it.
        yield f"memory://wfaudit-test-{secrets.token_hex(6)}"
    elif configured.startswith(("postgresql", "postgres")):
        with _postgres_schema(configured) as url:
            yield url
    else:
        yield configured


@pytest.fixture
def wfaudit_home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A private ``WFAUDIT_HOME`` (fingerprint key, spool) for this test, and
    ``WFAUDIT_AGENT=0``: no local agent outlives it."""
    home = tmp_path / "wfaudit-home"
    home.mkdir()
    monkeypatch.setenv("WFAUDIT_HOME", str(home))
    monkeypatch.delenv("WFAUDIT_STORE_URL", raising=False)
    monkeypatch.delenv("WFAUDIT_FINGERPRINT_KEY", raising=False)
    monkeypatch.setenv(*_NO_AGENT)
    return home


# -- time, keyring ---------------------------------------------------------------------


@pytest.fixture
def wfaudit_clock() -> Iterator[Clock]:
    """A controllable clock behind every timestamp wfaudit writes.

    ``wfaudit_clock.set(datetime)``, ``wfaudit_clock.advance(days=30)``.
    """
    from wfaudit.testing.clock import Clock

    clock = Clock()
    clock.install()
    try:
        yield clock
    finally:
        clock.uninstall()


@pytest.fixture
def wfaudit_keyring() -> Iterator[MemoryKeyring]:
    """An in-memory keyring installed as the active backend, for restorers.

    ``wfaudit_keyring.set_password(service, username, secret)``. The user's real
    keyring is never touched.
    """
    import keyring
    import keyring.core

    from wfaudit.testing.memory_keyring import MemoryKeyring

    # Read the current backend without asking keyring to pick one: picking
    # would initialise the user's real keyring, which a test must not touch.
    previous = keyring.core._keyring_backend
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.core._keyring_backend = previous


# -- the auditor -----------------------------------------------------------------------


@pytest.fixture
def wfaudit_auditor(
    request: pytest.FixtureRequest,
    wfaudit_store_url: str,
    wfaudit_home: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Auditor]:
    """A strict :class:`~wfaudit.Auditor` on a fresh store, with the installed
    plugins and those of the ``wfaudit_plugins`` marker.

    ``WFAUDIT_STORE_URL`` is set to the same store for the test, so that an
    orchestrator's own ``Auditor.from_url()`` (or a ``wfaudit`` command run by
    the test) writes where the fixtures and assertions look.
    """
    from wfaudit.auditor import Auditor

    monkeypatch.setenv("WFAUDIT_STORE_URL", wfaudit_store_url)

    plugins: list[object] = []
    for marker in request.node.iter_markers("wfaudit_plugins"):
        plugins.extend(marker.args)
    auditor = Auditor.from_url(wfaudit_store_url, plugins=plugins, strict=True)
    try:
        yield auditor
    finally:
        auditor.close()


@pytest.fixture
def wfaudit_recorder(wfaudit_auditor: Auditor) -> Iterator[HookRecorder]:
    """Records every hook call of ``wfaudit_auditor``: ``.of("wfaudit_mask")``,
    ``.assert_called("wfaudit_persist", times=1)``."""
    from wfaudit.testing.recorder import HookRecorder

    recorder = HookRecorder(wfaudit_auditor.plugin_manager)
    try:
        yield recorder
    finally:
        recorder.close()


@pytest.fixture
def wfaudit_plugins(
    wfaudit_auditor: Auditor,
) -> Callable[..., contextlib.AbstractContextManager[None]]:
    """``with wfaudit_plugins(MyPlugin()):`` registers plugins in ``wfaudit_auditor``
    for the ``with`` block only."""
    return wfaudit_auditor.plugin_manager.registered


class WfauditTester:
    """Everything a test needs to assert audit behaviour, in one fixture."""

    def __init__(
        self, auditor: Auditor, store_url: str, home: pathlib.Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        self.auditor = auditor
        self.store_url = store_url
        self.home = home
        self._caplog = caplog

    def audit(self, **fields: Any) -> Any:
        """Audit a trigger given as keyword fields; returns the AuditResult."""
        return self.auditor.audit_trigger(**fields)

    def assert_audited(self, workflow_id: str | int, workflow_type: str) -> Any:
        from wfaudit.testing.assertions import assert_audited

        return assert_audited(self.auditor, workflow_id, workflow_type)

    def assert_masked(self, workflow_id: str | int, workflow_type: str, *pointers: str) -> None:
        from wfaudit.testing.assertions import assert_masked

        assert_masked(self.assert_audited(workflow_id, workflow_type), *pointers)

    def assert_no_secret(
        self, *secrets: str | Mapping[str, str], texts: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """No secret anywhere: every table, decompressed blobs, the SQLite files,
        the spool, every snapshot, captured logs, and ``texts`` you add.

        Give secrets as strings (named ``secret #N`` in a failure) or as
        mappings of labels to secrets; a failure names each leak's place and
        label, never a value."""
        __tracebackhide__ = True  # the frame's locals hold the secrets
        from wfaudit.testing.scan import Secrets

        labelled = Secrets()
        for item in secrets:
            if isinstance(item, Mapping):
                labelled.update(item)
            else:
                labelled[f"secret #{len(labelled) + 1}"] = item
        del secrets
        from wfaudit.testing.assertions import assert_no_secret

        paths: list[pathlib.Path] = [self.home]
        database_url: str | None = self.store_url
        if not self.store_url.startswith(("sqlite", "postgres")):
            database_url = None  # not a database: its snapshots and trail are read below
            events = self.auditor.store.list_events(limit=1_000_000)
            trail = "\n".join(f"{e.kind} {e.actor} {dict(e.data)}" for e in events)
            texts = (*texts, ("the store's audit trail", trail))
        if self.store_url.startswith("sqlite:///"):
            database = pathlib.Path(self.store_url.removeprefix("sqlite:///").split("?", 1)[0])
            paths.extend(sorted(database.parent.glob(database.name + "*")))
        logs = ("captured logs", self._caplog.text)
        assert_no_secret(
            labelled,
            auditor=self.auditor,
            database_url=database_url,
            paths=paths,
            texts=(logs, *texts),
        )

    def assert_differ_exactly(self, a: Any, b: Any, *pointers: str) -> None:
        from wfaudit.testing.assertions import assert_differ_exactly

        assert_differ_exactly(self.auditor.diff(a, b), pointers)

    def assert_restored(self, original: Any) -> Any:
        """The retrigger request of ``original``'s run restores it exactly."""
        from wfaudit.testing.assertions import assert_restored

        restored = self.auditor.retrigger_request(original.workflow_id, original.workflow_type)
        assert_restored(original, restored)
        return restored


@pytest.fixture
def wfaudit(
    wfaudit_auditor: Auditor,
    wfaudit_store_url: str,
    wfaudit_home: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
) -> WfauditTester:
    """The auditor of the test with assertion helpers:
    ``wfaudit.audit(...)``, ``assert_audited``, ``assert_masked``,
    ``assert_no_secret``, ``assert_differ_exactly``, ``assert_restored``."""
    caplog.set_level(logging.DEBUG)
    return WfauditTester(wfaudit_auditor, wfaudit_store_url, wfaudit_home, caplog)


# -- assertion output ------------------------------------------------------------------


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    """Explain ``snapshot == snapshot`` and ``diff == diff`` by what differs."""
    from wfaudit.diff import SnapshotDiff
    from wfaudit.testing.assertions import describe_config_difference
    from wfaudit_hookspecs import SnapshotRecord

    if op != "==":
        return None
    if isinstance(left, SnapshotRecord) and isinstance(right, SnapshotRecord):
        import attrs

        names = [
            field.name
            for field in attrs.fields(type(left))
            if field.name != "config"
            and hasattr(right, field.name)
            and getattr(left, field.name) != getattr(right, field.name)
        ]
        lines = ["snapshots differ:"]
        if names:
            lines.append(f"  differing fields: {', '.join(names)}")
        if hasattr(left, "config") and hasattr(right, "config"):
            changes = describe_config_difference(left.config, right.config)  # masked configs
            if changes:
                lines.append("  config (masked) differs at:")
                lines.extend("  " + line for line in changes)
        lines.extend(
            f"  {name}: {getattr(left, name)!r} != {getattr(right, name)!r}" for name in names
        )
        return lines
    if isinstance(left, SnapshotDiff) and isinstance(right, SnapshotDiff):
        only_left = sorted(set(left.paths()) - set(right.paths()))
        only_right = sorted(set(right.paths()) - set(left.paths()))
        return [
            "snapshot diffs differ:",
            f"  changes only on the left: {', '.join(only_left) or 'none'}",
            f"  changes only on the right: {', '.join(only_right) or 'none'}",
        ]
    return None
