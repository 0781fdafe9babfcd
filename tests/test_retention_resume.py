"""An ``apply`` killed midway (SIGKILL, at a chosen step) resumes and ends as an
uninterrupted one would: one archive record per snapshot, nothing deleted that
was not archived, no stray archive object, and a trail that verifies."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from wfaudit import Auditor
from wfaudit.archive import FileArchive
from wfaudit.retention import DEFAULT_KEEP, RetentionPolicy, Sweeper
from wfaudit.verify import verify
from wfaudit_hookspecs import EventKind, TriggerRequest
from wfaudit_hookspecs.retention import HoldScope

KILLER = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from wfaudit import Auditor
    from wfaudit.archive import FileArchive
    from wfaudit.retention import DEFAULT_KEEP, RetentionPolicy, Sweeper

    store_url, archive_dir, step, nth = sys.argv[1:5]
    seen = 0

    def on_step(kind, candidate):
        global seen
        if kind == step:
            seen += 1
            if seen == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)

    policy = RetentionPolicy(by_status={s: dt.timedelta(0) for s in DEFAULT_KEEP})
    with Auditor.from_url(store_url, allow_unmasked=True) as auditor:
        Sweeper(auditor.store, policy, archive=FileArchive(archive_dir)).apply(
            on_step=on_step, batch=2
        )
    print("finished without being killed")
    """
)


def policy() -> RetentionPolicy:
    return RetentionPolicy(by_status=dict.fromkeys(DEFAULT_KEEP, dt.timedelta(0)))


@pytest.mark.parametrize(
    ("step", "nth"), [("object-written", 3), ("archived", 2), ("deleted", 4), ("deleted", 8)]
)
def test_killed_apply_resumes_to_the_same_end(
    make_auditor: Callable[..., Auditor],
    store_url: str,
    tmp_path: pathlib.Path,
    step: str,
    nth: int,
) -> None:
    auditor = make_auditor(strict=True, allow_unmasked=True)
    store: Any = auditor.store
    ids = []
    for number in range(10):
        parent = ids[0] if number == 5 else None
        result = auditor.audit_trigger(
            TriggerRequest(
                workflow_id=f"wf-{number}",
                workflow_type="CI",
                pipeline_id=f"pipe-{number % 3}",
                config={"image": "app:1", "run": number},
                labels={"keep": "yes"} if number == 7 else {},
                parent=parent,
            )
        )
        assert result.ref is not None
        auditor.record_outcome(f"wf-{number}", "CI", "succeeded")
        ids.append(result.ref.id)
    held = ids[7]
    store.add_hold(scope=HoldScope.SELECTOR, target="keep=yes", tenant=None, reason=None, by="x")
    archive_dir = tmp_path / "archive"

    killed = subprocess.run(
        [sys.executable, "-c", KILLER, store_url, str(archive_dir), step, str(nth)],
        capture_output=True,
        text=True,
        env={**os.environ, "WFAUDIT_LOAD_PLUGINS": "sql"},
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert any(store.get_record_by_id(sid) for sid in ids)  # it stopped midway

    sweeper = Sweeper(store, policy(), archive=FileArchive(archive_dir, fsync=False))
    report = sweeper.apply()
    assert report.resumed

    remaining = {sid for sid in ids if store.get_record_by_id(sid) is not None}
    assert remaining == {held}
    records = {record.snapshot_id: record for record in store.iter_archives()}
    assert set(records) == set(ids) - {held}  # nothing deleted that was not archived
    for sid in set(ids) - {held}:
        kinds = [event.kind for event in store.list_events(subject=sid)]
        assert kinds.count(EventKind.ARCHIVED) == 1, sid  # nothing archived twice
        assert kinds.count(EventKind.DELETED) == 1, sid
    keys = set(FileArchive(archive_dir).iter_keys())
    assert keys == {record.object_key for record in records.values()}
    assert verify(auditor).ok
    # Every archive restores intact.
    for sid in sorted(set(ids) - {held}, reverse=True):
        assert sweeper.restore(sid).restored
    assert verify(auditor).ok
    # The sweep is finished: the next one starts afresh.
    assert not sweeper.apply().resumed
