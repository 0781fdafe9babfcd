"""Retention rules on a real store (SQLite and PostgreSQL) with a controllable clock.

Each test audits real triggers, records their outcomes, moves the clock and
sweeps with a local-directory archive; ``wfaudit verify`` must pass after every
deletion (deletions are new events, never edits of old ones).
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from wfaudit import Auditor
from wfaudit.archive import FileArchive
from wfaudit.retention import (
    Action,
    RetentionPolicy,
    RetentionRule,
    Sweeper,
    add_hold,
    delete_snapshot,
    parse_duration,
    release_hold,
)
from wfaudit.testing.clock import Clock
from wfaudit.verify import verify
from wfaudit_hookspecs import (
    BadStoreURL,
    ConfigurationError,
    EventKind,
    InvalidRequest,
    TriggerRequest,
    content_hash,
)
from wfaudit_hookspecs.retention import HoldScope, SweepBusy

Run = Callable[..., str]


@pytest.fixture
def store_auditor(make_auditor: Callable[..., Auditor]) -> Auditor:
    return make_auditor(strict=True, allow_unmasked=True)


@pytest.fixture
def run(store_auditor: Auditor) -> Run:
    """Audit one trigger and record its outcome; returns the snapshot id."""

    def make(
        workflow_id: str,
        status: str = "succeeded",
        *,
        pipeline: str = "pipe-1",
        labels: dict[str, str] | None = None,
        parent: str | None = None,
    ) -> str:
        result = store_auditor.audit_trigger(
            TriggerRequest(
                workflow_id=workflow_id,
                workflow_type="CI",
                pipeline_id=pipeline,
                config={"image": "registry/app:1", "run": workflow_id, "steps": ["build"]},
                labels=labels or {},
                parent=parent,
            )
        )
        assert result.ok and result.ref is not None
        store_auditor.record_outcome(workflow_id, "CI", status)
        return result.ref.id

    return make


def sweeper(auditor: Auditor, tmp_path: pathlib.Path, **policy: Any) -> Sweeper:
    return Sweeper(
        auditor.store,
        RetentionPolicy(**policy),
        archive=FileArchive(tmp_path / "archive", fsync=False),
    )


def plan(sweep: Sweeper) -> dict[str, Any]:
    return {item.snapshot_id: item for item in sweep.plan()}


def present(auditor: Auditor, snapshot_id: str) -> bool:
    return auditor.store.get_record_by_id(snapshot_id) is not None


def assert_verified(auditor: Auditor) -> None:
    report = verify(auditor)
    assert report.ok, report.findings


def kinds(auditor: Auditor, snapshot_id: str) -> list[str]:
    return [event.kind for event in auditor.store.list_events(subject=snapshot_id)]


def test_durations_parse() -> None:
    assert parse_duration("30d") == dt.timedelta(days=30)
    assert parse_duration("6mo") == dt.timedelta(days=180)
    assert parse_duration("5y") == dt.timedelta(days=5 * 365)
    assert parse_duration("12h") == dt.timedelta(hours=12)
    assert parse_duration(7) == dt.timedelta(days=7)
    assert parse_duration("forever") is None
    for bad in ("30x", "-1d", "soon", True):
        with pytest.raises(ConfigurationError):
            parse_duration(bad)


def test_policy_from_settings_table() -> None:
    policy = RetentionPolicy.from_options(
        {
            "succeeded": "7d",
            "minimum": "2d",
            "archive_url": "file:///tmp/a",
            "rules": [
                {"selector": "environment=production", "keep": "6mo"},
                {"selector": "category=security", "keep": "5y", "archive": "immediately"},
            ],
        }
    )
    assert policy.by_status["succeeded"] == dt.timedelta(days=7)
    assert policy.by_status["failed"] == dt.timedelta(days=90)
    assert [rule.name for rule in policy.rules] == ["environment=production", "category=security"]
    assert policy.minimum == dt.timedelta(days=2)
    with pytest.raises(ConfigurationError, match="unknown keys: sucess"):
        RetentionPolicy.from_options({"sucess": "1d"})
    with pytest.raises(ConfigurationError, match="archive must be"):
        RetentionPolicy.from_options({"rules": [{"selector": "a=b", "keep": "1d", "archive": "x"}]})
    with pytest.raises(InvalidRequest, match="not KEY=VALUE"):
        RetentionPolicy.from_options({"rules": [{"selector": "nonsense", "keep": "1d"}]})


def test_defaults_by_outcome(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    ids = {status: run(f"wf-{status}", status) for status in ("succeeded", "failed", "error")}
    ids["cancelled"] = run("wf-cancelled", "cancelled")
    ids["running"] = run("wf-running", "running")
    sweep = sweeper(store_auditor, tmp_path)

    wfaudit_clock.advance(days=29)
    assert {item.action for item in plan(sweep).values()} == {Action.KEEP}

    wfaudit_clock.advance(days=2)  # 31 days: succeeded and cancelled are due
    items = plan(sweep)
    assert items[ids["succeeded"]].action == Action.DELETE
    assert items[ids["cancelled"]].action == Action.DELETE
    assert "succeeded: 30d" in items[ids["succeeded"]].reason
    for status in ("failed", "error", "running"):
        assert items[ids[status]].action == Action.KEEP, status
        assert f"{status}: 90d" in items[ids[status]].reason
    report = sweep.apply()
    assert report.deleted == 2 and report.archived == 2
    assert not present(store_auditor, ids["succeeded"])
    assert present(store_auditor, ids["failed"])
    assert_verified(store_auditor)

    wfaudit_clock.advance(days=60)  # 91 days
    assert sweep.apply().deleted == 3
    for snapshot_id in ids.values():
        assert not present(store_auditor, snapshot_id)
        # The trail outlives the snapshot: nothing of it was removed.
        assert kinds(store_auditor, snapshot_id)[0] == EventKind.AUDITED
        assert kinds(store_auditor, snapshot_id)[-1] == EventKind.DELETED
    assert_verified(store_auditor)


def test_label_selector_overrides(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    plain = run("wf-plain")
    production = run("wf-prod", labels={"environment": "production", "team": "a"})
    security = run("wf-sec", labels={"category": "security"})
    both = run("wf-both", labels={"environment": "production", "category": "security"})
    sweep = sweeper(
        store_auditor,
        tmp_path,
        rules=(
            RetentionRule.of("environment=production", "6mo"),
            RetentionRule.of("category=security", "5y", archive="immediately"),
        ),
    )

    # At once: the security snapshots are archived, and stay in the store.
    items = plan(sweep)
    assert items[security].action == Action.ARCHIVE
    assert items[both].action == Action.ARCHIVE  # the longest rule wins: 5y
    assert items[production].action == Action.KEEP
    assert sweep.apply().archived == 2
    assert present(store_auditor, security)
    assert store_auditor.store.get_archive(security) is not None  # type: ignore[attr-defined]
    assert kinds(store_auditor, security)[-1] == EventKind.ARCHIVED
    assert plan(sweep)[security].action == Action.KEEP  # archived once only

    wfaudit_clock.advance(days=31)
    items = plan(sweep)
    assert items[plain].action == Action.DELETE
    assert items[production].action == Action.KEEP
    assert "rule environment=production: 6mo" in items[production].reason
    sweep.apply()

    wfaudit_clock.advance(days=150)  # 181 days
    assert plan(sweep)[production].action == Action.DELETE
    assert plan(sweep)[both].action == Action.KEEP
    sweep.apply()
    assert not present(store_auditor, production)

    wfaudit_clock.advance(days=5 * 365)
    items = plan(sweep)
    assert items[security].action == Action.DELETE
    assert "deleted" in items[security].reason and not items[security].archive
    report = sweep.apply()
    assert report.deleted == 2 and report.archived == 0  # archived at the start
    assert_verified(store_auditor)


def test_compliance_minimum_no_rule_can_shorten(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    dev = run("wf-dev", "failed", labels={"environment": "dev"})
    sweep = sweeper(
        store_auditor,
        tmp_path,
        rules=(RetentionRule.of("environment=dev", "1d"),),
        by_status={"failed": dt.timedelta(days=1)},
        minimum=dt.timedelta(days=60),
    )
    wfaudit_clock.advance(days=10)
    item = plan(sweep)[dev]
    assert item.action == Action.KEEP
    assert "raised to the compliance minimum 60d" in item.reason
    assert sweep.apply().deleted == 0

    wfaudit_clock.advance(days=51)
    item = plan(sweep)[dev]
    assert item.action == Action.DELETE
    # The audit trail's own minimum (7 years) is reported, and deleting the
    # snapshot leaves every event of it in place.
    assert item.trail_until - item.created_on == dt.timedelta(days=7 * 365)
    before = kinds(store_auditor, dev)
    sweep.apply()
    assert not present(store_auditor, dev)
    assert kinds(store_auditor, dev)[: len(before)] == before
    assert kinds(store_auditor, dev)[-2:] == [EventKind.ARCHIVED, EventKind.DELETED]
    assert_verified(store_auditor)


def test_legal_holds_block_deletion_until_released(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    store: Any = store_auditor.store
    one = run("wf-one")
    piped = run("wf-piped", pipeline="pipe-held")
    labelled = run("wf-labelled", labels={"case": "4711", "team": "x"})
    free = run("wf-free")
    holds = [
        add_hold(
            store,
            scope=HoldScope.SNAPSHOT,
            target=one,
            tenant=None,
            reason="litigation",
            by="legal",
        ),
        add_hold(
            store,
            scope=HoldScope.PIPELINE,
            target="pipe-held",
            tenant=None,
            reason=None,
            by="legal",
        ),
        add_hold(
            store,
            scope=HoldScope.SELECTOR,
            target=" case = 4711 ",
            tenant=None,
            reason=None,
            by="legal",
        ),
    ]
    assert holds[2].target == "case=4711"
    assert kinds(store_auditor, one)[-1] == EventKind.HOLD_SET
    assert [e.kind for e in store.list_events(subject=holds[1].id)] == [EventKind.HOLD_SET]
    sweep = sweeper(store_auditor, tmp_path)

    wfaudit_clock.advance(days=400)
    items = plan(sweep)
    for snapshot_id, hold in zip((one, piped, labelled), holds, strict=True):
        assert items[snapshot_id].action == Action.HOLD
        assert hold.id in items[snapshot_id].reason
    assert items[free].action == Action.DELETE
    report = sweep.apply()
    assert report.deleted == 1
    assert all(present(store_auditor, sid) for sid in (one, piped, labelled))
    # The store refuses too, whoever asks.
    blocked = delete_snapshot(store, one, require_archive=False, reason={}, by="someone")
    assert not blocked.deleted and blocked.blocked == f"legal hold {holds[0].id}"

    released = release_hold(store, holds[0].id, tenant=None, reason="case closed", by="legal")
    assert released.released_on is not None and released.released_by == "legal"
    with pytest.raises(InvalidRequest, match="released already"):
        release_hold(store, holds[0].id, tenant=None, reason=None, by="legal")
    assert kinds(store_auditor, one)[-1] == EventKind.HOLD_RELEASED
    assert [h.id for h in store.list_holds()] == [holds[1].id, holds[2].id]
    assert len(store.list_holds(active=False)) == 3

    sweep.apply()
    assert not present(store_auditor, one)
    assert present(store_auditor, piped) and present(store_auditor, labelled)
    for hold in holds[1:]:
        release_hold(store, hold.id, tenant=None, reason=None, by="legal")
    assert sweep.apply().deleted == 2
    assert_verified(store_auditor)


def test_a_snapshot_is_not_deleted_before_what_references_it(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    parent = run("wf-parent", "failed")
    child = run("wf-child", "succeeded", parent=parent)
    lonely_parent = run("wf-parent-2", "succeeded")
    kept_child = run("wf-child-2", "failed", parent=lonely_parent)
    sweep = sweeper(store_auditor, tmp_path)

    wfaudit_clock.advance(days=31)
    items = plan(sweep)
    # The retrigger that stays keeps its parent; the one that goes does not.
    assert items[lonely_parent].action == Action.REFERENCED
    assert f"retrigger {kept_child}" in items[lonely_parent].reason
    assert items[child].action == Action.DELETE
    assert items[parent].action == Action.KEEP  # failed: 90 days
    sweep.apply()
    assert present(store_auditor, lonely_parent) and not present(store_auditor, child)
    store: Any = store_auditor.store
    refused = delete_snapshot(store, lonely_parent, require_archive=False, reason={}, by=None)
    assert refused.blocked == f"retrigger {kept_child} references it"

    wfaudit_clock.advance(days=60)
    items = plan(sweep)
    # Both due: the retrigger goes first (newest first), then its parent.
    assert items[kept_child].action == Action.DELETE
    assert items[lonely_parent].action == Action.DELETE
    assert sweep.apply().deleted == 3
    for snapshot_id in (parent, child, lonely_parent, kept_child):
        assert not present(store_auditor, snapshot_id)
    assert_verified(store_auditor)


def test_a_tagged_snapshot_is_kept_until_untagged(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    tagged = run("wf-tagged")
    other = run("wf-other")
    store_auditor.tag(tagged, "baseline", by="qa")
    sweep = sweeper(store_auditor, tmp_path)
    wfaudit_clock.advance(days=31)
    item = plan(sweep)[tagged]
    assert item.action == Action.REFERENCED
    assert "tag baseline references it" in item.reason
    assert sweep.apply().deleted == 1
    assert present(store_auditor, tagged) and not present(store_auditor, other)

    store_auditor.untag("baseline", by="qa")
    assert plan(sweep)[tagged].action == Action.DELETE
    assert sweep.apply().deleted == 1
    assert not present(store_auditor, tagged)
    assert_verified(store_auditor)


def test_deleting_without_archive_needs_it_said(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    snapshot_id = run("wf-1")
    wfaudit_clock.advance(days=31)
    with pytest.raises(ConfigurationError, match="no archive is configured"):
        Sweeper(store_auditor.store, RetentionPolicy()).apply()
    assert present(store_auditor, snapshot_id)
    report = Sweeper(store_auditor.store, RetentionPolicy(archive_before_delete=False)).apply()
    assert report.deleted == 1 and report.archived == 0
    assert_verified(store_auditor)


def test_a_missing_archive_leaves_no_sweep_open(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    """The archive configuration is checked before a sweep starts: the next apply
    starts a sweep of its own, at its own time, rather than "resuming" one."""
    snapshot_id = run("wf-1")
    wfaudit_clock.advance(days=31)
    immediately = (RetentionRule.of("team=x", "1y", archive="immediately"),)
    for policy in (
        RetentionPolicy(),
        RetentionPolicy(archive_before_delete=False, rules=immediately),
    ):
        with pytest.raises(ConfigurationError, match="no archive is configured"):
            Sweeper(store_auditor.store, policy).apply()
    later = wfaudit_clock.advance(days=1)
    report = sweeper(store_auditor, tmp_path).apply()
    assert not report.resumed and report.as_of >= later
    assert report.deleted == 1 and not present(store_auditor, snapshot_id)


def test_a_run_without_outcome_counts_from_its_last_update(
    store_auditor: Auditor, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    """`running` and `triggered` runs are kept 90 days from ``updated_on`` (the
    trigger, or the moment the run was reported running), as docs/retention.md says."""
    triggered = store_auditor.audit_trigger(
        TriggerRequest(workflow_id="wf-t", workflow_type="CI", pipeline_id="p", config={"a": 1})
    )
    running = store_auditor.audit_trigger(
        TriggerRequest(workflow_id="wf-r", workflow_type="CI", pipeline_id="p", config={"a": 2})
    )
    assert triggered.ref is not None and running.ref is not None
    wfaudit_clock.advance(days=10)
    store_auditor.record_outcome("wf-r", "CI", "running")
    sweep = sweeper(store_auditor, tmp_path)
    wfaudit_clock.advance(days=85)  # 95 days after the triggers, 85 after "running"
    items = plan(sweep)
    assert items[triggered.ref.id].action == Action.DELETE
    assert "triggered: 90d" in items[triggered.ref.id].reason
    assert items[running.ref.id].action == Action.KEEP
    wfaudit_clock.advance(days=6)
    assert plan(sweep)[running.ref.id].action == Action.DELETE


def test_an_archive_url_with_credentials_is_refused(tmp_path: pathlib.Path) -> None:
    from wfaudit.archive import open_archive
    from wfaudit.plugins import make_plugin_manager

    manager = make_plugin_manager([], load_entrypoints=False)
    for url in (
        "file://user:sekrit1@localhost/tmp/x",
        "s3://key:sekrit1@bucket/x",
        "s3://bucket/x?endpoint=http://key:sekrit1@127.0.0.1:1",
        "vault://cold?endpoint=https://key:sekrit1@vault.example",
    ):
        with pytest.raises(BadStoreURL, match="must not hold credentials") as raised:
            open_archive(url, manager)
        assert "sekrit1" not in str(raised.value)

    class Leaky(FileArchive):
        def __init__(self) -> None:
            super().__init__(tmp_path / "leaky")
            self.url = "https://user:sekrit1@archive.example/x"

    never_reached: Any = object()  # the archive is refused before the store is looked at
    with pytest.raises(ConfigurationError, match="holds credentials") as refused:
        Sweeper(never_reached, RetentionPolicy(), archive=Leaky())
    assert "sekrit1" not in str(refused.value)


@pytest.mark.wfaudit_backends("sqlite")
def test_retention_commands_end_quietly_on_a_closed_pipe(
    store_auditor: Auditor, store_url: str, tmp_path: pathlib.Path
) -> None:
    """`wfaudit retention plan | head`: no error, no traceback, status 0."""
    for number in range(500):
        store_auditor.audit_trigger(
            TriggerRequest(
                workflow_id=f"wf-{number}",
                workflow_type="CI",
                pipeline_id="pipe",
                config={"run": number},
            )
        )
    env = {**os.environ, "WFAUDIT_STORE_URL": store_url, "WFAUDIT_LOAD_PLUGINS": "sql"}
    for args in (
        ("retention", "plan", "--all", "--limit", "100000"),
        ("retention", "plan", "--all", "--json"),
    ):
        with subprocess.Popen(
            [sys.executable, "-m", "wfaudit", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            assert process.stdout.readline().strip()
            process.stdout.close()
            errors = process.stderr.read().decode()
            code = process.wait(timeout=120)
        assert (errors, code) == ("", 0), args


def test_restore_brings_back_the_same_snapshot(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    snapshot_id = run("wf-1", labels={"k": "v"})
    original = store_auditor.get_snapshot_by_id(snapshot_id)
    sweep = sweeper(store_auditor, tmp_path)
    wfaudit_clock.advance(days=31)
    sweep.apply()
    assert not present(store_auditor, snapshot_id)
    record = store_auditor.store.get_archive(snapshot_id)  # type: ignore[attr-defined]
    assert record is not None and not record.present

    result = sweep.restore(snapshot_id, by="ops")
    assert result.restored
    restored = store_auditor.get_snapshot_by_id(snapshot_id)
    assert restored == original
    assert restored.content_hash == original.content_hash
    assert kinds(store_auditor, snapshot_id)[-1] == EventKind.RESTORED
    assert not sweep.restore(snapshot_id).restored  # already back
    assert_verified(store_auditor)
    # A restored snapshot is kept a while (restored_keep) before it may go again.
    assert plan(sweep)[snapshot_id].action == Action.KEEP
    wfaudit_clock.advance(days=31)
    assert plan(sweep)[snapshot_id].action == Action.DELETE


def test_a_changed_archive_object_is_refused(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    snapshot_id = run("wf-1")
    sweep = sweeper(store_auditor, tmp_path)
    wfaudit_clock.advance(days=31)
    sweep.apply()
    record = store_auditor.store.get_archive(snapshot_id)  # type: ignore[attr-defined]
    path = tmp_path / "archive" / record.object_key
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(Exception, match="does not match the SHA-256"):
        sweep.restore(snapshot_id)
    assert not present(store_auditor, snapshot_id)


def _stuck_sweep(auditor: Auditor, archive: FileArchive, stuck: str) -> None:
    """A sweep that dies right after writing ``stuck``'s archive object (so no record
    names it), then a hold on ``stuck``, so that the resumed sweep never records it:
    the object is an orphan of this store."""

    def crash(kind: str, candidate: Any) -> None:
        if kind == "object-written" and candidate.id == stuck:
            raise RuntimeError("killed")

    sweep = Sweeper(auditor.store, RetentionPolicy(), archive=archive)
    with pytest.raises(RuntimeError, match="killed"):
        sweep.apply(on_step=crash)
    store: Any = auditor.store
    add_hold(store, scope=HoldScope.SNAPSHOT, target=stuck, tenant=None, reason=None, by="x")
    report = sweep.apply()
    assert report.resumed and report.archived == report.deleted == 1
    assert report.orphan_objects == 0  # the stuck object is fresh: not an orphan yet


def test_orphan_objects_of_another_store_are_left_alone(
    store_auditor: Auditor,
    run: Run,
    make_auditor: Callable[..., Auditor],
    wfaudit_clock: Clock,
    tmp_path: pathlib.Path,
) -> None:
    """Two stores share one archive (same directory, same prefix): each cleans up
    only its own orphans, and only once they are older than the grace period."""
    shared = FileArchive(tmp_path / "shared", fsync=False)
    gone = run("wf-gone")
    stuck = run("wf-stuck")
    other = make_auditor(url=f"sqlite:///{tmp_path / 'other.sqlite3'}", allow_unmasked=True)
    other_ids = []
    for number in range(2):
        result = other.audit_trigger(
            TriggerRequest(
                workflow_id=f"other-{number}",
                workflow_type="CI",
                pipeline_id="pipe-1",
                config={"other": number},
            )
        )
        assert result.ref is not None
        other.record_outcome(f"other-{number}", "CI", "succeeded")
        other_ids.append(result.ref.id)
    other_gone, other_stuck = other_ids
    wfaudit_clock.advance(days=31)
    _stuck_sweep(store_auditor, shared, stuck)
    _stuck_sweep(other, shared, other_stuck)
    records = {
        sid: auditor.store.get_archive(sid)  # type: ignore[attr-defined]
        for auditor, sid in ((store_auditor, gone), (other, other_gone))
    }
    assert all(record is not None and not record.present for record in records.values())
    keys = set(shared.iter_keys())
    assert len(keys) == 4  # two recorded objects, two orphans (one of each store)
    mine = next(key for key in keys if key.endswith(f"/{stuck}.wfa"))
    theirs = next(key for key in keys if key.endswith(f"/{other_stuck}.wfa"))
    # Under the layout, but no archive object (or not of the snapshot it names).
    junk = f"wfaudit/v1/-/pipe-1/2020/01/{stuck}.wfa"
    shared.put(junk, b"not an archive object")
    shared.put("unrelated/file.txt", b"left alone")
    sweep = Sweeper(store_auditor.store, RetentionPolicy(), archive=shared)

    # Within the grace period nothing is an orphan, not even this store's.
    assert sweep.clean_orphans()["orphan_objects"] == 0
    assert set(shared.iter_keys()) == keys | {junk, "unrelated/file.txt"}

    wfaudit_clock.advance(days=2)  # past orphan_grace (1 day)
    assert sweep.clean_orphans()["orphan_objects"] == 1
    assert set(shared.iter_keys()) == (keys - {mine}) | {junk, "unrelated/file.txt"}
    # The other store's objects, recorded or not, were not this store's to delete.
    other_sweep = Sweeper(other.store, RetentionPolicy(), archive=shared)
    assert other_sweep.restore(other_gone).restored
    assert other_sweep.clean_orphans()["orphan_objects"] == 1
    assert shared.size(theirs) is None and shared.size(junk) is not None
    assert sweep.restore(gone).restored
    assert_verified(store_auditor)
    assert_verified(other)


def test_orphan_grace_is_a_setting() -> None:
    assert RetentionPolicy().orphan_grace == dt.timedelta(days=1)
    assert RetentionPolicy.from_options({"orphan_grace": "12h"}).orphan_grace == dt.timedelta(
        hours=12
    )
    with pytest.raises(ConfigurationError, match="orphan_grace must be a period"):
        RetentionPolicy.from_options({"orphan_grace": "forever"})


def test_orphan_blobs_and_manifests_are_cleaned(
    store_auditor: Auditor, run: Run, store_url: str, tmp_path: pathlib.Path
) -> None:
    """Blobs and manifests nothing uses (left by a crash, say) go; used ones stay:
    a snapshot's blob, the base of a snapshot's delta, a named manifest."""
    import sqlalchemy as sa

    from wfaudit import codec
    from wfaudit_sql.manifests import encode, manifest_hash
    from wfaudit_sql.schema import blobs, manifests

    kept = [run(f"wf-{number}") for number in range(3)]
    store: Any = store_auditor.store
    before = store.stats()

    def blob(text: bytes, base: tuple[str, bytes] | None = None) -> dict[str, Any]:
        name, data = codec.compress(text, 3)
        return {
            "content_hash": content_hash(text),
            "codec": name,
            "raw_size": len(text),
            "stored_size": len(data),
            "data": data,
            "created_on": dt.datetime.now(dt.UTC),
            "base_hash": None if base is None else base[0],
        }

    plain = blob(b'{"orphan":"plain"}')
    base = blob(b'{"orphan":"base"}')
    # A "delta" whose base nothing else needs: once it goes, its base is an orphan.
    delta = blob(b'{"orphan":"delta"}', base=(base["content_hash"], b""))
    text = '[{"path":"/orphan","rule":"test"}]'
    manifest_codec, manifest_data = encode(text)
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(blobs), [plain, base, delta])
            connection.execute(
                sa.insert(manifests).values(
                    manifest_hash=manifest_hash(text),
                    codec=manifest_codec,
                    raw_size=len(text),
                    data=manifest_data,
                    created_on=dt.datetime.now(dt.UTC),
                )
            )
            manifest_rows = connection.execute(sa.select(sa.func.count()).select_from(manifests))
            manifests_before = int(manifest_rows.scalar_one())
    finally:
        engine.dispose()
    assert set(store.orphan_blobs()) == {plain["content_hash"], delta["content_hash"]}

    counts = sweeper(store_auditor, tmp_path).clean_orphans()
    assert counts["orphan_blobs"] == 3  # the delta's base too, once the delta went
    assert counts["orphan_manifests"] == 1
    assert list(store.orphan_blobs()) == []
    assert store.stats().blobs == before.blobs
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(sa.func.count()).select_from(manifests))
            assert int(rows.scalar_one()) == manifests_before - 1
    finally:
        engine.dispose()
    for snapshot_id in kept:  # every snapshot still reads whole
        assert store_auditor.get_snapshot_by_id(snapshot_id).config["run"]
    assert sweeper(store_auditor, tmp_path).clean_orphans() == Counter()
    assert_verified(store_auditor)


def test_two_sweepers_do_not_collide(store_url: str, store_auditor: Auditor) -> None:
    from wfaudit_sql import SqlStore

    with SqlStore(store_url) as other:
        first: Any = store_auditor.store
        with (
            first.sweep_lock(owner="first"),
            pytest.raises(SweepBusy, match="another retention sweep"),
            other.sweep_lock(owner="second"),
        ):
            pass
        with other.sweep_lock(owner="second"):
            pass


def test_hook_wfaudit_open_archive(tmp_path: pathlib.Path) -> None:
    from wfaudit import hookimpl
    from wfaudit.archive import open_archive
    from wfaudit.plugins import make_plugin_manager
    from wfaudit_hookspecs import BadStoreURL

    opened: list[str] = []

    class VaultArchive:
        @hookimpl
        def wfaudit_open_archive(self, url: str) -> FileArchive | None:
            if not url.startswith("vault://"):
                return None
            opened.append(url)
            return FileArchive(tmp_path / url.removeprefix("vault://"))

    manager = make_plugin_manager([VaultArchive()], load_entrypoints=False)
    archive = open_archive("vault://cold", manager)
    assert isinstance(archive, FileArchive) and archive.root == tmp_path / "cold"
    assert opened == ["vault://cold"]
    # file:// is the engine's own; a scheme nobody owns is a clear error.
    assert isinstance(open_archive(f"file://{tmp_path}/x", manager), FileArchive)
    with pytest.raises(BadStoreURL, match="no plugin opens archive URLs of scheme 'gs'"):
        open_archive("gs://bucket", manager)


def test_observers_hear_of_archives_deletions_and_restores(
    make_auditor: Callable[..., Auditor],
    wfaudit_clock: Clock,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wfaudit import hookimpl

    heard: list[tuple[str, str, dict[str, Any]]] = []

    class Observer:
        @hookimpl
        def wfaudit_event(self, kind: str, snapshot: Any, data: Any) -> None:
            heard.append((kind, snapshot.id, dict(data)))

    monkeypatch.setenv("WFAUDIT_ARCHIVE_URL", (tmp_path / "archive").as_uri())
    auditor = make_auditor(Observer(), strict=True, allow_unmasked=True)
    result = auditor.audit_trigger(
        TriggerRequest(workflow_id="wf-1", workflow_type="CI", pipeline_id="p", config={"a": 1})
    )
    assert result.ref is not None
    snapshot_id = result.ref.id
    auditor.record_outcome("wf-1", "CI", "succeeded")
    sweep = Sweeper.for_auditor(auditor)
    assert sweep.archive is not None and sweep.archive.url == (tmp_path / "archive").as_uri()
    wfaudit_clock.advance(days=31)
    heard.clear()
    sweep.apply()
    assert [(kind, sid) for kind, sid, _ in heard] == [
        (EventKind.ARCHIVED, snapshot_id),
        (EventKind.DELETED, snapshot_id),
    ]
    assert heard[0][2]["object_key"].endswith(f"/{snapshot_id}.wfa")
    assert "succeeded: 30d" in heard[1][2]["policy"]
    sweep.restore(snapshot_id)
    assert heard[-1][:2] == (EventKind.RESTORED, snapshot_id)
    sweep.close()
