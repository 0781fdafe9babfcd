"""The plugin's hooks, its URL handling, its errors and its ``db`` commands."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pluggy
import pytest
from click.testing import CliRunner
from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url

from wfaudit_hookspecs import (
    PROJECT_NAME,
    BadStoreURL,
    ConfigurationError,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
    hookspecs,
)
from wfaudit_sql import SqlStore, plugin
from wfaudit_sql.migrate import HEAD_REVISION
from wfaudit_sql.urls import parse_store_url

# -- discovery and the open-store hook ------------------------------------------------


def _manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def test_entry_point_names_the_plugin() -> None:
    found = {ep.name: ep for ep in entry_points(group="wfaudit")}
    assert found["sql"].value == "wfaudit_sql.plugin"
    assert found["sql"].load() is plugin


def test_hook_opens_a_store_through_pluggy(store_url: str) -> None:
    manager = _manager()
    manager.register(entry_points(group="wfaudit")["sql"].load())
    store = manager.hook.wfaudit_open_store(url=store_url, create=True)
    try:
        assert isinstance(store, SqlStore)
        assert store.current_revision() == HEAD_REVISION
    finally:
        store.close()


@pytest.mark.parametrize(
    "url", ["s3://bucket/prefix", "file:///tmp/x.db", "mysql://u@h/db", "", "relative/path.db"]
)
def test_other_schemes_are_left_to_other_backends(url: str) -> None:
    assert plugin.wfaudit_open_store(url=url, create=True) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite://relative.db", "has no host"),
        ("sqlite:///x.db?synchronous=sometimes", "synchronous must be one of"),
        ("sqlite:///x.db?busy_timeout=soon", "busy_timeout"),
        ("sqlite:///x.db?retry_deadline=-1", "retry_deadline"),
        ("sqlite:///x.db?retry_deadline=1&retry_deadline=2", "given twice"),
        ("postgresql://u:s3cret-pw@host:notaport/db", "cannot parse"),
        ("postgresql://u:s3cret-pw@host:70000/db", "port"),
        ("postgres://u:s3cret-pw@host/db?busy_timeout=5", "only applies to SQLite"),
        ("POSTGRESQL://u:s3cret-pw@host:-1/db", "postgresql store URL"),
    ],
)
def test_malformed_urls(url: str, expected: str) -> None:
    with pytest.raises(BadStoreURL, match=expected) as raised:
        plugin.wfaudit_open_store(url=url, create=False)
    message = str(raised.value)
    assert "s3cret" not in message
    assert "\n" not in message


def test_urls_are_normalised_and_shown_without_secrets() -> None:
    target = parse_store_url(
        "postgres://bob:s3cret-pw@db.example:6543/audit?sslpassword=k3y&application_name=ci"
    )
    assert target.url.drivername == "postgresql+psycopg"
    assert target.url.password == "s3cret-pw"
    assert "s3cret" not in target.display
    assert "k3y" not in target.display
    assert target.display.startswith("postgresql+psycopg://bob:***@db.example:6543/audit?")
    assert target.connect_timeout == 10
    assert parse_store_url("postgresql://h/db?connect_timeout=2").connect_timeout is None

    sqlite = parse_store_url("sqlite:///a/b.db?synchronous=NORMAL&retry_deadline=2.5")
    assert (sqlite.synchronous, sqlite.retry_deadline) == ("normal", 2.5)
    assert dict(sqlite.url.query) == {}
    assert parse_store_url("sqlite:///:memory:").memory


@pytest.mark.wfaudit_backends("postgresql")
def test_password_never_shown(store_url: str) -> None:
    # Trust authentication accepts any password: the store opens, and hides it.
    with_password = make_url(store_url).set(password="s3cret-pw")
    url = with_password.render_as_string(hide_password=False)
    with SqlStore(url) as store:
        assert "s3cret" not in store.url
        assert "***" in store.url
        assert "s3cret" not in repr(store)


def test_unreachable_postgresql_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(
        StoreUnavailable, match=r"cannot reach the store at .*127\.0\.0\.1:1"
    ) as raised:
        SqlStore("postgresql://postgres:s3cret-pw@127.0.0.1:1/test")
    assert time.monotonic() - started < 5
    assert "s3cret" not in str(raised.value)
    assert "\n" not in str(raised.value)


def test_unwritable_sqlite_location_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailable, match="cannot create the store"):
        SqlStore(f"sqlite:///{blocker / 'sub' / 'store.db'}")


def test_not_a_database_is_reported_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a SQLite database, not at all" * 100)
    with pytest.raises(StoreError, match=r"junk\.db: file is not a database") as raised:
        SqlStore(f"sqlite:///{path}")
    assert "\n" not in str(raised.value)


def test_plugin_depends_on_the_contract_only() -> None:
    script = textwrap.dedent(
        """
        import sys
        import wfaudit_sql.plugin
        light = "sqlalchemy" not in sys.modules
        import wfaudit_sql.cli, wfaudit_sql.store, wfaudit_sql.migrate
        engine = sorted(m for m in sys.modules if m == "wfaudit" or m.startswith("wfaudit."))
        print(light, engine)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "True []"


# -- the db commands --------------------------------------------------------------------


def _cli(store_url: str | None = None) -> click.Group:
    """A stand-in for the engine's root group: it puts ``store_url`` on ``ctx.obj``."""

    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = SimpleNamespace(store_url=store_url) if store_url else None

    manager = _manager()
    manager.register(plugin)
    manager.hook.wfaudit_register_commands(cli=root)
    return root


def _invoke(root: click.Group, *args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(root, list(args), catch_exceptions=True, **kwargs)


def test_db_current_and_upgrade(store_url: str, sql: Engine) -> None:
    root = _cli(store_url)

    # A database without the wfaudit tables is no store: looking neither
    # migrates nor creates it.
    result = _invoke(root, "db", "current", "--json")
    # (the stand-in root group does not turn errors into a line, as the engine's does)
    assert isinstance(result.exception, StoreNotFound), result.output
    assert "wfaudit db upgrade" in str(result.exception)
    assert inspect(sql).get_table_names() == []

    result = _invoke(root, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"upgraded (empty) -> {HEAD_REVISION}" in result.output

    result = _invoke(root, "db", "upgrade")
    assert f"already at {HEAD_REVISION}" in result.output

    result = _invoke(root, "db", "current")
    assert result.exit_code == 0
    assert f"current: {HEAD_REVISION}" in result.output
    assert "run `wfaudit db upgrade`" not in result.output
    report = json.loads(_invoke(root, "db", "current", "--json").output)
    assert report["current"] == report["head"] == HEAD_REVISION
    assert report["up_to_date"] is True


def test_db_store_option_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configured = f"sqlite:///{tmp_path / 'configured.db'}"
    chosen = f"sqlite:///{tmp_path / 'chosen.db'}"
    root = _cli(configured)

    result = _invoke(root, "db", "upgrade", "--store", chosen)
    assert result.exit_code == 0, result.output
    assert "chosen.db" in result.output
    assert not (tmp_path / "configured.db").exists()

    monkeypatch.setenv("WFAUDIT_STORE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    result = _invoke(root, "db", "current", "--json")
    assert isinstance(result.exception, StoreNotFound)  # looking creates no store
    assert "env.db does not exist" in str(result.exception)
    assert not (tmp_path / "env.db").exists()
    assert _invoke(root, "db", "upgrade").exit_code == 0
    result = _invoke(root, "db", "current", "--json")
    assert json.loads(result.output)["url"].endswith("env.db")


def test_db_without_a_store_url() -> None:
    result = _invoke(_cli(None), "db", "current")
    assert isinstance(result.exception, ConfigurationError)
    assert "--store" in str(result.exception)


def test_db_refuses_a_non_sql_store() -> None:
    result = _invoke(_cli(None), "db", "upgrade", "--store", "s3://bucket")
    assert isinstance(result.exception, BadStoreURL)


def test_db_upgrade_of_unreachable_store() -> None:
    result = _invoke(_cli(None), "db", "upgrade", "--store", "postgresql://u:pw@127.0.0.1:1/x")
    assert isinstance(result.exception, StoreUnavailable)
