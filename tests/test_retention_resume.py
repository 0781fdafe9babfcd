"""An ``apply`` killed midway (SIGKILL, at a chosen step) resumes and ends as an
uninterrupted one would: compared with an uninterrupted sweep of a twin store
holding the same data, the same snapshots remain, the same archive objects and
archive records exist (each object written once), the reports and the sweep
rows have the same counts, nothing was deleted that was not archived, and the
trail verifies. Two ``apply`` processes at once do not collide either."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import pytest

from wfaudit import Auditor
from wfaudit.archive import FileArchive
from wfaudit.retention import DEFAULT_KEEP, RetentionPolicy, Sweeper, SweepReport, add_hold
from wfaudit.verify import verify
from wfaudit_hookspecs import EventKind, TriggerRequest
from wfaudit_hookspecs.retention import HoldScope

# The interrupted sweep: every archive write is logged (one line per put, to a
# file that survives the SIGKILL), then the process kills itself at the
# ``nth`` callback of ``step``.
KILLER = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from wfaudit import Auditor
    from wfaudit.archive import FileArchive
    from wfaudit.retention import DEFAULT_KEEP, RetentionPolicy, Sweeper

    store_url, archive_dir, puts_log, step, nth = sys.argv[1:6]
    seen = 0

    class LoggedArchive(FileArchive):
        def put(self, key, data):
            super().put(key, data)
            with open(puts_log, "a", encoding="utf-8") as log:
                log.write(key + "\\n")

    def on_step(kind, candidate):
        global seen
        if kind == step:
            seen += 1
            if seen == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)

    policy = RetentionPolicy(by_status={s: dt.timedelta(0) for s in DEFAULT_KEEP})
    with Auditor.from_url(store_url, allow_unmasked=True) as auditor:
        Sweeper(auditor.store, policy, archive=LoggedArchive(archive_dir)).apply(
            on_step=on_step, batch=2
        )
    print("finished without being killed")
    """
)

# One of two sweeps started together: the one that gets the lock waits, at its
# first step, until the other has given up (so they surely overlap).
RACER = textwrap.dedent(
    """
    import datetime as dt, json, os, pathlib, sys, time
    from wfaudit import Auditor
    from wfaudit.archive import FileArchive
    from wfaudit.retention import DEFAULT_KEEP, RetentionPolicy, Sweeper
    from wfaudit_hookspecs.retention import SweepBusy

    store_url, archive_dir, rundir, name = sys.argv[1:5]
    rundir = pathlib.Path(rundir)
    go, holding, release = rundir / "go", rundir / "holding", rundir / "release"

    def wait_for(path):
        deadline = time.monotonic() + 60
        while not path.exists():
            if time.monotonic() > deadline:
                sys.exit(f"{name}: timed out waiting for {path.name}")
            time.sleep(0.02)

    def on_step(kind, candidate):
        if not holding.exists():
            holding.write_text(name)
            wait_for(release)

    policy = RetentionPolicy(by_status={s: dt.timedelta(0) for s in DEFAULT_KEEP})
    with Auditor.from_url(store_url, allow_unmasked=True) as auditor:
        sweeper = Sweeper(auditor.store, policy, archive=FileArchive(archive_dir))
        wait_for(go)
        try:
            report = sweeper.apply(on_step=on_step)
        except SweepBusy as error:
            (rundir / f"{name}.busy").write_text(str(error))
            sys.exit(3)
    print(json.dumps({"archived": report.archived, "deleted": report.deleted}))
    """
)


def policy() -> RetentionPolicy:
    return RetentionPolicy(by_status=dict.fromkeys(DEFAULT_KEEP, dt.timedelta(0)))


class CountingArchive(FileArchive):
    """A local archive that counts its writes by key."""

    def __init__(self, root: pathlib.Path) -> None:
        super().__init__(root, fsync=False)
        self.puts: Counter[str] = Counter()

    def put(self, key: str, data: bytes) -> None:
        super().put(key, data)
        self.puts[key] += 1


@pytest.fixture
def twin_url(store_url: str, tmp_path: pathlib.Path) -> Iterator[str]:
    """A second empty store on the same backend as ``store_url``."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'twin.sqlite3'}"
        return
    from sqlalchemy import create_engine, text

    parts = urlsplit(store_url)
    option = parse_qs(parts.query)["options"][0]  # -csearch_path=<schema>
    twin = option.partition("=")[2] + "_twin"
    admin = create_engine(urlunsplit(parts._replace(query="")), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {twin}"))
        yield store_url.replace(quote(option, safe=""), quote(f"-csearch_path={twin}", safe=""))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {twin} CASCADE"))
        admin.dispose()


def populate(auditor: Auditor) -> dict[str, str]:
    """Ten finished runs (one a retrigger, one held); returns workflow id → snapshot id."""
    ids: dict[str, str] = {}
    for number in range(10):
        result = auditor.audit_trigger(
            TriggerRequest(
                workflow_id=f"wf-{number}",
                workflow_type="CI",
                pipeline_id=f"pipe-{number % 3}",
                config={"image": "app:1", "run": number},
                labels={"keep": "yes"} if number == 7 else {},
                parent=ids["wf-0"] if number == 5 else None,
            )
        )
        assert result.ref is not None
        auditor.record_outcome(f"wf-{number}", "CI", "succeeded")
        ids[f"wf-{number}"] = result.ref.id
    store: Any = auditor.store
    add_hold(store, scope=HoldScope.SELECTOR, target="keep=yes", tenant=None, reason=None, by="x")
    return ids


def final_state(auditor: Auditor, ids: dict[str, str], archive_dir: pathlib.Path) -> dict[str, Any]:
    """What a sweep leaves, with snapshot ids replaced by workflow ids (the twin
    store has the same data under other ids)."""
    store: Any = auditor.store
    workflow = {sid: wf for wf, sid in ids.items()}

    def named(text: str) -> str:
        for sid, wf in workflow.items():
            text = text.replace(sid, wf)
        return text

    records = list(store.iter_archives())
    return {
        "remaining": sorted(wf for wf, sid in ids.items() if store.get_record_by_id(sid)),
        "objects": sorted(named(key) for key in FileArchive(archive_dir).iter_keys()),
        "archives": sorted(
            (
                workflow[r.snapshot_id],
                r.pipeline_id,
                r.status,
                r.content_hash,
                named(r.object_key),
                r.present,
            )
            for r in records
        ),
    }


def counts_of(report: SweepReport) -> dict[str, Any]:
    return {
        "counts": dict(report.counts),
        "archived": report.archived,
        "deleted": report.deleted,
        "blocked": report.blocked,
        "orphans": (report.orphan_blobs, report.orphan_manifests, report.orphan_objects),
    }


@pytest.mark.parametrize(
    ("step", "nth"),
    [("object-written", 3), ("archived", 2), ("deleted", 2), ("deleted", 4), ("deleted", 8)],
)
def test_killed_apply_resumes_to_the_same_end(
    make_auditor: Callable[..., Auditor],
    store_url: str,
    twin_url: str,
    tmp_path: pathlib.Path,
    step: str,
    nth: int,
) -> None:
    auditor = make_auditor(strict=True, allow_unmasked=True)
    twin = make_auditor(url=twin_url, strict=True, allow_unmasked=True)
    store: Any = auditor.store
    ids = populate(auditor)
    twin_ids = populate(twin)
    held = ids["wf-7"]
    due = set(ids.values()) - {held}

    # The twin: one uninterrupted sweep.
    twin_archive = CountingArchive(tmp_path / "twin-archive")
    expected = Sweeper(twin.store, policy(), archive=twin_archive).apply(batch=2)
    assert not expected.resumed
    assert expected.archived == expected.deleted == len(due)
    assert set(twin_archive.puts.values()) == {1} and len(twin_archive.puts) == len(due)

    archive_dir = tmp_path / "archive"
    puts_log = tmp_path / "puts.log"
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, store_url, str(archive_dir), str(puts_log), step, str(nth)],
        capture_output=True,
        text=True,
        env={**os.environ, "WFAUDIT_LOAD_PLUGINS": "sql"},
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stdout + killed.stderr
    # It stopped midway: some of the due snapshots went, not all.
    gone = {sid for sid in due if store.get_record_by_id(sid) is None}
    assert 0 < len(gone) < len(due)
    assert store.get_record_by_id(held) is not None

    archive = CountingArchive(archive_dir)
    sweeper = Sweeper(store, policy(), archive=archive)
    report = sweeper.apply()
    assert report.resumed

    # The same end as the twin's: snapshots, objects, records, counts.
    assert final_state(auditor, ids, archive_dir) == final_state(
        twin, twin_ids, tmp_path / "twin-archive"
    )
    assert counts_of(report) == counts_of(expected)
    # Nothing archived twice: each object was written once, by the killed run or
    # by the resumed one, and each snapshot has one archive record and event.
    puts = Counter(puts_log.read_text(encoding="utf-8").split()) + archive.puts
    assert set(puts.values()) == {1} and len(puts) == len(due)
    # The sweep rows agree too.
    twin_store: Any = twin.store
    row = store.get_sweep(report.sweep_id)
    twin_row = twin_store.get_sweep(expected.sweep_id)
    assert row.finished_on is not None and twin_row.finished_on is not None
    assert dict(row.counts) == dict(twin_row.counts)

    records = {record.snapshot_id: record for record in store.iter_archives()}
    assert set(records) == due
    for sid in due:
        kinds = [event.kind for event in store.list_events(subject=sid)]
        assert kinds.count(EventKind.ARCHIVED) == 1, sid
        assert kinds.count(EventKind.DELETED) == 1, sid
        # Nothing deleted that was not archived first.
        assert kinds.index(EventKind.ARCHIVED) < kinds.index(EventKind.DELETED), sid
    assert set(FileArchive(archive_dir).iter_keys()) == {r.object_key for r in records.values()}
    assert set(puts) == {r.object_key for r in records.values()}
    assert verify(auditor).ok
    # Every archive restores intact.
    for sid in sorted(due, reverse=True):
        assert sweeper.restore(sid).restored
    assert verify(auditor).ok
    # The sweep is finished: the next one starts afresh.
    assert not sweeper.apply().resumed


def test_two_apply_processes_do_not_collide(
    make_auditor: Callable[..., Auditor], store_url: str, tmp_path: pathlib.Path
) -> None:
    auditor = make_auditor(strict=True, allow_unmasked=True)
    store: Any = auditor.store
    ids = populate(auditor)
    due = set(ids.values()) - {ids["wf-7"]}
    archive_dir, rundir = tmp_path / "archive", tmp_path / "run"
    rundir.mkdir()
    env = {**os.environ, "WFAUDIT_LOAD_PLUGINS": "sql"}
    racers = {
        name: subprocess.Popen(
            [sys.executable, "-c", RACER, store_url, str(archive_dir), str(rundir), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("a", "b")
    }
    try:
        time.sleep(0.5)
        (rundir / "go").touch()  # both call apply now
        deadline = time.monotonic() + 60
        while not (rundir / "holding").exists() or not list(rundir.glob("*.busy")):
            assert time.monotonic() < deadline, "the sweeps did not meet"
            assert all(p.poll() in (None, 3) for p in racers.values())
            time.sleep(0.05)
        winner = (rundir / "holding").read_text()
        loser = "b" if winner == "a" else "a"
        assert racers[loser].wait(timeout=60) == 3
        assert "another retention sweep is running" in (rundir / f"{loser}.busy").read_text()

        # The command refuses too, with one clear line, while the winner holds the lock.
        command = subprocess.run(
            [sys.executable, "-m", "wfaudit", "retention", "apply", "--store", store_url],
            capture_output=True,
            text=True,
            env={**env, "WFAUDIT_ARCHIVE_URL": archive_dir.as_uri()},
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert command.returncode == 1
        assert command.stderr.startswith("Error: another retention sweep is running")
        assert "Traceback" not in command.stderr
    finally:
        (rundir / "release").touch()
        outputs = {name: process.communicate(timeout=120) for name, process in racers.items()}
    assert racers[winner].returncode == 0, outputs[winner]
    assert json.loads(outputs[winner][0]) == {"archived": len(due), "deleted": len(due)}

    # The end state is the one sweep's: every due snapshot archived once, then deleted.
    assert {sid for sid in ids.values() if store.get_record_by_id(sid)} == {ids["wf-7"]}
    records = {record.snapshot_id: record for record in store.iter_archives()}
    assert set(records) == due
    for sid in due:
        kinds = [event.kind for event in store.list_events(subject=sid)]
        assert kinds.count(EventKind.ARCHIVED) == 1 and kinds.count(EventKind.DELETED) == 1
    assert set(FileArchive(archive_dir).iter_keys()) == {r.object_key for r in records.values()}
    assert verify(auditor).ok
    again = Sweeper(store, policy(), archive=FileArchive(archive_dir)).apply()
    assert not again.resumed and again.deleted == 0
