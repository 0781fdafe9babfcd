"""Several processes writing one SQLite file; a writer holding the lock too long."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from wfaudit_hookspecs import StoreUnavailable
from wfaudit_sql import SqlStore

WRITER = textwrap.dedent(
    """
    import hashlib, sys, time, zlib
    from wfaudit_hookspecs import Blob, SnapshotRecord, canonical_json
    from wfaudit_sql import SqlStore

    url, worker, count, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    store = SqlStore(url)
    while time.time() < start:
        time.sleep(0.001)
    created = 0
    for n in range(count):
        # Every fourth config is shared by all workers: their blobs race too.
        config = {"shared": n} if n % 4 == 0 else {"worker": worker, "n": n}
        raw = canonical_json(config)
        digest = hashlib.sha256(raw).hexdigest()
        record = SnapshotRecord(
            id=f"01W{worker:03d}{n:08d}", workflow_id=f"w{worker}-{n}", workflow_type="CI",
            pipeline_id=f"p{worker}", content_hash=digest,
        )
        blob = Blob(content_hash=digest, codec="zlib", raw_size=len(raw), data=zlib.compress(raw))
        created += store.save(record, blob).created
        if n % 100 == 0:
            # A run every worker saves (same audit): exactly one of them creates it.
            shared = SnapshotRecord(
                id=f"01S{worker:03d}{n:08d}", workflow_id=f"shared-{n}", workflow_type="CI",
                pipeline_id="p", content_hash=digest,
            )
            store.save(shared, blob)
    store.close()
    print(created)
    """
)


def test_processes_writing_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    SqlStore(url).close()
    workers, per_worker = 4, 200
    start = str(time.time() + 1.5)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(worker), str(per_worker), start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(workers)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]

    assert [p.returncode for p in processes] == [0] * workers, [err for _, err in outputs]
    assert [int(out) for out, _ in outputs] == [per_worker] * workers
    with sqlite3.connect(tmp_path / "shared.db") as connection:

        def count(sql: str) -> int:
            return int(connection.execute(sql).fetchone()[0])

        shared_runs = len(range(0, per_worker, 100))
        assert count("SELECT count(*) FROM snapshots") == workers * per_worker + shared_runs
        assert count("SELECT count(*) FROM snapshots WHERE workflow_id LIKE 'shared-%'") == (
            shared_runs
        )
        assert count("SELECT count(*) FROM events") == workers * per_worker + shared_runs
        distinct = per_worker // 4 + workers * (per_worker - per_worker // 4)
        assert count("SELECT count(*) FROM blobs") == distinct
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Hold SQLite's write lock on ``path`` for ``seconds`` from another connection."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    def release() -> None:
        time.sleep(seconds)
        holder.execute("COMMIT")
        holder.close()

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def test_busy_store_is_retried_until_free(tmp_path: Path, make_snapshot: Any) -> None:
    path = tmp_path / "busy.db"
    # A busy timeout shorter than the lock is held: the backoff loop must carry it.
    with SqlStore(f"sqlite:///{path}?busy_timeout=20&retry_deadline=10") as store:
        thread = _hold_write_lock(path, 0.5)
        try:
            record, blob = make_snapshot()
            assert store.save(record, blob).created is True
        finally:
            thread.join()


def test_store_locked_past_the_deadline_is_unavailable(tmp_path: Path, make_snapshot: Any) -> None:
    path = tmp_path / "locked.db"
    with SqlStore(f"sqlite:///{path}?busy_timeout=20&retry_deadline=0.3") as store:
        thread = _hold_write_lock(path, 1.5)
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="stayed busy") as raised:
                store.save(*make_snapshot())
            assert time.monotonic() - started < 1.2
            assert "locked.db" in str(raised.value)
        finally:
            thread.join()
        # Nothing half-written, and the store works again once the lock is gone.
        record, blob = make_snapshot()
        assert store.save(record, blob).created is True
