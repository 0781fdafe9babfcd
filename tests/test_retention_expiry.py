"""Archive expiry, archive metadata and scheduled retention runs, on a real store
(SQLite and PostgreSQL) with a local-directory archive and a controllable clock.

Archive records carry a retention date and its reason (``ttl``, ``policy``,
``manual``); the expiry sweep deletes the objects past their date, never one a
legal hold covers nor one whose snapshot is in the store, reports the bytes
freed, and with ``dry_run`` writes nothing. ``wfaudit verify`` passes after
every step: an expiry is an ``archive.expired`` event, never an edit.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from wfaudit import Auditor
from wfaudit.archive import FileArchive
from wfaudit.cli import cli
from wfaudit.retention import (
    DEFAULT_KEEP,
    ArchiveAction,
    RetentionPolicy,
    RetentionRule,
    Sweeper,
    add_hold,
    expire_archive,
    parse_every,
    release_hold,
    run_every,
)
from wfaudit.retention_cli import ARCHIVE_FILTER_FIELDS, BUSY_EXIT
from wfaudit.testing.clock import Clock
from wfaudit.verify import verify
from wfaudit_hookspecs import (
    ConfigurationError,
    EventKind,
    HistoryQuery,
    InvalidRequest,
    SnapshotNotFound,
    TriggerRequest,
)
from wfaudit_hookspecs.retention import ArchiveFilter, ArchiveRetention, HoldScope, SweepBusy

DAY = dt.timedelta(days=1)
Run = Callable[..., str]


@pytest.fixture
def store_auditor(make_auditor: Callable[..., Auditor]) -> Auditor:
    return make_auditor(strict=True, allow_unmasked=True)


@pytest.fixture
def run(store_auditor: Auditor, wfaudit_clock: Clock) -> Run:
    """Audit one trigger, report it running five minutes later and its outcome after
    ``took``; returns the snapshot id."""

    def make(
        workflow_id: str,
        status: str = "succeeded",
        *,
        pipeline: str = "pipe-1",
        workflow_type: str = "CI",
        labels: dict[str, str] | None = None,
        took: dt.timedelta = dt.timedelta(minutes=12),
        running: bool = True,
    ) -> str:
        result = store_auditor.audit_trigger(
            TriggerRequest(
                workflow_id=workflow_id,
                workflow_type=workflow_type,
                pipeline_id=pipeline,
                config={"image": "registry/app:1", "run": workflow_id},
                labels=labels or {},
            )
        )
        assert result.ok and result.ref is not None
        if running:
            wfaudit_clock.advance(minutes=5)
            store_auditor.record_outcome(workflow_id, workflow_type, "running")
        wfaudit_clock.advance(took)
        store_auditor.record_outcome(workflow_id, workflow_type, status)
        return result.ref.id

    return make


def policy_of(succeeded: dt.timedelta | None = None, **policy: Any) -> RetentionPolicy:
    if succeeded is not None:
        policy["by_status"] = {**DEFAULT_KEEP, "succeeded": succeeded}
    return RetentionPolicy(**policy)


def sweeper(auditor: Auditor, archive: pathlib.Path, **policy: Any) -> Sweeper:
    return Sweeper(auditor.store, policy_of(**policy), archive=FileArchive(archive, fsync=False))


def assert_verified(auditor: Auditor) -> None:
    report = verify(auditor)
    assert report.ok, report.findings


def archives(auditor: Auditor) -> dict[str, Any]:
    return {record.snapshot_id: record for record in auditor.store.iter_archives()}  # type: ignore[attr-defined]


def test_archive_records_carry_run_times_dates_and_reasons(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    plain = run("1", took=dt.timedelta(minutes=12))
    secure = run("2", "failed", labels={"category": "security"}, took=dt.timedelta(hours=2))
    never_ran = run("3", "cancelled", running=False, took=dt.timedelta(minutes=1))
    sweep = sweeper(
        store_auditor,
        tmp_path / "archive",
        archive_keep=60 * DAY,
        rules=(RetentionRule.of("category=security", "10d", archive_keep="2y"),),
    )
    wfaudit_clock.advance(days=100)
    report = sweep.apply()
    assert report.archived == report.deleted == 3
    records = archives(store_auditor)

    first = records[plain]
    assert first.retention_reason == ArchiveRetention.TTL
    assert first.expires_on == first.archived_on + 60 * DAY
    assert first.started_on is not None and first.finished_on is not None
    assert first.duration_seconds == pytest.approx(12 * 60, abs=1)
    assert first.started_on - first.created_on == pytest.approx(
        dt.timedelta(minutes=5), abs=DAY / 86400
    )
    assert first.labels == {}

    held = records[secure]
    assert held.retention_reason == ArchiveRetention.POLICY
    assert held.expires_on == held.archived_on + 2 * 365 * DAY
    assert held.duration_seconds == pytest.approx(2 * 3600, abs=1)
    assert held.labels == {"category": "security"}
    # A run never reported running started, as far as anyone knows, at its trigger.
    third = records[never_ran]
    assert third.started_on == third.created_on and third.status == "cancelled"
    assert third.duration_seconds == pytest.approx(60, abs=1)
    # The archived event says so too (the trail outlives the record).
    event = next(
        e for e in store_auditor.store.list_events(subject=plain) if e.kind == EventKind.ARCHIVED
    )
    assert event.data["retention_reason"] == "ttl" and event.data["expires_on"]
    assert_verified(store_auditor)


def test_expiry_frees_what_is_past_its_date_never_what_is_held(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    ids = [run(str(n), labels={"case": "4711"} if n == 0 else {}) for n in range(5)]
    root = tmp_path / "archive"
    sweep = sweeper(store_auditor, root, archive_keep=30 * DAY, succeeded=10 * DAY)
    wfaudit_clock.advance(days=11)
    assert sweep.apply().deleted == 5
    store = store_auditor.store
    hold = add_hold(
        store, scope=HoldScope.SELECTOR, target="case=4711", tenant=None, reason="LIT-1", by="legal"
    )
    records = archives(store_auditor)
    objects = {sid: root / records[sid].object_key for sid in ids}
    assert all(path.exists() for path in objects.values())

    # Not due yet: nothing happens, nothing is reported as due.
    early = sweep.expire(dry_run=True)
    assert (early.examined, early.expired, early.kept) == (5, 0, 5)

    wfaudit_clock.advance(days=31)
    dry = sweep.expire(dry_run=True)
    due_bytes = sum(records[sid].object_size for sid in ids[1:])
    assert (dry.expired, dry.held, dry.bytes_freed) == (4, 1, due_bytes)
    assert {item.snapshot_id: item.action for item in dry.items} == {
        ids[0]: ArchiveAction.HOLD,
        **dict.fromkeys(ids[1:], ArchiveAction.EXPIRE),
    }
    assert all(path.exists() for path in objects.values())  # a dry run deletes nothing
    assert len(archives(store_auditor)) == 5

    done = sweep.expire()
    assert (done.expired, done.held, done.bytes_freed) == (4, 1, due_bytes)
    assert [sid for sid, path in objects.items() if path.exists()] == [ids[0]]
    assert list(archives(store_auditor)) == [ids[0]]
    expired = [e for e in store.list_events(subject=ids[1]) if e.kind == EventKind.ARCHIVE_EXPIRED]
    assert len(expired) == 1 and expired[0].data["object_size"] == records[ids[1]].object_size
    assert_verified(store_auditor)
    # An expired archive is gone for good: nothing to restore, nothing to list.
    with pytest.raises(SnapshotNotFound, match="no archive record"):
        sweep.restore(ids[1])
    # The cleanup does not take the held object for an orphan, nor revive the others.
    assert sweep.clean_orphans()["orphan_objects"] == 0

    # Released, the held archive expires at the next sweep.
    release_hold(store, hold.id, tenant=None, reason="closed", by="legal")
    assert sweep.expire().expired == 1
    assert not objects[ids[0]].exists() and archives(store_auditor) == {}
    assert_verified(store_auditor)


def test_an_archive_outlives_nothing_while_its_snapshot_is_in_the_store(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    """A rule archives at once; the archive's date passes while the snapshot is still
    kept in the store: the archive stays (expiring it would only be re-archived)."""
    sid = run("1", labels={"tier": "gold"})
    sweep = sweeper(
        store_auditor,
        tmp_path / "archive",
        archive_keep=5 * DAY,
        rules=(RetentionRule.of("tier=gold", "60d", archive="immediately"),),
    )
    assert sweep.apply().archived == 1
    wfaudit_clock.advance(days=10)
    report = sweep.expire()
    assert (report.expired, report.in_store) == (0, 1)
    assert report.items[0].action == ArchiveAction.IN_STORE
    wfaudit_clock.advance(days=55)
    assert sweep.apply().deleted == 1
    assert sweep.expire().expired == 1
    assert sid not in archives(store_auditor)
    assert_verified(store_auditor)


def test_manual_dates_stay_and_policy_dates_follow_the_policy(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    first, second = run("1"), run("2")
    root = tmp_path / "archive"
    sweep = sweeper(store_auditor, root, archive_keep=30 * DAY, succeeded=DAY)
    wfaudit_clock.advance(days=2)
    sweep.apply()
    until = wfaudit_clock.now + 400 * DAY
    kept = sweep.keep_archive(first, until=until, note="audit 2027", by="ops")
    assert (kept.expires_on, kept.retention_reason) == (until, ArchiveRetention.MANUAL)
    change = [
        e
        for e in store_auditor.store.list_events(subject=first)
        if e.kind == EventKind.ARCHIVE_RETENTION_SET
    ]
    assert change[0].actor == "ops" and change[0].data["note"] == "audit 2027"

    # The policy changes: the policy's dates follow it at the next sweep, a manual one stays.
    longer = sweeper(store_auditor, root, archive_keep=90 * DAY, succeeded=DAY)
    wfaudit_clock.advance(days=40)
    report = longer.expire()
    assert (report.expired, report.dated) == (0, 1)
    records = archives(store_auditor)
    assert records[second].expires_on == records[second].archived_on + 90 * DAY
    assert records[first].expires_on == until
    # Given back to the policy, it gets the policy's date and reason.
    back = longer.keep_archive(first)
    assert back.retention_reason == ArchiveRetention.TTL
    assert back.expires_on == back.archived_on + 90 * DAY
    forever = longer.keep_archive(second, forever=True)
    assert (forever.expires_on, forever.retention_reason) == (None, "manual")
    wfaudit_clock.advance(days=400)
    report = longer.expire()
    assert (report.expired, report.kept) == (1, 1)
    assert list(archives(store_auditor)) == [second]
    with pytest.raises(InvalidRequest, match="not both"):
        longer.keep_archive(second, until=until, forever=True)
    with pytest.raises(SnapshotNotFound):
        longer.keep_archive(first)
    assert_verified(store_auditor)


def test_policy_archive_keep_settings() -> None:
    policy = RetentionPolicy.from_options(
        {
            "archive_keep": "1y",
            "rules": [{"selector": "a=b", "keep": "1d", "archive_keep": "forever"}],
        }
    )
    assert policy.archive_keep == 365 * DAY
    assert policy.rules[0].archive_keep is None and policy.rules[0].archive_keep_set
    assert RetentionPolicy.from_options({}).archive_keep is None  # default: kept forever
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert policy.archive_verdict({"a": "b"}, when).expires_on is None
    assert policy.archive_verdict({}, when).expires_on == when + 365 * DAY
    with pytest.raises(ConfigurationError, match="archive_keep"):
        RetentionPolicy.from_options({"archive_keep": "soon"})


def test_every_period() -> None:
    assert parse_every("1h") == dt.timedelta(hours=1)
    assert parse_every("15m") == dt.timedelta(minutes=15)
    for bad in ("1x", "30s", "hourly", ""):
        with pytest.raises(ConfigurationError):
            parse_every(bad)


# -- log --archived: every filter of log, and paging -----------------------------------------


def invoke(store_url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--store", store_url, *args])
    assert result.exit_code == code, result.output
    return result.output


def test_every_log_filter_has_a_place_in_an_archive_listing() -> None:
    """The class of #22's bug: an archive listing that ignores a filter of ``log``."""
    assert set(ARCHIVE_FILTER_FIELDS) == {field.name for field in attrs.fields(HistoryQuery)}
    assert {"pipeline_id", "workflow_id", "workflow_type", "status", "labels", "since"} <= {
        field.name for field in attrs.fields(ArchiveFilter)
    }


def test_log_archived_honours_every_filter_and_pages(
    store_auditor: Auditor,
    run: Run,
    wfaudit_clock: Clock,
    tmp_path: pathlib.Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wfaudit_clock.set(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    ids = {
        "ok": run("1", "succeeded", labels={"env": "prod"}),
        "bad": run("2", "failed", labels={"env": "prod"}),
        "cd": run("3", "failed", workflow_type="PRE_CD", pipeline="pipe-2"),
    }
    wfaudit_clock.set(dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    ids["late"] = run("4", "succeeded", labels={"env": "dev"})
    wfaudit_clock.set(dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
    sweep = sweeper(store_auditor, tmp_path / "archive")
    assert sweep.apply().deleted == 4
    monkeypatch.setenv("WFAUDIT_ARCHIVE_URL", (tmp_path / "archive").as_uri())

    def listed(*args: str) -> list[str]:
        rows = json.loads(invoke(store_url, "log", "--archived", "--json", *args))
        return sorted(row["snapshot_id"] for row in rows)

    assert listed() == sorted(ids.values())
    # The bug of the issue: a succeeded run listed under --status failed.
    assert listed("--status", "failed") == sorted([ids["bad"], ids["cd"]])
    assert listed("--label", "env=prod") == sorted([ids["ok"], ids["bad"]])
    assert listed("--label", "env=prod", "--status", "succeeded") == [ids["ok"]]
    assert listed("--since", "2026-03-05") == [ids["late"]]
    assert listed("--until", "2026-03-05") == sorted([ids["ok"], ids["bad"], ids["cd"]])
    assert listed("--type", "pre_cd") == [ids["cd"]]
    assert listed("--pipeline", "pipe-2") == [ids["cd"]]
    assert listed("--workflow-id", "4") == [ids["late"]]

    # Paging: --limit and --before (the last id of the previous page), as live log.
    pages: list[str] = []
    before: list[str] = []
    while True:
        rows = json.loads(invoke(store_url, "log", "--archived", "--json", "--limit", "3", *before))
        pages.extend(row["snapshot_id"] for row in rows)
        if len(rows) < 3:
            break
        before = ["--before", rows[-1]["snapshot_id"]]
    assert sorted(pages) == sorted(ids.values()) and len(pages) == 4
    text = invoke(store_url, "log", "--archived", "--limit", "3")
    assert "more: wfaudit log --archived ... --before" in text
    assert "no archived snapshot" in invoke(
        store_url, "log", "--archived", "--before", "nope", code=1
    )

    # The metadata: started, finished, duration, retention date.
    row = json.loads(invoke(store_url, "log", "--archived", "--json", "--workflow-id", "1"))[0]
    assert row["duration_seconds"] == pytest.approx(12 * 60, abs=1)
    assert row["started_on"] and row["finished_on"] and row["retention_reason"] == "ttl"
    assert row["expires_on"] is None  # no archive_keep: kept indefinitely


# -- stats by workflow type ---------------------------------------------------------------


def test_stats_count_by_workflow_type(
    store_auditor: Auditor, run: Run, store_url: str, tmp_path: pathlib.Path
) -> None:
    run("1")
    run("2", workflow_type="PRE_CD")
    run("3", workflow_type="POST_CD")
    run("4", workflow_type="POST_CD")
    data = json.loads(invoke(store_url, "stats", "--json"))
    assert data["by_workflow_type"] == {"CI": 1, "POST_CD": 2, "PRE_CD": 1}
    assert data["archive"] == {"objects": 0, "bytes": 0}
    assert data["retention_last_success"] is None
    text = invoke(store_url, "stats")
    assert "by type:" in text and "POST_CD:" in text and "last sweep:    never" in text


# -- scheduled runs -------------------------------------------------------------------------


def test_a_cycle_is_recorded_and_two_never_overlap(
    store_auditor: Auditor,
    run: Run,
    wfaudit_clock: Clock,
    tmp_path: pathlib.Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run("1")
    root = tmp_path / "archive"
    monkeypatch.setenv("WFAUDIT_ARCHIVE_URL", root.as_uri())
    sweep = sweeper(store_auditor, root)
    wfaudit_clock.advance(days=31)  # past the default 30 days of a success
    with store_auditor.store.sweep_lock(owner="someone else"):  # type: ignore[attr-defined]
        with pytest.raises(SweepBusy):
            sweep.run_cycle()
        # The command line says so and exits 75 (EX_TEMPFAIL): nothing ran.
        result = CliRunner().invoke(cli, ["--store", store_url, "retention", "run", "--once"])
        assert result.exit_code == BUSY_EXIT, result.output
        assert "another retention sweep is running" in result.output
        assert "this run is skipped" in result.output
        # A runner on a schedule skips the cycle and goes on.
        told: list[str] = []
        ran = run_every(
            sweep,
            dt.timedelta(hours=1),
            cycles=2,
            sleep=lambda seconds: wfaudit_clock.advance(seconds=seconds) and None,
            on_busy=lambda error, next_at: told.append(f"{error} {next_at}"),
        )
        assert ran == 0 and len(told) == 2
    assert store_auditor.store.last_run() is None  # type: ignore[attr-defined]

    out = invoke(store_url, "retention", "run", "--once")
    assert "ok: archived 1, deleted 1" in out
    last = store_auditor.store.last_run()  # type: ignore[attr-defined]
    assert last is not None and last.ok and last.counts["deleted"] == 1
    data = json.loads(invoke(store_url, "stats", "--json"))
    assert data["retention_last_success"] == last.finished_on.isoformat()
    assert data["archive"]["objects"] == 1

    lines = invoke(store_url, "retention", "run", "--every", "1m", "--cycles", "1", "--json")
    cycle = json.loads(lines.splitlines()[0])
    assert cycle["ok"] is True and cycle["counts"]["deleted"] == 0
    assert "give one of --every PERIOD or --once" in invoke(
        store_url, "retention", "run", "--once", "--every", "1h", code=1
    )


def test_a_failed_cycle_is_recorded_and_told(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    run("1")
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the archive should be")
    told: list[Any] = []
    sweep = Sweeper(
        store_auditor.store,
        policy_of(succeeded=DAY),
        archive=FileArchive(blocked, fsync=False),
        on_run=told.append,
    )
    wfaudit_clock.advance(days=2)
    result = sweep.run_cycle()
    assert not result.run.ok and "could not be handled" in (result.run.error or "")
    assert told == [result.run]
    failed = store_auditor.store.last_run(ok=False)  # type: ignore[attr-defined]
    assert failed is not None and failed.id == result.run.id and failed.counts["failed"] == 1
    assert store_auditor.store.last_run() is None  # type: ignore[attr-defined]
    # No archive at all where the policy needs one: failed, said why, nothing swept.
    bare = Sweeper(store_auditor.store, policy_of(succeeded=DAY), on_run=told.append)
    result = bare.run_cycle()
    assert not result.run.ok and "no archive is configured" in (result.run.error or "")
    assert store_auditor.store.get_record_by_id(result.run.id) is None


# -- revision 0009 carries existing stores forward ----------------------------------------


def test_migration_0009_carries_archives_forward(
    make_auditor: Callable[..., Auditor],
    wfaudit_clock: Clock,
    store_url: str,
    tmp_path: pathlib.Path,
) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from wfaudit_sql.migrate import HEAD_REVISION, MIGRATIONS_DIR
    from wfaudit_sql.urls import parse_store_url

    def alembic(action: str, revision: str) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)

    root = tmp_path / "archive"
    auditor = make_auditor(strict=True, allow_unmasked=True)
    ids = {}
    for name, labels in (("gone", {"case": "7"}), ("kept", {"tier": "gold"})):
        ids[name] = auditor.audit_trigger(
            TriggerRequest(
                workflow_id=name,
                workflow_type="CI",
                pipeline_id="p",
                config={"run": name},
                labels=labels,
            )
        ).ref.id  # type: ignore[union-attr]
        wfaudit_clock.advance(minutes=3)
        auditor.record_outcome(name, "CI", "running")
        wfaudit_clock.advance(minutes=7)
        auditor.record_outcome(name, "CI", "failed")
    rules = (RetentionRule.of("tier=gold", "1y", archive="immediately"),)
    wfaudit_clock.advance(days=100)
    assert sweeper(auditor, root, rules=rules).apply().archived == 2
    auditor.close()

    engine = create_engine(parse_store_url(store_url).url)
    try:
        alembic("downgrade", "0008_keyid")
        alembic("upgrade", HEAD_REVISION)
        with engine.connect() as connection:
            rows = {
                row.snapshot_id: row
                for row in connection.execute(
                    text(
                        "SELECT snapshot_id, labels, started_on, finished_on, expires_on, "
                        "retention_reason FROM archives"
                    )
                )
            }
    finally:
        engine.dispose()
    # Labels from the row still stored; none for the deleted snapshot (yet).
    assert json.loads(rows[ids["kept"]].labels) == {"tier": "gold"}
    assert rows[ids["gone"]].labels is None
    # Run times from the trail, for both; no retention date until a sweep gives one.
    for row in rows.values():
        assert row.started_on is not None and row.finished_on is not None
        assert row.expires_on is None and row.retention_reason is None

    auditor = make_auditor(strict=True, allow_unmasked=True)
    records = archives(auditor)
    assert records[ids["gone"]].duration_seconds == pytest.approx(7 * 60, abs=1)
    gone = records[ids["gone"]]
    assert abs(gone.started_on - gone.created_on - dt.timedelta(minutes=3)) < dt.timedelta(
        seconds=1
    )
    assert_verified(auditor)
    # The first expiry sweep dates them from the policy, and learns the deleted
    # snapshot's labels from its archive object (a hold by selector then covers it).
    add_hold(
        auditor.store,
        scope=HoldScope.SELECTOR,
        target="case=7",
        tenant=None,
        reason="x",
        by="legal",
    )
    sweep = sweeper(auditor, root, rules=rules, archive_keep=30 * DAY)
    wfaudit_clock.advance(days=31)
    report = sweep.expire()
    assert (report.dated, report.held, report.in_store, report.expired) == (2, 1, 1, 0)
    records = archives(auditor)
    assert records[ids["gone"]].labels == {"case": "7"}
    assert records[ids["gone"]].retention_reason == ArchiveRetention.TTL
    assert records[ids["gone"]].expires_on == records[ids["gone"]].archived_on + 30 * DAY
    assert_verified(auditor)


def test_hook_wfaudit_retention_run(
    make_auditor: Callable[..., Auditor], wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    """Every observer hears of each cycle, failed or not; one that raises silences none."""
    from wfaudit import hookimpl

    heard: list[Any] = []

    class Broken:
        @hookimpl
        def wfaudit_retention_run(self, run: Any, settings: Any) -> None:
            raise RuntimeError("an observer's bug")

    class Listener:
        @hookimpl
        def wfaudit_retention_run(self, run: Any, settings: Any) -> None:
            heard.append((run.id, run.ok, run.error, dict(settings)))

    auditor = make_auditor(Listener(), Broken(), strict=True, allow_unmasked=True)
    sweep = Sweeper.for_auditor(auditor)  # no archive configured: the policy needs one
    failed = sweep.run_cycle().run
    assert heard[-1][:3] == (failed.id, False, failed.error)
    assert "no archive is configured" in (failed.error or "")
    fine = Sweeper(
        auditor.store,
        RetentionPolicy(),
        archive=FileArchive(tmp_path / "archive", fsync=False),
        on_run=auditor.notify_retention_run,
    ).run_cycle()
    assert heard[-1][:3] == (fine.run.id, True, None) and len(heard) == 2


def test_a_store_that_cannot_be_locked_fails_the_cycle_and_is_told(
    store_url: str, tmp_path: pathlib.Path
) -> None:
    """The store is down when the cycle starts: nothing can be recorded, but the
    observers (the webhook) still hear of the failed cycle."""
    from contextlib import AbstractContextManager

    from wfaudit_hookspecs import StoreUnavailable
    from wfaudit_sql import SqlStore

    class Unreachable(SqlStore):
        def sweep_lock(self, *, owner: str) -> AbstractContextManager[None]:
            raise StoreUnavailable(f"the store at {self.url} does not answer")

    told: list[Any] = []
    with Unreachable(store_url) as store:
        sweep = Sweeper(
            store,
            RetentionPolicy(),
            archive=FileArchive(tmp_path / "archive", fsync=False),
            on_run=told.append,
        )
        result = sweep.run_cycle()
        assert not result.run.ok and "does not answer" in (result.run.error or "")
        assert result.run.finished_on is not None and told == [result.run]
        assert store.last_run(ok=None) is None  # nothing could be recorded


def test_the_expire_and_keep_commands(
    store_auditor: Auditor,
    run: Run,
    wfaudit_clock: Clock,
    tmp_path: pathlib.Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = run("1"), run("2")
    root = tmp_path / "archive"
    settings = tmp_path / "wfaudit.toml"
    settings.write_text(
        f'[retention]\narchive_url = "{root.as_uri()}"\nsucceeded = "1d"\narchive_keep = "10d"\n'
    )
    monkeypatch.setenv("WFAUDIT_CONFIG", str(settings))
    wfaudit_clock.advance(days=2)
    assert "deleted 2" in invoke(store_url, "retention", "apply")

    out = invoke(store_url, "retention", "keep", first, "--until", "2030-01-01", "--reason", "x")
    assert out.strip() == f"archive of {first} kept until 2030-01-01 00:00 UTC (manual)"
    data = json.loads(invoke(store_url, "retention", "keep", second, "--forever", "--json"))
    assert data["expires_on"] is None and data["retention_reason"] == "manual"
    out = invoke(store_url, "retention", "keep", second, "--policy")
    assert out.strip().endswith("(ttl)") and "kept until" in out
    assert "give one of --until TIME, --forever or --policy" in invoke(
        store_url, "retention", "keep", second, code=1
    )
    assert "has no archive record" in invoke(
        store_url, "retention", "keep", "nope", "--forever", code=1
    )

    wfaudit_clock.advance(days=11)
    dry = invoke(store_url, "retention", "expire", "--dry-run")
    assert "would expire 1 archive object, would free" in dry and second in dry
    assert (root / archives(store_auditor)[second].object_key).exists()
    report = json.loads(invoke(store_url, "retention", "expire", "--json"))
    assert (report["expired"], report["kept"], report["dry_run"]) == (1, 1, False)
    assert report["items"][0]["snapshot_id"] == second
    assert list(archives(store_auditor)) == [first]
    assert_verified(store_auditor)


def test_the_store_checks_holds_and_the_snapshot_again_when_expiring(
    store_auditor: Auditor, run: Run, wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    """A hold placed (or a restore done) after the sweep judged the record still wins:
    the store checks both in the transaction that would expire it."""
    held, restored, changed = run("1", pipeline="legal"), run("2"), run("3")
    sweep = sweeper(store_auditor, tmp_path / "archive", succeeded=DAY)
    wfaudit_clock.advance(days=2)
    assert sweep.apply().deleted == 3
    store: Any = store_auditor.store
    records = archives(store_auditor)
    hold = add_hold(
        store, scope=HoldScope.PIPELINE, target="legal", tenant=None, reason=None, by=None
    )
    assert sweep.restore(restored).restored

    def expire(sid: str, key: str | None = None) -> str | None:
        return expire_archive(
            store, sid, object_key=key or records[sid].object_key, by="t", data={}
        )

    assert expire(held) == f"legal hold {hold.id}"
    assert expire(restored) == "the snapshot is in the store"
    assert expire(changed, "another/key.wfa") == "its archive record changed"
    assert set(archives(store_auditor)) == {held, restored, changed}
    assert expire(changed) is None
    assert set(archives(store_auditor)) == {held, restored}
    # Its object is now one no record names: an orphan, once the grace has passed.
    wfaudit_clock.advance(days=2)
    assert sweep.clean_orphans()["orphan_objects"] == 1
    assert not (tmp_path / "archive" / records[changed].object_key).exists()
    assert_verified(store_auditor)


HOLDER = """
import sys, time
from wfaudit_sql import SqlStore
with SqlStore(sys.argv[1]) as store:
    with store.sweep_lock(owner="another runner"):
        print("locked", flush=True)
        time.sleep(120)
"""


def test_a_second_runner_process_skips_and_says_so(
    store_auditor: Auditor, store_url: str, tmp_path: pathlib.Path
) -> None:
    """Two processes: one holds the sweep lock (a running cycle, an apply); the
    command run by cron in another exits 75 with one line, and runs once it is free."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "WFAUDIT_STORE_URL": store_url,
        "WFAUDIT_ARCHIVE_URL": (tmp_path / "archive").as_uri(),
        "WFAUDIT_LOAD_PLUGINS": "sql",
    }
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store_url], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        skipped = subprocess.run(
            [sys.executable, "-m", "wfaudit", "retention", "run", "--once"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert skipped.returncode == BUSY_EXIT, skipped.stderr
        assert skipped.stdout == ""
        assert skipped.stderr.count("\n") == 1 and "this run is skipped" in skipped.stderr
        assert "Traceback" not in skipped.stderr
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # The holder died without releasing: the server (PostgreSQL) or the next taker
    # (SQLite: its process is gone) frees the lock.
    done = subprocess.run(
        [sys.executable, "-m", "wfaudit", "retention", "run", "--once"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert " ok: " in done.stdout
