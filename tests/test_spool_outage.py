"""The store goes away mid-stream: every trigger returns promptly, nothing is lost.

SQLite: another connection holds the database locked (``BEGIN EXCLUSIVE``) past
the store's timeout, or the file is read-only. PostgreSQL: the server becomes
unreachable (the test proxy refuses connections, as a closed port would) or the
connections are terminated (``pg_terminate_backend``). In every case the audits
report ``ok``, those the store could not take are spooled, and once the store is
back the background drainer replays them: every snapshot ends up in the store,
none twice, and the audit trail verifies.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, codec
from wfaudit.spool import DeferredStore
from wfaudit.verify import verify
from wfaudit_hookspecs import AuditResult, StoreUnavailable
from wfaudit_sql.urls import parse_store_url

SECRET = "hunter2-very-secret-value"


def with_options(url: str, **options: str) -> str:
    separator = "&" if "?" in url else "?"
    return url + separator + "&".join(f"{key}={value}" for key, value in options.items())


@pytest.fixture
def sql(store_url: str) -> Iterator[Engine]:
    engine = create_engine(parse_store_url(store_url).url)
    yield engine
    engine.dispose()


class Stream:
    """Audits numbered triggers, timing each call."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor
        self.results: dict[int, AuditResult] = {}
        self.seconds: dict[int, float] = {}

    def audit(self, numbers: range) -> list[AuditResult]:
        out = []
        for n in numbers:
            started = time.perf_counter()
            result = self.auditor.audit_trigger(
                workflow_id=n,
                workflow_type="CI",
                pipeline_id="p-1",
                triggered_by="orchestrator",
                config={"step": n, "password": SECRET, "image": "registry/app:1"},
            )
            self.seconds[n] = time.perf_counter() - started
            self.results[n] = result
            out.append(result)
        return out


def wait_until_drained(auditor: Auditor, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while auditor.spool.depth() and time.monotonic() < deadline:
        # Audits that the store takes kick the background drainer.
        time.sleep(0.1)
        auditor.spool_service.drainer.after_success()
    assert auditor.spool.depth() == 0, "the spool did not drain"


def assert_all_stored_once(sql: Engine, count: int) -> None:
    with sql.connect() as connection:
        rows = connection.execute(text("SELECT workflow_id FROM snapshots")).scalars().all()
        audited = connection.execute(
            text("SELECT count(*) FROM events WHERE kind = 'snapshot.audited'")
        ).scalar_one()
    assert sorted(map(int, rows)) == list(range(count))
    assert audited == count


def assert_no_secret_in(spool_root: Path) -> int:
    """No spool file, nor any blob in one, holds the secret; returns the files seen."""
    from wfaudit.spool import Spool

    seen = 0
    for path in spool_root.rglob("*"):
        if not path.is_file():
            continue
        assert SECRET.encode() not in path.read_bytes(), path
        if path.suffix == ".wfspool":
            entry = Spool(spool_root, "sqlite://").read(path)
            # The spool holds whole blobs only: a delta's base may be gone at replay.
            assert entry.blob.base is None and entry.blob.codec == codec.ZSTD
            assert SECRET.encode() not in codec.decompress(entry.blob.codec, entry.blob.data)
            seen += 1
    return seen


# -- SQLite ---------------------------------------------------------------------------


@pytest.mark.wfaudit_backends("sqlite")
def test_sqlite_locked_past_its_timeout_mid_stream(
    store_url: str, make_auditor: Callable[..., Auditor], sql: Engine
) -> None:
    url = with_options(store_url, busy_timeout="100", retry_deadline="0.5")
    auditor = make_auditor(KeyNameMasker(), url=url)
    stream = Stream(auditor)
    assert not any(r.spooled for r in stream.audit(range(20)))

    holder = sqlite3.connect(parse_store_url(store_url).url.database or "", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        during = stream.audit(range(20, 60))
        # Copy the spool now, before the background drainer replays it.
        spooled_files = assert_no_secret_in(auditor.spool.root)
    finally:
        holder.execute("COMMIT")
        holder.close()
    stream.audit(range(60, 80))

    assert all(r.ok for r in stream.results.values())
    assert all(r.spooled for r in during)
    assert spooled_files >= 40
    # The first audit waits for the store's deadline; the breaker spares the others.
    assert max(stream.seconds.values()) < 0.5 + 1.5
    assert statistics.median(stream.seconds[n] for n in range(21, 60)) < 0.05

    wait_until_drained(auditor)
    assert_all_stored_once(sql, 80)
    assert verify(auditor).ok


def _make_read_only(paths: list[Path]) -> Callable[[], None]:
    """Make files read-only even for root (chattr +i), or skip; returns the undo."""
    if os.geteuid() != 0:
        for path in paths:
            path.chmod(0o444)
        return lambda: [path.chmod(0o644) for path in paths] and None
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: cannot make a file read-only")
    done = []
    for path in paths:
        result = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)
        if result.returncode != 0:
            for made in done:
                subprocess.run([chattr, "-i", str(made)], check=False)
            pytest.skip("chattr +i is not supported here")
        done.append(path)
    return lambda: [subprocess.run([chattr, "-i", str(p)], check=False) for p in done] and None


@pytest.mark.wfaudit_backends("sqlite")
def test_sqlite_read_only_file(
    store_url: str, make_auditor: Callable[..., Auditor], sql: Engine
) -> None:
    database = Path(parse_store_url(store_url).url.database or "")
    first = make_auditor(KeyNameMasker(), url=store_url)
    Stream(first).audit(range(10))
    first.close()
    with sqlite3.connect(database) as connection:  # fold the WAL in: one file to protect
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    companions = [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]
    for path in companions:
        path.unlink(missing_ok=True)
    undo = _make_read_only([database, database.parent])
    try:
        auditor = make_auditor(KeyNameMasker(), url=with_options(store_url, retry_deadline="0.5"))
        stream = Stream(auditor)
        during = stream.audit(range(10, 30))
    finally:
        undo()
    assert all(r.ok and r.spooled for r in during)
    assert max(stream.seconds.values()) < 2.0
    stream.audit(range(30, 40))
    wait_until_drained(auditor)
    assert_all_stored_once(sql, 40)
    assert verify(auditor).ok


# -- PostgreSQL -------------------------------------------------------------------------


@pytest.mark.wfaudit_backends("postgresql")
def test_postgresql_unreachable_mid_stream(
    store_url: str, make_auditor: Callable[..., Auditor], sql: Engine, tcp_proxy: Any
) -> None:
    proxy = tcp_proxy(store_url)
    auditor = make_auditor(KeyNameMasker(), url=proxy.url_for(store_url))
    stream = Stream(auditor)
    assert not any(r.spooled for r in stream.audit(range(20)))

    proxy.cut()  # the port now refuses connections; open ones are reset
    during = stream.audit(range(20, 60))
    spooled_files = assert_no_secret_in(auditor.spool.root)
    proxy.restore()
    stream.audit(range(60, 80))

    assert all(r.ok for r in stream.results.values())
    assert all(r.spooled for r in during)
    assert spooled_files == 40
    assert max(stream.seconds.values()) < 2.0
    assert statistics.median(stream.seconds[n] for n in range(20, 60)) < 0.05

    wait_until_drained(auditor)
    assert_all_stored_once(sql, 80)
    assert verify(auditor).ok


@pytest.mark.wfaudit_backends("postgresql")
def test_postgresql_connections_terminated_mid_stream(
    store_url: str, make_auditor: Callable[..., Auditor], sql: Engine
) -> None:
    name = f"wfaudit-test-{os.getpid()}-{time.monotonic_ns()}"
    auditor = make_auditor(KeyNameMasker(), url=with_options(store_url, application_name=name))
    stream = Stream(auditor)
    stream.audit(range(20))
    with sql.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": name},
        ).scalar_one()
    assert killed >= 1
    assert len(auditor.history(limit=100)) == 20  # a read on a fresh connection
    with sql.connect() as connection:
        connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": name},
        )
    stream.audit(range(20, 40))

    assert all(r.ok for r in stream.results.values())
    wait_until_drained(auditor)
    assert_all_stored_once(sql, 40)
    assert verify(auditor).ok


# -- a store that cannot be opened when the auditor is created --------------------------


def test_store_down_when_the_auditor_is_created(
    store_url: str,
    make_auditor: Callable[..., Auditor],
    sql: Engine,
    tcp_proxy: Any,
    tmp_path: Path,
) -> None:
    if store_url.startswith("sqlite"):
        # A file where the store's directory should be: the store cannot be created.
        blocker = tmp_path / "blocked"
        blocker.write_text("a file where the store's directory should be")
        down_url = f"sqlite:///{blocker / 'store.sqlite3'}"

        def bring_back() -> None:
            blocker.unlink()

        up_sql = create_engine(f"sqlite:///{blocker / 'store.sqlite3'}")
    else:
        proxy = tcp_proxy(store_url)
        proxy.cut()
        down_url = proxy.url_for(store_url)
        bring_back = proxy.restore
        up_sql = sql

    started = time.perf_counter()
    auditor = make_auditor(KeyNameMasker(), url=down_url)
    assert isinstance(auditor.store, DeferredStore)
    stream = Stream(auditor)
    results = stream.audit(range(10))
    assert time.perf_counter() - started < 5.0
    assert all(r.ok and r.spooled for r in results)

    bring_back()
    wait_until_drained(auditor, timeout=40)
    stream.audit(range(10, 15))
    try:
        assert_all_stored_once(up_sql, 15)
    finally:
        if up_sql is not sql:
            up_sql.dispose()
    assert verify(auditor).ok


@pytest.mark.wfaudit_backends("postgresql")
def test_strict_mode_does_not_spool(
    store_url: str, make_auditor: Callable[..., Auditor], tcp_proxy: Any
) -> None:
    """Strict mode (test suites, the CLI) raises the store's error instead."""
    proxy = tcp_proxy(store_url)
    auditor = make_auditor(KeyNameMasker(), url=proxy.url_for(store_url), strict=True)
    Stream(auditor).audit(range(2))
    proxy.cut()
    with pytest.raises(StoreUnavailable, match="cannot reach the store"):
        Stream(auditor).audit(range(2, 3))
    assert auditor.spool.depth() == 0
