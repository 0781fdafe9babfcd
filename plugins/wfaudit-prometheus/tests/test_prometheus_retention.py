"""Retention run unattended: a simulated month on a real store (SQLite and
PostgreSQL) with daily traffic and legal holds, swept every six hours by the
scheduler, ending with the store and the archive within policy, holds
respected, and the metrics and the shipped alert rules as documented.

The alert rules are evaluated here, without a Prometheus server: each rule's
expression has the documented form ``METRIC > N`` or ``time() - METRIC > N``,
and is evaluated against the values the exporter's registry gives at the
simulated time.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from wfaudit import (
    DEFAULT_KEEP,
    Action,
    ArchiveAction,
    Auditor,
    FileArchive,
    RetentionPolicy,
    RetentionRule,
    Sweeper,
    add_hold,
    release_hold,
    run_every,
    verify_store,
)
from wfaudit.testing.clock import Clock
from wfaudit_hookspecs import EventKind, TriggerRequest
from wfaudit_hookspecs.retention import HoldScope
from wfaudit_prometheus import REGISTRY, RULES_FILE, make_registry

from .conftest import parse

DAY = dt.timedelta(days=1)
EXPRESSION = re.compile(r"^(time\(\) - )?(wfaudit_[a-z_]+) > ([0-9.e+]+)$")


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def scrape(auditor: Auditor) -> dict[str, float]:
    """The unlabelled samples of one scrape of the exporter's registry."""
    samples = parse(generate_latest(make_registry(auditor)).decode())
    return {name: value for (name, labels), value in samples.items() if not labels}


def firing(values: dict[str, float], now: dt.datetime) -> set[str]:
    """The alerts whose expression holds for these metric values at ``now``."""
    fired = set()
    for rule in rules():
        match = EXPRESSION.match(" ".join(str(rule["expr"]).split()))
        assert match, f"{rule['alert']}: {rule['expr']!r} is not METRIC > N / time() - METRIC > N"
        since, metric, threshold = match.groups()
        value = values[metric]
        if since:
            value = now.timestamp() - value
        if value > float(threshold):
            fired.add(rule["alert"])
    return fired


def test_every_metric_the_alert_rules_name_is_exported(
    make_auditor: Callable[..., Auditor], tmp_path: pathlib.Path
) -> None:
    auditor = make_auditor()
    exported = scrape(auditor)
    named = {m for rule in rules() for m in re.findall(r"wfaudit_[a-z_]+", str(rule["expr"]))}
    assert named == {
        "wfaudit_retention_last_success_timestamp_seconds",
        "wfaudit_store_stored_bytes",
        "wfaudit_archive_bytes",
    }
    assert named <= set(exported), named - set(exported)
    assert {rule["alert"] for rule in rules()} == {
        "WfauditRetentionSweepMissing",
        "WfauditStoreOverThreshold",
        "WfauditArchiveOverThreshold",
    }
    for rule in rules():
        assert rule["annotations"]["summary"] and rule["labels"]["severity"]
    # Never swept: the gauge is 0, so "no successful sweep in 24 h" fires at once.
    assert exported["wfaudit_retention_last_success_timestamp_seconds"] == 0
    assert "WfauditRetentionSweepMissing" in firing(exported, dt.datetime.now(dt.UTC))


PIPELINES = ("shop-api", "payments", "search", "security-scan")


def test_a_simulated_month_of_scheduled_retention(
    make_auditor: Callable[..., Auditor], wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    start = dt.datetime(2026, 5, 1, 0, 30, tzinfo=dt.UTC)
    wfaudit_clock.set(start)
    auditor = make_auditor()
    store: Any = auditor.store
    root = tmp_path / "archive"
    policy = RetentionPolicy(
        by_status={**DEFAULT_KEEP, "succeeded": 5 * DAY, "failed": 10 * DAY, "cancelled": 3 * DAY},
        rules=(RetentionRule.of("category=security", "12d", archive_keep="60d"),),
        archive_keep=8 * DAY,
    )
    told: list[Any] = []

    def on_run(run: Any) -> None:
        told.append(run)
        auditor.notify_retention_run(run)  # the observers: the metrics plugin counts

    counters_before = parse(generate_latest(REGISTRY).decode())
    sweeper = Sweeper(store, policy, archive=FileArchive(root, fsync=False), on_run=on_run)
    runs: dict[str, str] = {}  # snapshot id -> its pipeline
    holds: dict[str, Any] = {}

    def traffic(day: int) -> None:
        """A day of triggers: three runs per pipeline, spread over the working day."""
        for pipeline in PIPELINES:
            for n in range(3):
                number = f"{pipeline}-{day}-{n}"
                labels = {"team": pipeline}
                if pipeline == "security-scan":
                    labels["category"] = "security"
                if pipeline == "payments" and day == 3:
                    labels["case"] = "LIT-9"  # the runs a selector hold covers
                result = auditor.audit_trigger(
                    TriggerRequest(
                        workflow_id=number,
                        workflow_type=("CI", "PRE_CD", "POST_CD")[n],
                        pipeline_id=pipeline,
                        config={"image": f"registry/{pipeline}:{day}", "step": n, "day": day},
                        labels=labels,
                    )
                )
                assert result.ok and result.ref is not None
                runs[result.ref.id] = pipeline
                wfaudit_clock.advance(minutes=2)
                auditor.record_outcome(number, ("CI", "PRE_CD", "POST_CD")[n], "running")
                wfaudit_clock.advance(minutes=9)
                status = ("succeeded", "failed", "cancelled")[(day + n) % 3 if n else 0]
                auditor.record_outcome(number, ("CI", "PRE_CD", "POST_CD")[n], status)
        if day == 1:
            first = next(iter(runs))
            holds["snapshot"] = add_hold(
                store,
                scope=HoldScope.SNAPSHOT,
                target=first,
                tenant=None,
                reason="LIT-1",
                by="legal",
            )
            holds["snapshot_target"] = first
        if day == 3:
            holds["selector"] = add_hold(
                store,
                scope=HoldScope.SELECTOR,
                target="case=LIT-9",
                tenant=None,
                reason="LIT-9",
                by="legal",
            )
        if day == 25:  # the case of the snapshot hold closes: its snapshot may go
            release_hold(store, holds["snapshot"].id, tenant=None, reason="closed", by="legal")

    days_seen: set[int] = set()

    def sleep(seconds: float) -> None:
        """The scheduler waits: the simulated clock moves on, and each new day's
        traffic arrives at 08:00."""
        target = wfaudit_clock.now + dt.timedelta(seconds=seconds)
        while True:
            day = (wfaudit_clock.now - start).days + 1
            morning = start.replace(hour=8, minute=0) + (day - 1) * DAY
            if day not in days_seen and morning <= target and day <= 30:
                if wfaudit_clock.now < morning:
                    wfaudit_clock.set(morning)
                days_seen.add(day)
                traffic(day)
                continue
            next_day = start + day * DAY
            if next_day > target:
                break
            wfaudit_clock.set(next_day)
        if wfaudit_clock.now < target:
            wfaudit_clock.set(target)

    cycles = run_every(sweeper, dt.timedelta(hours=6), cycles=30 * 4, sleep=sleep)
    now = wfaudit_clock.now
    assert cycles == 120 and len(told) == 120 and all(run.ok for run in told), [
        run.error for run in told if not run.ok
    ]
    assert days_seen == set(range(1, 31))
    assert len(runs) == 30 * len(PIPELINES) * 3

    # -- the store is within policy: nothing due is left but what a hold keeps --------------
    plan = list(sweeper.plan(as_of=now))
    actions = {item.snapshot_id: item.action for item in plan}
    assert Action.DELETE not in actions.values()
    held = {sid for sid, action in actions.items() if action == Action.HOLD}
    lit9 = {
        item.snapshot_id
        for item in plan
        if item.pipeline_id == "payments" and "LIT-9" in item.reason
    }
    assert held and held == lit9 and len(held) == 3
    # The snapshot hold was released on day 25: its snapshot went at the next cycle.
    assert holds["snapshot_target"] not in actions
    assert store.get_archive(holds["snapshot_target"]) is not None
    # The month's others went, each archived before it was deleted.
    gone = set(runs) - set(actions)
    assert len(gone) > len(runs) / 2
    for snapshot_id in gone:
        kinds = [event.kind for event in store.list_events(subject=snapshot_id)]
        assert kinds.index(EventKind.ARCHIVED) < kinds.index(EventKind.DELETED)

    # -- the archive is within policy: nothing past its date but what a hold keeps ----------
    expiry = sweeper.expire(dry_run=True)
    assert expiry.expired == 0
    past = {item.snapshot_id: item.action for item in expiry.items}
    assert set(past.values()) <= {ArchiveAction.HOLD, ArchiveAction.IN_STORE}
    totals = sum(told[i].counts.get("expired", 0) for i in range(len(told)))
    assert totals > 0  # archives did expire during the month
    assert sum(run.counts.get("bytes_freed", 0) for run in told) > 0
    for record in store.iter_archives():
        assert record.retention_reason in ("ttl", "policy")
        if record.labels.get("category") == "security":
            assert record.retention_reason == "policy"
            assert record.expires_on == record.archived_on + 60 * DAY
        else:
            assert record.expires_on == record.archived_on + 8 * DAY
        assert (root / record.object_key).is_file()
    on_disk = sum(path.stat().st_size for path in root.rglob("*.wfa"))
    assert verify_store(auditor).ok

    # -- the metrics and the alert rules, as documented --------------------------------------
    values = scrape(auditor)
    last = told[-1]
    assert values["wfaudit_retention_last_success_timestamp_seconds"] == pytest.approx(
        last.finished_on.timestamp()
    )
    assert values["wfaudit_archive_bytes"] == on_disk  # the records' sizes are the objects'
    assert values["wfaudit_archive_objects"] == len(list(root.rglob("*.wfa")))
    assert values["wfaudit_store_stored_bytes"] > 0
    assert firing(values, now) == set()
    counters = parse(generate_latest(REGISTRY).decode())

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return counters.get(key, 0.0) - counters_before.get(key, 0.0)

    assert delta("wfaudit_retention_runs_total", outcome="ok") == 120
    assert delta("wfaudit_retention_runs_total", outcome="failed") == 0
    assert delta("wfaudit_archive_expired_objects_total") == totals
    assert delta("wfaudit_archive_freed_bytes_total") == sum(
        run.counts.get("bytes_freed", 0) for run in told
    )
    # The runner stops: a day later (and a little) the missing-sweep alert fires, and only it.
    assert firing(values, now + dt.timedelta(hours=25)) == {"WfauditRetentionSweepMissing"}
    # A store and an archive above the thresholds fire theirs.
    over = {**values, "wfaudit_store_stored_bytes": 60 * 2**30, "wfaudit_archive_bytes": 2 * 2**40}
    assert firing(over, now) == {"WfauditStoreOverThreshold", "WfauditArchiveOverThreshold"}
