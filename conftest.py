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

import functools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

BACKENDS = ("sqlite", "postgresql")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

_ISOLATED_ENV = ("WFAUDIT_STORE_URL", "WFAUDIT_ALLOW_UNMASKED", "WFAUDIT_DB_AUTO_UPGRADE")


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
