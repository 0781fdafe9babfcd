"""Operations: ``wfaudit stats``, ``backup``, ``drain``, ``health`` and the health functions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, health
from wfaudit.cli import cli
from wfaudit.testing.kit_store import make_record


def invoke(store_url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--store", store_url, *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def auditor(make_auditor: Callable[..., Auditor]) -> Auditor:
    auditor = make_auditor(KeyNameMasker())
    shared = {"image": "registry/app:1", "steps": ["build", "test"] * 40, "password": "pw"}
    for n in range(8):
        config = shared if n < 6 else {**shared, "n": n}
        assert auditor.audit_trigger(
            workflow_id=n, workflow_type="CI", pipeline_id="7", config=config
        ).ok
    auditor.record_outcome(1, "CI", "failed")
    return auditor


def test_stats_command(auditor: Auditor, store_url: str) -> None:
    data = json.loads(invoke(store_url, "stats", "--json"))
    assert (data["snapshots"], data["blobs"], data["events"]) == (8, 3, 9)
    assert data["by_status"] == {"failed": 1, "triggered": 7}
    assert data["raw_bytes"] > data["unique_raw_bytes"] > data["stored_bytes"] > 0
    assert data["dedup_ratio"] == pytest.approx(data["raw_bytes"] / data["unique_raw_bytes"], 1e-3)
    assert data["compression_ratio"] > 1
    assert data["spool_depth"] == 0
    auditor.spool.write(*make_record(99))
    text = invoke(store_url, "stats")
    assert "snapshots:     8" in text and "spool depth:   1 waiting" in text
    assert "dedup ratio:" in text and "compression:" in text


@pytest.mark.wfaudit_backends("sqlite")
def test_backup_command_sqlite(auditor: Auditor, store_url: str, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "audit.sqlite3"
    output = invoke(store_url, "backup", str(target))
    assert "8 snapshots, integrity ok" in output
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 8
    # The copy is a store in its own right, and verifies.
    assert "verify: OK" in invoke(f"sqlite:///{target}", "verify")
    again = CliRunner().invoke(cli, ["--store", store_url, "backup", str(target)])
    assert again.exit_code == 1 and "does not overwrite" in again.output


@pytest.mark.wfaudit_backends("postgresql")
def test_backup_command_postgresql(auditor: Auditor, store_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--store", store_url, "backup", str(tmp_path / "x.dump")])
    assert result.exit_code == 1
    assert "pg_dump --format=custom" in result.output and "docs/operations.md" in result.output


def test_drain_command(auditor: Auditor, store_url: str) -> None:
    for n in (20, 21, 22):
        auditor.spool.write(*make_record(n, content={"n": n}))
    data = json.loads(invoke(store_url, "drain", "--json"))
    assert (data["replayed"], data["remaining"], data["ok"]) == (3, 0, True)
    assert "replayed 0, already stored 0, remaining 0" in invoke(store_url, "drain")
    broken = auditor.spool.write(*make_record(23, content={"n": 23}))
    broken.write_bytes(b"garbage")
    output = invoke(store_url, "drain", code=1)
    assert "1 corrupt" in output


def test_health(auditor: Auditor, store_url: str) -> None:
    report = health.check(auditor)
    assert (report.status, report.live, report.ready) == ("ok", True, True)
    assert report.schema_current is True and report.spool_writable
    assert health.liveness(auditor) and health.readiness(auditor)
    assert health.check(auditor, write=True).store_ok

    auditor.spool.write(*make_record(99))
    assert health.check(auditor).status == "degraded"
    data = json.loads(invoke(store_url, "health", "--json"))
    assert (data["status"], data["spool_depth"]) == ("degraded", 1)


@pytest.mark.wfaudit_backends("sqlite")  # the store URL is the test's own
def test_health_of_an_unreachable_store(
    make_auditor: Callable[..., Auditor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    url = f"sqlite:///{blocker / 'store.db'}"
    auditor = make_auditor(KeyNameMasker(), url=url)
    report = health.check(auditor)
    assert (report.status, report.live, report.ready) == ("degraded", True, False)
    assert "cannot create the store" in (report.store_error or "")
    # `wfaudit health` only reads: a store that is not there is refused (and not
    # created); one that cannot be reached (a server that is down) is reported.
    assert "no wfaudit store" in invoke(url, "health", code=1)
    unreachable = f"postgresql://wfaudit@127.0.0.1:{_closed_port()}/none"
    # A store out of reach exits 1 (degraded: the audits are spooled); --live
    # (a liveness probe) is fine with it while the spool takes the audits.
    output = invoke(unreachable, "health", code=1)
    assert "status: degraded" in output and "unavailable" in output
    assert "status: degraded" in invoke(unreachable, "health", "--live")

    # Neither the store nor the spool can be written: down, exit 1.
    home = tmp_path / "home"
    home.mkdir()
    (home / "spool").write_text("a file where the spool directory should be")
    monkeypatch.setenv("WFAUDIT_HOME", str(home))
    down = make_auditor(KeyNameMasker(), url=url)
    assert health.check(down).status == "down" and not health.liveness(down)
    result = CliRunner().invoke(cli, ["--store", unreachable, "health", "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["status"] == "down"


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_new_commands_are_listed(store_url: str) -> None:
    listing = invoke(store_url, "--help")
    for command in ("verify", "stats", "drain", "backup", "health"):
        assert command in listing
