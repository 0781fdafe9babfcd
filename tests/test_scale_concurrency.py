"""Many orchestrator processes auditing into one store at once (SQLite and PostgreSQL).

8 processes each audit a stream of triggers through ``Auditor.audit_trigger``
into the same store. Every fourth config is shared by all of them (their blobs
race), and every hundredth trigger is audited by every process (their snapshots
race). The run ends with exactly one snapshot per trigger, one blob per distinct
config, one ``snapshot.audited`` event per snapshot, an intact audit trail, and
no error (nor a spooled audit) reported to any caller.

By default each process audits 250 triggers; ``WFAUDIT_SCALE_FULL=1`` runs the
full 8 x 2,000 of the issue (about a minute per backend on two cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from wfaudit import Auditor
from wfaudit.verify import verify
from wfaudit_sql.urls import parse_store_url

WORKERS = 8
PER_WORKER = 2000 if os.environ.get("WFAUDIT_SCALE_FULL") == "1" else 250
SHARED_EVERY = 100  # every process audits these triggers
SHARED_CONTENT_EVERY = 4  # configs shared by every process

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from wfaudit import Auditor, hookimpl
    from wfaudit_hookspecs.pointer import iter_nodes

    class Masker:
        @hookimpl
        def wfaudit_mask(self, context):
            for path, _ in iter_nodes(context.config):
                if path and path[-1] == "password":
                    context.mask(path, rule="test.password")

    url, worker, count, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    auditor = Auditor.from_url(url, plugins=[Masker()])
    while time.time() < start:
        time.sleep(0.002)
    summary = {"ok": 0, "created": 0, "spooled": 0, "errors": [], "seconds": 0.0}
    began = time.perf_counter()

    def audit(workflow_id, pipeline_id, config):
        result = auditor.audit_trigger(
            workflow_id=workflow_id, workflow_type="CI", pipeline_id=pipeline_id,
            triggered_by="orchestrator", config=config,
        )
        if result.ok:
            summary["ok"] += 1
            summary["created"] += result.created
            summary["spooled"] += result.spooled
        else:
            summary["errors"].append(f"{result.error_type}: {result.error}")

    for n in range(count):
        if n % 4 == 0:
            config = {"image": "app:1", "step": n, "password": "s3cr3t-shared"}
        else:
            config = {"image": "app:1", "step": n, "worker": worker, "password": f"pw-{worker}"}
        audit(f"w{worker}-{n}", f"p{worker}", config)
        if n % 100 == 0:
            audit(f"shared-{n}", "p-shared", {"image": "app:1", "shared": n})
    summary["seconds"] = time.perf_counter() - began
    auditor.close()
    print(json.dumps(summary))
    """
)


def run_workers(url: str, workers: int, per_worker: int, env: dict[str, str]) -> list[dict]:
    start = str(time.time() + 2.0)  # let every interpreter start before they race
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(worker), str(per_worker), start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for worker in range(workers)
    ]
    outputs = [process.communicate(timeout=900) for process in processes]
    assert [p.returncode for p in processes] == [0] * workers, [err[-2000:] for _, err in outputs]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def test_eight_processes_audit_into_one_store(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "WFAUDIT_LOAD_PLUGINS": "sql", "WFAUDIT_HOME": str(tmp_path / "home")}
    env.pop("WFAUDIT_STORE_URL", None)
    # One installation: the verification below uses the workers' key (the chain key
    # derives from it; another key's events are reported unreadable).
    monkeypatch.setenv("WFAUDIT_HOME", env["WFAUDIT_HOME"])
    Auditor.from_url(store_url, allow_unmasked=True).close()  # create the schema once

    began = time.perf_counter()
    summaries = run_workers(store_url, WORKERS, PER_WORKER, env)
    elapsed = time.perf_counter() - began

    shared = len(range(0, PER_WORKER, SHARED_EVERY))
    expected = WORKERS * PER_WORKER + shared
    assert [s["errors"] for s in summaries] == [[]] * WORKERS
    assert sum(s["spooled"] for s in summaries) == 0
    assert sum(s["ok"] for s in summaries) == WORKERS * (PER_WORKER + shared)
    # Each shared trigger was created by exactly one process.
    assert sum(s["created"] for s in summaries) == expected

    engine = create_engine(parse_store_url(store_url).url)
    try:
        with engine.connect() as connection:

            def count(sql: str) -> int:
                return int(connection.execute(text(sql)).scalar_one())

            assert count("SELECT count(*) FROM snapshots") == expected
            assert count("SELECT count(DISTINCT workflow_id) FROM snapshots") == expected
            assert count("SELECT count(*) FROM events WHERE kind = 'snapshot.audited'") == expected
            distinct_contents = (
                len(range(0, PER_WORKER, SHARED_CONTENT_EVERY))
                + WORKERS * (PER_WORKER - len(range(0, PER_WORKER, SHARED_CONTENT_EVERY)))
                + shared
            )
            assert count("SELECT count(*) FROM blobs") == distinct_contents
    finally:
        engine.dispose()

    with Auditor.from_url(store_url, allow_unmasked=True) as auditor:
        report = verify(auditor)
    assert report.ok, report.findings[:5]
    assert report.snapshots == expected
    rate = sum(s["ok"] for s in summaries) / elapsed
    print(
        f"\n{WORKERS} x {PER_WORKER} audits: {expected} snapshots in {elapsed:.1f} s "
        f"({rate:.0f} audits/s, slowest process {max(s['seconds'] for s in summaries):.1f} s)"
    )


def test_two_processes_same_trigger_one_snapshot_one_blob(store_url: str, tmp_path: Path) -> None:
    """The race the unique keys settle: identical triggers from two processes."""
    env = {**os.environ, "WFAUDIT_LOAD_PLUGINS": "sql", "WFAUDIT_HOME": str(tmp_path / "home")}
    Auditor.from_url(store_url, allow_unmasked=True).close()
    # Two processes whose streams are the same triggers: worker ids collide on
    # purpose by running the *same* worker number twice.
    start = str(time.time() + 2.0)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, store_url, "0", "200", start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [s["errors"] for s in summaries] == [[], []]
    assert sum(s["created"] for s in summaries) == 200 + 2  # one of each pair of twins

    engine = create_engine(parse_store_url(store_url).url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM snapshots")).scalar_one() == 202
            assert connection.execute(text("SELECT count(*) FROM blobs")).scalar_one() == 202
            assert connection.execute(text("SELECT count(*) FROM events")).scalar_one() == 202
    finally:
        engine.dispose()
