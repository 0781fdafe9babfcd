"""Schema creation, revisions and migrations of SqlStore."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, inspect, text
from sqlalchemy.engine import Engine, make_url

from wfaudit_hookspecs import ConfigurationError, SchemaMismatch
from wfaudit_sql import SqlStore
from wfaudit_sql.migrate import HEAD_REVISION, KNOWN_REVISIONS, MIGRATIONS_DIR, VERSION_TABLE
from wfaudit_sql.schema import metadata

TABLES = {"blobs", "snapshots", "events", "chain_heads", "manifests", VERSION_TABLE}
TABLES |= {"tags", "annotations"}  # 0004
TABLES |= {"legal_holds", "archives", "retention_sweeps", "sweep_locks"}  # 0006
TABLES |= {"store_meta"}  # 0008
TABLES |= {"retention_runs"}  # 0009


def tables(sql: Engine) -> set[str]:
    return set(inspect(sql).get_table_names())


def test_revision_constants_match_the_migration_scripts() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_current_head() == HEAD_REVISION
    ordered = [script.revision for script in scripts.walk_revisions()]
    assert list(reversed(ordered)) == list(KNOWN_REVISIONS)


def test_fresh_database_gets_the_schema(store_url: str, sql: Engine) -> None:
    assert tables(sql) == set()
    with SqlStore(store_url) as store:
        assert store.current_revision() == store.head_revision() == HEAD_REVISION
    assert tables(sql) == TABLES
    # Opening again finds the schema at head and leaves it alone.
    with SqlStore(store_url) as store:
        assert store.current_revision() == HEAD_REVISION


def test_migrated_schema_matches_the_table_definitions(store_url: str, sql: Engine) -> None:
    SqlStore(store_url).close()
    with sql.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, metadata) == []


def test_auto_upgrade_off_refuses_a_fresh_database(
    store_url: str, sql: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_DB_AUTO_UPGRADE", "0")
    with pytest.raises(SchemaMismatch, match="wfaudit db upgrade") as raised:
        SqlStore(store_url)
    assert "no wfaudit schema" in str(raised.value)
    assert tables(sql) == set()

    with SqlStore(store_url, check_schema=False) as store:
        assert store.current_revision() is None
        assert store.upgrade() == (None, HEAD_REVISION)
        assert store.upgrade() == (HEAD_REVISION, HEAD_REVISION)
    with SqlStore(store_url) as store:  # at head: fine even with upgrades off
        assert store.current_revision() == HEAD_REVISION


def test_auto_upgrade_argument_wins_over_the_environment(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_DB_AUTO_UPGRADE", "0")
    with SqlStore(store_url, auto_upgrade=True) as store:
        assert store.current_revision() == HEAD_REVISION


def test_bad_auto_upgrade_setting(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFAUDIT_DB_AUTO_UPGRADE", "sometimes")
    with pytest.raises(ConfigurationError, match="WFAUDIT_DB_AUTO_UPGRADE"):
        SqlStore(store_url)


def test_database_from_a_newer_wfaudit_is_refused(store_url: str, sql: Engine) -> None:
    SqlStore(store_url).close()
    with sql.begin() as connection:
        connection.execute(
            text(f"UPDATE {VERSION_TABLE} SET version_num = '0099_future'")  # noqa: S608
        )

    with pytest.raises(SchemaMismatch, match=r"0099_future.*newer"):
        SqlStore(store_url)
    with SqlStore(store_url, check_schema=False) as store:
        assert store.current_revision() == "0099_future"
        with pytest.raises(SchemaMismatch, match="0099_future"):
            store.upgrade()


def test_opening_an_up_to_date_store_does_not_import_alembic(store_url: str) -> None:
    SqlStore(store_url).close()
    script = textwrap.dedent(
        """
        import sys
        from wfaudit_sql import SqlStore
        SqlStore(sys.argv[1]).close()
        print("alembic" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, store_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "False"


def test_processes_opening_a_fresh_database_at_once(store_url: str, sql: Engine) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from wfaudit_sql import SqlStore
        start = float(sys.argv[2])
        while time.time() < start:
            time.sleep(0.001)
        with SqlStore(sys.argv[1]) as store:
            print(store.current_revision())
        """
    )
    start = str(time.time() + 1.5)  # let every interpreter start before racing
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, store_url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * 6, outputs
    assert [out.strip() for out, _ in outputs] == [HEAD_REVISION] * 6
    assert tables(sql) == TABLES


# -- backend specifics --------------------------------------------------------------


def test_sqlite_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "store.db"
    with SqlStore(f"sqlite:///{path}") as store:
        assert store.current_revision() == HEAD_REVISION
    assert path.is_file()


def _pragmas(store: SqlStore) -> dict[str, Any]:
    names = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
    with store._engine.connect() as connection:
        return {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with SqlStore(f"sqlite:///{tmp_path / 'a.db'}") as store:
        assert _pragmas(store) == {
            "journal_mode": "wal",
            "synchronous": 2,  # FULL: a commit is on disk when save returns
            "busy_timeout": 5000,
            "foreign_keys": 1,
        }
    url = f"sqlite:///{tmp_path / 'b.db'}?synchronous=normal&busy_timeout=1234"
    with SqlStore(url) as store:
        assert store.url.endswith("b.db")  # wfaudit's options are not SQLAlchemy's
        pragmas = _pragmas(store)
        assert (pragmas["synchronous"], pragmas["busy_timeout"]) == (1, 1234)


def test_sqlite_in_memory_store(make_snapshot: Any) -> None:
    with SqlStore("sqlite://") as store:
        assert store.url == "sqlite://"
        record, blob = make_snapshot()
        assert store.save(record, blob).created is True
        assert store.get_record_by_id(record.id) == record
        assert store.current_revision() == HEAD_REVISION


@pytest.mark.wfaudit_backends("postgresql")
def test_postgresql_search_path_reaches_the_connection(store_url: str, sql: Engine) -> None:
    url = make_url(store_url)
    options = unquote(str(url.query["options"]))
    schema = options.removeprefix("-csearch_path=")
    assert schema.startswith("wfa_")

    with SqlStore(store_url) as store, store._engine.connect() as connection:
        assert connection.execute(text("SELECT current_schema()")).scalar() == schema
    with sql.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_name IN :names "
                # Other test sessions' schemas may exist meanwhile: look at ours
                # and at the default one, where the tables must not be.
                "AND table_schema IN (:schema, 'public')"
            ).bindparams(bindparam("names", expanding=True)),
            {"names": sorted(TABLES), "schema": schema},
        ).all()
    assert {(row[0], row[1]) for row in rows} == {(schema, name) for name in TABLES}
