"""What wfaudit writes to disk is the owner's only (issue #16), as the spool is.

The SQLite store (and its -wal and -shm files), a `wfaudit backup` and the
objects of a file:// archive hold every audited config: each is created 0600
in directories created 0700. Each test sets a permissive umask (000) so that
the modes are wfaudit's own doing, not the environment's.
"""

from __future__ import annotations

import os
import pathlib
import stat
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from wfaudit import Auditor
from wfaudit.archive import FileArchive
from wfaudit.cli import cli
from wfaudit.retention import Sweeper
from wfaudit_hookspecs import TriggerRequest


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def request(workflow_id: str) -> TriggerRequest:
    return TriggerRequest(
        workflow_id=workflow_id,
        workflow_type="CI",
        pipeline_id="pipe-1",
        config={"steps": [{"name": "build", "script": f"make {workflow_id}"}]},
    )


def test_a_new_sqlite_store_and_its_wal_files_are_private(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers")
    database = tmp_path / "a" / "b" / "wfaudit.sqlite3"
    with Auditor.from_url(f"sqlite:///{database}") as auditor:
        assert auditor.audit_trigger(request("w1")).ok
        # While the store is open (in WAL mode), its -wal and -shm files exist.
        wal = database.with_name(database.name + "-wal")
        shm = database.with_name(database.name + "-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: mode(p) for p in (database, wal, shm)} == {
            p.name: 0o600 for p in (database, wal, shm)
        }
    assert mode(tmp_path / "a") == 0o700
    assert mode(tmp_path / "a" / "b") == 0o700


def test_a_backup_is_private(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers")
    url = f"sqlite:///{tmp_path / 'wfaudit.sqlite3'}"
    with Auditor.from_url(url) as auditor:
        assert auditor.audit_trigger(request("w1")).ok
    destination = tmp_path / "backups" / "daily" / "copy.sqlite3"
    result = CliRunner().invoke(cli, ["--store", url, "backup", str(destination)])
    assert result.exit_code == 0, result.output
    assert mode(destination) == 0o600
    assert mode(tmp_path / "backups") == mode(tmp_path / "backups" / "daily") == 0o700
    assert not [p for p in destination.parent.iterdir() if p.name.endswith(".partial")]


def test_file_archive_objects_and_directories_are_private(tmp_path: pathlib.Path) -> None:
    archive = FileArchive(tmp_path / "archive" / "root")
    archive.put("tenant/pipe/one.wfa", b"object bytes")
    archive.put("tenant/pipe/two.wfa", b"more bytes")
    for directory in ("archive", "archive/root", "archive/root/tenant", "archive/root/tenant/pipe"):
        assert mode(tmp_path / directory) == 0o700, directory
    for name in ("one.wfa", "two.wfa"):
        assert mode(tmp_path / "archive/root/tenant/pipe" / name) == 0o600
    assert archive.get("tenant/pipe/one.wfa") == b"object bytes"


def test_archived_snapshots_are_private_on_every_store(
    store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive objects a sweep writes (from a SQLite or a PostgreSQL store)."""
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers")
    root = tmp_path / "cold" / "archive"
    monkeypatch.setenv("WFAUDIT_ARCHIVE_URL", root.as_uri())
    with Auditor.from_url(store_url) as auditor:
        result = auditor.audit_trigger(request("w1"))
        assert result.ok and result.ref is not None
        Sweeper.for_auditor(auditor).archive_one(result.ref.id)
    written = list((tmp_path / "cold").rglob("*"))
    assert any(p.is_file() for p in written)
    for path in written:
        assert mode(path) == (0o600 if path.is_file() else 0o700), path
