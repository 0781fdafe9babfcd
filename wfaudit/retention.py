"""Retention: how long snapshots are kept, legal holds, archiving, sweeps and restores.

The policy (:class:`RetentionPolicy`, from ``[tool.wfaudit.retention]`` or built
in code) says how long a snapshot is kept after its run ended (``updated_on``:
when its outcome was recorded):

1. by outcome: succeeded 30 days, failed 90 days, error 90 days, cancelled 30
   days; a run that never reported an outcome (triggered, running) 90 days
   after its last update (``updated_on``: its trigger, or when it was reported
   running), like a failure to look into;
2. label-selector rules override the outcome's period (``environment=production``
   → 6 months); when several match, the longest period wins, and a rule may say
   ``archive = "immediately"``;
3. the compliance minimum raises any shorter period to itself: no rule can
   shorten it. The audit trail is never shortened at all: deleting a snapshot
   appends a ``snapshot.deleted`` event and removes no event, so the trail of a
   deleted snapshot stays (``trail_minimum``, 7 years by default, is what the
   plan reports as the trail's own guaranteed minimum);
4. an active legal hold on the snapshot, its pipeline or a label selector that
   matches it blocks deletion whatever the policy says, until released;
5. a snapshot that a retrigger or a tag still references is not deleted before
   what references it (a sweep goes newest first, so a retrigger that is due
   goes before its parent in the same sweep).

A sweep (:class:`Sweeper`) streams the store's snapshots a page at a time,
archives what must be archived, then deletes; it records its progress in the
store (in the transaction of each batch), so an interrupted sweep resumes where
it stopped, with the same ``as_of`` time, and ends in the state, and with the
counts, an uninterrupted one would have reached.

Archives expire too: each archive record carries a retention date and its
reason (``ttl``: the policy's ``archive_keep``; ``policy``: a rule's; ``manual``:
an operator's), and :meth:`Sweeper.expire` deletes the objects past their date,
never one a legal hold covers nor one whose snapshot is in the store.
:meth:`Sweeper.run_cycle` is one unattended cycle (sweep, expiry, orphans) under
the sweep lock, recorded in the store and told to the ``wfaudit_retention_run``
observers; :func:`run_every` runs cycles on a schedule, with an injectable
clock and sleep.

Orphan cleanup deletes only this store's archive objects: an object is this
store's when the snapshot its key and header name is one the store's audit
trail knows (snapshot ids are unique to the store that audited them), and it is
an orphan when no archive record names it and it was written more than
``orphan_grace`` ago (an object of a sweep in progress is not an orphan yet).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from wfaudit_hookspecs import (
    ConfigurationError,
    EventKind,
    InvalidRequest,
    SnapshotNotFound,
    SnapshotRecord,
    Status,
    Store,
    StoreError,
    StoreUnavailable,
    WfauditError,
    canonical_json,
    utcnow,
)
from wfaudit_hookspecs.retention import (
    ArchiveRecord,
    ArchiveRetention,
    ArchiveStore,
    ExportedSnapshot,
    LegalHold,
    RetentionCandidate,
    RetentionRun,
    StoreRetention,
    SweepBusy,
    SweepProgress,
    SweepStep,
    hold_covers,
    parse_selector,
    selector_matches,
    step_counts,
)

from . import codec
from .archive import (
    ArchiveObject,
    archive_key,
    build_object,
    object_sha256,
    open_archive,
    parse_object,
    snapshot_id_of_key,
    tenant_prefix,
    url_has_credentials,
)

if TYPE_CHECKING:
    from .auditor import Auditor

log = logging.getLogger("wfaudit.retention")

__all__ = [
    "DEFAULT_KEEP",
    "Action",
    "ArchiveAction",
    "ArchiveItem",
    "ArchiveVerdict",
    "CycleResult",
    "ExpiryReport",
    "PlanItem",
    "RestoreResult",
    "RetentionPolicy",
    "RetentionRule",
    "RetentionStore",
    "SweepFailure",
    "SweepReport",
    "Sweeper",
    "parse_duration",
    "parse_every",
    "run_every",
]

DAY = _dt.timedelta(days=1)

DEFAULT_KEEP: Mapping[str, _dt.timedelta | None] = {
    Status.SUCCEEDED.value: 30 * DAY,
    Status.FAILED.value: 90 * DAY,
    Status.ERROR.value: 90 * DAY,
    Status.CANCELLED.value: 30 * DAY,
    Status.RUNNING.value: 90 * DAY,
    Status.TRIGGERED.value: 90 * DAY,
}
"""How long a snapshot is kept after its run ended, by outcome."""

_UNITS = {
    "h": _dt.timedelta(hours=1),
    "hour": _dt.timedelta(hours=1),
    "hours": _dt.timedelta(hours=1),
    "d": DAY,
    "day": DAY,
    "days": DAY,
    "w": 7 * DAY,
    "week": 7 * DAY,
    "weeks": 7 * DAY,
    "mo": 30 * DAY,
    "month": 30 * DAY,
    "months": 30 * DAY,
    "y": 365 * DAY,
    "year": 365 * DAY,
    "years": 365 * DAY,
}
_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$")
_FOREVER = frozenset({"forever", "never", "indefinitely"})


def parse_duration(value: object, *, name: str = "duration") -> _dt.timedelta | None:
    """``"30d"``, ``"6mo"``, ``"5y"``, ``"12h"``, ``"2w"`` (or a number of days) as a
    timedelta; ``"forever"`` is None (kept indefinitely). A month is 30 days and a
    year 365.

    :raises ConfigurationError: anything else.
    """
    if isinstance(value, _dt.timedelta):
        return value
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} {value!r} is not a duration such as 30d or 6mo")
    if isinstance(value, int):
        if value < 0:
            raise ConfigurationError(f"{name} {value} is negative")
        return value * DAY
    text = str(value).strip().lower()
    if text in _FOREVER:
        return None
    match = _DURATION.match(text)
    unit = _UNITS.get(match.group(2) or "d") if match else None
    if match is None or unit is None:
        raise ConfigurationError(
            f"{name} {value!r} is not a duration: write 12h, 30d, 2w, 6mo, 5y or forever"
        )
    return int(match.group(1)) * unit


def _describe(period: _dt.timedelta | None) -> str:
    if period is None:
        return "forever"
    days = period.days
    if days and days % 365 == 0:
        return f"{days // 365}y"
    if days >= 180 and days % 30 == 0:
        return f"{days // 30}mo"
    if period.seconds and not days:
        return f"{period.seconds // 3600}h"
    return f"{days}d"


class Archive(StrEnum):
    """When a rule archives the snapshots it matches."""

    BEFORE_DELETE = "before-delete"
    """When they are deleted (the default, if an archive is configured)."""
    IMMEDIATELY = "immediately"
    """At the next sweep, whatever their age (they stay in the store too)."""


@attrs.frozen(kw_only=True)
class RetentionRule:
    """A label-selector override: snapshots whose labels match are kept ``keep``.

    :ivar selector: ``(key, value)`` pairs that must all be among the labels.
    :ivar keep: the period (None: forever).
    :ivar archive: when matching snapshots are archived.
    """

    selector: tuple[tuple[str, str], ...]
    keep: _dt.timedelta | None
    archive: Archive = Archive.BEFORE_DELETE
    archive_keep: _dt.timedelta | None = None
    """How long the archive objects of matching snapshots are kept (None: forever),
    when ``archive_keep_set``; else the policy's ``archive_keep`` applies."""
    archive_keep_set: bool = False

    @classmethod
    def of(
        cls,
        selector: str,
        keep: object,
        archive: str | Archive = Archive.BEFORE_DELETE,
        archive_keep: object = None,
    ) -> RetentionRule:
        """A rule from its settings' form: ``RetentionRule.of("category=security", "5y",
        archive="immediately", archive_keep="7y")`` (``archive_keep`` None: the
        policy's)."""
        try:
            when = Archive(archive)
        except ValueError:
            raise ConfigurationError(
                f"retention rule {selector!r}: archive must be 'before-delete' or "
                f"'immediately', not {archive!r}"
            ) from None
        return cls(
            selector=parse_selector(selector),
            keep=parse_duration(keep, name=f"retention rule {selector!r}: keep"),
            archive=when,
            archive_keep=None
            if archive_keep is None
            else parse_duration(archive_keep, name=f"retention rule {selector!r}: archive_keep"),
            archive_keep_set=archive_keep is not None,
        )

    @property
    def name(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.selector)


@attrs.frozen(kw_only=True)
class Verdict:
    """What the policy says of one snapshot, before holds and references."""

    keep: _dt.timedelta | None
    due: _dt.datetime | None
    basis: str
    archive_now: bool


@attrs.frozen(kw_only=True)
class ArchiveVerdict:
    """How long the policy keeps one archive object, and why."""

    expires_on: _dt.datetime | None
    reason: str
    basis: str


@attrs.frozen(kw_only=True)
class RetentionPolicy:
    """The retention policy. Build it with :meth:`from_options` or in code.

    :ivar by_status: the period of each outcome (None: forever); an outcome it
        does not name keeps its default (:data:`DEFAULT_KEEP`).
    :ivar rules: label-selector overrides.
    :ivar minimum: the compliance minimum of a snapshot: no period is shorter.
    :ivar trail_minimum: the compliance minimum of the audit trail (the trail is
        never pruned by retention; the plan reports until when it is guaranteed).
    :ivar restored_keep: a restored snapshot is kept at least this long after
        its restore, whatever its age.
    :ivar archive_before_delete: archive every snapshot before deleting it
        (deletion without an archive configured is then refused).
    :ivar archive_url: the archive store (``s3://bucket/prefix``, ``file:///dir``).
    :ivar archive_prefix: the first part of every archive key.
    :ivar orphan_grace: an unrecorded archive object of this store is deleted as
        an orphan only once it is older than this (by its header's ``archived_on``).
    """

    by_status: Mapping[str, _dt.timedelta | None] = attrs.field(factory=lambda: dict(DEFAULT_KEEP))
    rules: tuple[RetentionRule, ...] = ()
    minimum: _dt.timedelta = _dt.timedelta(0)
    trail_minimum: _dt.timedelta = 7 * 365 * DAY
    restored_keep: _dt.timedelta = 30 * DAY
    archive_before_delete: bool = True
    archive_url: str | None = None
    archive_prefix: str = "wfaudit"
    orphan_grace: _dt.timedelta = DAY
    archive_keep: _dt.timedelta | None = None
    """How long an archive object is kept after the archiving (None: forever),
    unless a matching rule's ``archive_keep`` says otherwise."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> RetentionPolicy:
        """The policy of a ``[tool.wfaudit.retention]`` table (and ``WFAUDIT_ARCHIVE_URL``).

        Keys: ``succeeded``, ``failed``, ``error``, ``cancelled``, ``running``,
        ``triggered`` (periods), ``minimum``, ``trail_minimum``,
        ``restored_keep``, ``orphan_grace``, ``archive_before_delete``,
        ``archive_url``, ``archive_prefix`` and ``[[rules]]`` tables of
        ``selector``, ``keep``, ``archive``.

        :raises ConfigurationError: an unknown key or a bad value.
        """
        table = dict(options or {})
        known = {
            *DEFAULT_KEEP,
            "minimum",
            "trail_minimum",
            "restored_keep",
            "orphan_grace",
            "archive_before_delete",
            "archive_url",
            "archive_prefix",
            "archive_keep",
            "rules",
        }
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigurationError(
                f"[tool.wfaudit.retention] has unknown keys: {', '.join(unknown)}"
            )
        by_status = dict(DEFAULT_KEEP)
        for status in DEFAULT_KEEP:
            if status in table:
                by_status[status] = parse_duration(table[status], name=f"retention {status}")
        rules = []
        for entry in table.get("rules", []):
            if not isinstance(entry, Mapping) or "selector" not in entry or "keep" not in entry:
                raise ConfigurationError(
                    "each [[tool.wfaudit.retention.rules]] needs a selector and keep"
                )
            extra = sorted(set(entry) - {"selector", "keep", "archive", "archive_keep"})
            if extra:
                raise ConfigurationError(f"retention rule has unknown keys: {', '.join(extra)}")
            rules.append(
                RetentionRule.of(
                    str(entry["selector"]),
                    entry["keep"],
                    entry.get("archive", Archive.BEFORE_DELETE),
                    entry.get("archive_keep"),
                )
            )
        floors = {}
        for key, default in (
            ("minimum", _dt.timedelta(0)),
            ("trail_minimum", 7 * 365 * DAY),
            ("restored_keep", 30 * DAY),
            ("orphan_grace", DAY),
        ):
            value = parse_duration(table.get(key, default), name=f"retention {key}")
            if value is None:
                raise ConfigurationError(f"retention {key} must be a period, not forever")
            floors[key] = value
        before = table.get("archive_before_delete", True)
        if not isinstance(before, bool):
            raise ConfigurationError("retention archive_before_delete must be true or false")
        url = os.environ.get("WFAUDIT_ARCHIVE_URL") or table.get("archive_url") or None
        return cls(
            by_status=by_status,
            rules=tuple(rules),
            minimum=floors["minimum"],
            trail_minimum=floors["trail_minimum"],
            restored_keep=floors["restored_keep"],
            orphan_grace=floors["orphan_grace"],
            archive_before_delete=before,
            archive_url=None if url is None else str(url),
            archive_prefix=str(table.get("archive_prefix", "wfaudit")).strip("/") or "wfaudit",
            archive_keep=parse_duration(
                table.get("archive_keep", "forever"), name="retention archive_keep"
            ),
        )

    def archive_verdict(
        self, labels: Mapping[str, str], archived_on: _dt.datetime
    ) -> ArchiveVerdict:
        """When an archive object (of a snapshot with these ``labels``, archived at
        ``archived_on``) expires: the longest ``archive_keep`` of the matching rules
        that set one (reason ``policy``), else the policy's (``ttl``)."""
        matching = [
            rule
            for rule in self.rules
            if rule.archive_keep_set and selector_matches(rule.selector, labels)
        ]
        if matching:
            chosen = max(
                matching,
                key=lambda rule: (
                    _dt.timedelta.max if rule.archive_keep is None else rule.archive_keep
                ),
            )
            keep, reason = chosen.archive_keep, ArchiveRetention.POLICY
            basis = f"rule {chosen.name}: archive kept {_describe(keep)}"
        else:
            keep, reason = self.archive_keep, ArchiveRetention.TTL
            basis = f"archive_keep: {_describe(keep)}"
        return ArchiveVerdict(
            expires_on=None if keep is None else archived_on + keep, reason=reason, basis=basis
        )

    def verdict(self, candidate: RetentionCandidate) -> Verdict:
        """How long ``candidate`` is kept, why, and whether it is archived at once."""
        matching = [
            rule for rule in self.rules if selector_matches(rule.selector, candidate.labels)
        ]
        if matching:
            # The longest period wins (forever beats any); ties: the first rule.
            chosen = max(
                matching, key=lambda rule: _dt.timedelta.max if rule.keep is None else rule.keep
            )
            keep, basis = chosen.keep, f"rule {chosen.name}: {_describe(chosen.keep)}"
        else:
            status = candidate.status
            keep = self.by_status.get(status, DEFAULT_KEEP.get(status, 90 * DAY))
            basis = f"{candidate.status}: {_describe(keep)}"
        if keep is not None and keep < self.minimum:
            keep = self.minimum
            basis += f", raised to the compliance minimum {_describe(self.minimum)}"
        due = None if keep is None else candidate.updated_on + keep
        if due is not None and candidate.restored_on is not None:
            again = candidate.restored_on + self.restored_keep
            if again > due:
                due = again
                basis += f", restored {candidate.restored_on:%Y-%m-%d}"
        return Verdict(
            keep=keep,
            due=due,
            basis=basis,
            archive_now=any(rule.archive == Archive.IMMEDIATELY for rule in matching),
        )


class Action(StrEnum):
    """What a sweep does with one snapshot."""

    KEEP = "keep"
    """Not due yet (or kept forever)."""
    ARCHIVE = "archive"
    """Archived now and kept in the store (a rule says archive immediately)."""
    DELETE = "delete"
    """Due: archived first (unless archived already or archiving is off), then deleted."""
    HOLD = "hold"
    """Due, but an active legal hold keeps it."""
    REFERENCED = "referenced"
    """Due, but a retrigger or a tag that stays references it."""


@attrs.frozen(kw_only=True)
class PlanItem:
    """One snapshot in a retention plan: what happens to it and why."""

    snapshot_id: str
    tenant: str | None
    pipeline_id: str
    workflow_id: str
    workflow_type: str
    status: str
    created_on: _dt.datetime
    action: Action
    reason: str
    due: _dt.datetime | None
    archive: bool
    """The snapshot is archived by this sweep (now, or before it is deleted)."""
    trail_until: _dt.datetime
    """The audit trail of the snapshot is kept at least until then."""


@attrs.frozen(kw_only=True)
class SweepFailure:
    """A snapshot a sweep could not archive: reported, left in the store, and
    skipped (the sweep goes on with the others; the next sweep tries it again).

    :ivar error: what failed (names the snapshot, the blob or the object key,
        never data).
    """

    snapshot_id: str
    tenant: str | None
    pipeline_id: str
    error: str


MAX_REPORTED_FAILURES = 100
"""Failures listed in a :class:`SweepReport` (``failed`` counts them all)."""


@attrs.frozen(kw_only=True)
class SweepReport:
    """What a sweep did (``apply``) or would do (``plan``'s summary).

    :ivar failed: snapshots that could not be archived (a blob that does not
        read, an object the archive refused): skipped, so neither archived nor
        deleted; ``failures`` lists the first of them.
    """

    as_of: _dt.datetime
    counts: Mapping[str, int]
    sweep_id: str | None = None
    resumed: bool = False
    archived: int = 0
    deleted: int = 0
    blocked: int = 0
    orphan_blobs: int = 0
    orphan_manifests: int = 0
    orphan_objects: int = 0
    failed: int = 0
    failures: tuple[SweepFailure, ...] = ()


class ArchiveAction(StrEnum):
    """What an archive expiry sweep does with one archive record."""

    KEEP = "keep"
    """Not expired yet (or kept indefinitely)."""
    EXPIRE = "expire"
    """Past its retention date: the object and its record are deleted."""
    HOLD = "hold"
    """Past its date, but an active legal hold covers it."""
    IN_STORE = "in-store"
    """Past its date, but the snapshot is back in the store (restored, or not
    deleted yet): the archive stays while the snapshot does."""
    UNREADABLE = "unreadable"
    """Its labels are unknown and its object cannot be read: left, reported."""


@attrs.frozen(kw_only=True)
class ArchiveItem:
    """One archive record in an expiry sweep: what happens to it and why."""

    snapshot_id: str
    tenant: str | None
    pipeline_id: str
    workflow_type: str
    object_key: str
    object_size: int
    expires_on: _dt.datetime | None
    retention_reason: str
    action: ArchiveAction
    reason: str


@attrs.frozen(kw_only=True)
class ExpiryReport:
    """What an archive expiry sweep did (or, with ``dry_run``, would do).

    :ivar expired: archive objects deleted (would be, in a dry run).
    :ivar bytes_freed: their bytes.
    :ivar dated: records whose retention date the sweep set or refreshed from
        the policy (records made before revision 0009 get theirs so).
    :ivar items: the records past their date (expired, held, in the store,
        unreadable), the first :data:`MAX_REPORTED_FAILURES` x 10 of them.
    """

    as_of: _dt.datetime
    dry_run: bool
    examined: int = 0
    expired: int = 0
    bytes_freed: int = 0
    held: int = 0
    in_store: int = 0
    kept: int = 0
    dated: int = 0
    failed: int = 0
    items: tuple[ArchiveItem, ...] = ()


@attrs.frozen(kw_only=True)
class CycleResult:
    """One cycle of :meth:`Sweeper.run_cycle`: the run as recorded, and the reports."""

    run: RetentionRun
    sweep: SweepReport | None = None
    expiry: ExpiryReport | None = None


@attrs.frozen(kw_only=True)
class RestoreResult:
    """What :meth:`Sweeper.restore` did.

    :ivar restored: the row was put back (False: it was in the store already).
    """

    snapshot_id: str
    restored: bool
    object_key: str
    content_hash: str


@runtime_checkable
class RetentionStore(Store, StoreRetention, Protocol):
    """A store with the retention methods (``wfaudit-sql``'s ``SqlStore``)."""


Notify = Callable[[str, SnapshotRecord, Mapping[str, Any]], None]
"""Told of an operation on a snapshot: (event kind, record, JSON data)."""

StepCallback = Callable[[str, RetentionCandidate], None]
"""Told of each step of a sweep: ``object-written``, ``archived``, ``deleted``."""


def retention_store(store: Store) -> RetentionStore:
    """The store, if it supports retention; else a StoreError saying so."""
    if not isinstance(store, RetentionStore):
        raise StoreError(f"the store at {store.url} does not support retention")
    return store


class Sweeper:
    """Plans and applies retention on one store (and its tenant, when scoped).

    :param store: a store implementing :class:`~wfaudit_hookspecs.retention.StoreRetention`.
    :param policy: the policy.
    :param archive: the archive store; None when none is configured.
    :param tenant: sweep only this tenant's snapshots (None: every tenant).
    :param actor: recorded as the actor of the events a sweep appends.
    :param open_other: opens another archive by URL (a restore from an archive
        that is not the configured one).
    :param notify: told of each archive, deletion and restore once the trail
        holds it (``Auditor.notify``, which calls the ``wfaudit_event`` observers).
    :param on_run: told of each retention cycle's end (:meth:`run_cycle`), failed
        or not (``Auditor.notify_retention_run``: the ``wfaudit_retention_run``
        observers, which send a failed cycle as a signed webhook).
    """

    def __init__(
        self,
        store: Store,
        policy: RetentionPolicy,
        *,
        archive: ArchiveStore | None = None,
        tenant: str | None = None,
        actor: str | None = "wfaudit retention",
        open_other: Callable[[str], ArchiveStore] | None = None,
        notify: Notify | None = None,
        on_run: Callable[[RetentionRun], None] | None = None,
    ) -> None:
        if archive is not None and url_has_credentials(archive.url):
            # The URL is recorded in every archive record and event: never a secret.
            raise ConfigurationError(
                "the archive's URL holds credentials (user:password@); give them to "
                "the archive's client instead (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
            )
        self.store = retention_store(store)
        self.policy = policy
        self.archive = archive
        self.tenant = tenant
        self.actor = actor
        self._open_other = open_other
        self._notify = notify
        self._on_run = on_run
        self._others: dict[str, ArchiveStore] = {}

    @classmethod
    def for_auditor(cls, auditor: Auditor, *, archive: bool = True) -> Sweeper:
        """A sweeper on an auditor's store and tenant, with the policy and archive of
        its settings (``[tool.wfaudit.retention]``); ``archive=False`` opens no archive."""
        policy = RetentionPolicy.from_options(auditor.settings.options.get("retention"))
        manager = auditor.plugin_manager

        def open_other(url: str) -> ArchiveStore:
            return open_archive(url, manager)

        opened = open_other(policy.archive_url) if archive and policy.archive_url else None
        return cls(
            auditor.store,
            policy,
            archive=opened,
            tenant=auditor.settings.tenant,
            open_other=open_other,
            notify=auditor.notify,
            on_run=auditor.notify_retention_run,
        )

    def close(self) -> None:
        """Close the archive store (and the others opened for restores and expiry)."""
        if self.archive is not None:
            self.archive.close()
        for other in self._others.values():
            other.close()
        self._others.clear()

    # -- deciding -------------------------------------------------------------------

    def plan(self, *, as_of: _dt.datetime | None = None) -> Iterator[PlanItem]:
        """What a sweep at ``as_of`` (default: now) would do, one snapshot at a time,
        newest first. Nothing is written."""
        when = as_of or utcnow()
        holds = self.store.list_holds(tenant=self.tenant)
        for candidate in self.store.iter_candidates(tenant=self.tenant):
            yield self.judge(candidate, when, holds)

    def summarize(self, items: Iterator[PlanItem], as_of: _dt.datetime) -> SweepReport:
        """Count a plan's items by action (consumes the iterator)."""
        counts: Counter[str] = Counter()
        archived = 0
        for item in items:
            counts[item.action.value] += 1
            archived += item.archive
        return SweepReport(
            as_of=as_of,
            counts=dict(counts),
            archived=archived,
            deleted=counts[Action.DELETE.value],
        )

    def judge(
        self,
        candidate: RetentionCandidate,
        as_of: _dt.datetime,
        holds: list[LegalHold],
        depth: int = 0,
    ) -> PlanItem:
        """The fate of one snapshot at ``as_of``, given the active ``holds``."""
        verdict = self.policy.verdict(candidate)
        archive_now = verdict.archive_now and not candidate.archived
        if verdict.due is None or verdict.due > as_of:
            until = "indefinitely" if verdict.due is None else f"until {verdict.due:%Y-%m-%d}"
            reason = f"kept {until} ({verdict.basis})"
            if archive_now:
                return self._item(candidate, Action.ARCHIVE, f"archived now; {reason}", verdict)
            return self._item(candidate, Action.KEEP, reason, verdict, archive=False)
        due_reason = f"due {verdict.due:%Y-%m-%d} ({verdict.basis})"
        for hold in holds:
            if hold_covers(
                hold,
                snapshot_id=candidate.id,
                tenant=candidate.tenant,
                pipeline_id=candidate.pipeline_id,
                labels=candidate.labels,
            ):
                reason = f"legal hold {hold.id} ({hold.scope} {hold.target}); {due_reason}"
                action = Action.ARCHIVE if archive_now else Action.HOLD
                return self._item(candidate, action, reason, verdict, archive=archive_now)
        blocking = self._blocking_references(candidate, as_of, holds, depth)
        if blocking:
            reason = f"{blocking} references it and stays; {due_reason}"
            action = Action.ARCHIVE if archive_now else Action.REFERENCED
            return self._item(candidate, action, reason, verdict, archive=archive_now)
        needs_archive = self.policy.archive_before_delete and not candidate.archived
        step = "archived, then deleted" if needs_archive else "deleted"
        return self._item(
            candidate, Action.DELETE, f"{step}: {due_reason}", verdict, archive=needs_archive
        )

    def _blocking_references(
        self,
        candidate: RetentionCandidate,
        as_of: _dt.datetime,
        holds: list[LegalHold],
        depth: int,
    ) -> str | None:
        references = self.store.references(candidate.id)
        if not references:
            return None
        for reference in references:
            if not reference.startswith("retrigger "):
                return reference  # a tag: it must be removed first
        if depth >= 32:
            return references[0]
        for child in self.store.children(candidate.id):
            if self.judge(child, as_of, holds, depth + 1).action != Action.DELETE:
                return f"retrigger {child.id}"
        return None  # every retrigger goes first, in the same sweep

    def _item(
        self,
        candidate: RetentionCandidate,
        action: Action,
        reason: str,
        verdict: Verdict,
        *,
        archive: bool = True,
    ) -> PlanItem:
        return PlanItem(
            snapshot_id=candidate.id,
            tenant=candidate.tenant,
            pipeline_id=candidate.pipeline_id,
            workflow_id=candidate.workflow_id,
            workflow_type=candidate.workflow_type,
            status=candidate.status,
            created_on=candidate.created_on,
            action=action,
            reason=reason,
            due=verdict.due,
            archive=archive,
            trail_until=candidate.created_on + self.policy.trail_minimum,
        )

    # -- applying ----------------------------------------------------------------------

    def apply(
        self,
        *,
        orphans: bool = True,
        batch: int = 100,
        on_item: Callable[[int, int], None] | None = None,
        on_step: StepCallback | None = None,
    ) -> SweepReport:
        """Archive, then delete, what is due; resume an interrupted sweep first.

        Holds the store's sweep lock throughout. Due snapshots are handled a batch
        at a time: each one's archive object is written (and made durable) first,
        then one store transaction records the archives, deletes the rows and
        saves the sweep's progress (cursor and counts). Every step is idempotent,
        so a sweep killed anywhere resumes (at the same ``as_of``) and ends as an
        uninterrupted one would, with the same counts: one archive object and one
        archive record per snapshot (a resumed sweep records the object it wrote
        before the interruption rather than writing it again), and nothing deleted
        that was not archived (when archiving is on).

        :param batch: snapshots per store transaction (and per progress save).
        :param on_item: called with (snapshots done, snapshots in the store).
        :param on_step: called after each archive object write (``object-written``)
            and, once committed, each archive record (``archived``) and deletion
            (``deleted``); tests kill the process there.
        :raises SweepBusy: another sweep is running.
        :raises ConfigurationError: archiving is on and no archive is configured
            (checked before the sweep starts: no sweep is left open).
        """
        self._check_archive()
        with self.store.sweep_lock(owner=_owner()):
            return self._apply_locked(
                orphans=orphans, batch=batch, on_item=on_item, on_step=on_step
            )

    def _apply_locked(
        self,
        *,
        orphans: bool,
        batch: int,
        on_item: Callable[[int, int], None] | None,
        on_step: StepCallback | None,
    ) -> SweepReport:
        """:meth:`apply`'s work, the caller holding the sweep lock."""
        state = self.store.open_sweep(tenant=self.tenant, as_of=utcnow())
        as_of, cursor = state.as_of, state.cursor
        counts: Counter[str] = Counter({k: int(v) for k, v in state.counts.items()})
        holds = self.store.list_holds(tenant=self.tenant)
        total = self.store.count_snapshots(tenant=self.tenant)
        pending: list[tuple[RetentionCandidate, SweepStep]] = []
        failures: list[SweepFailure] = []
        candidates = self.store.iter_candidates(tenant=self.tenant, before_id=cursor)
        for done, candidate in enumerate(candidates, start=1):
            item = self.judge(candidate, as_of, holds)
            counts[item.action.value] += 1
            if item.action in (Action.ARCHIVE, Action.DELETE):
                record = None
                if item.archive and not candidate.archived:
                    try:
                        # Only an interrupted sweep can have left an unrecorded object.
                        record = self._write_archive(candidate, on_step, reuse=state.resumed)
                    except StoreUnavailable:
                        raise  # the archive (or store) is down: nothing more can be done
                    except StoreError as error:
                        # This snapshot only (a blob that does not read, a key or
                        # object the archive refuses): reported, skipped, and the
                        # sweep goes on with the others.
                        counts["done_failed"] += 1
                        if len(failures) < MAX_REPORTED_FAILURES:
                            failures.append(_failure(candidate, error))
                        log.error("snapshot %s not archived, skipped: %s", candidate.id, error)
                        cursor = candidate.id
                        continue
                step = SweepStep(
                    snapshot_id=candidate.id,
                    archive=record,
                    delete=item.action == Action.DELETE,
                    reason={"policy": item.reason},
                )
                pending.append((candidate, step))
            cursor = candidate.id
            if len(pending) >= batch or done % (batch * 10) == 0:
                self._commit(pending, counts, state.id, cursor, on_step)
            if on_item is not None:
                on_item(done, total)
        self._commit(pending, counts, state.id, cursor, on_step)
        cleaned = self._clean_orphans() if orphans else Counter[str]()
        counts.update(cleaned)
        self.store.save_sweep(state.id, cursor=cursor, counts=counts, finished=True)
        return SweepReport(
            as_of=as_of,
            counts={k: v for k, v in counts.items() if not k.startswith(("orphan", "done_"))},
            sweep_id=state.id,
            resumed=state.resumed,
            archived=counts["done_archived"],
            deleted=counts["done_deleted"],
            blocked=counts["done_blocked"],
            orphan_blobs=counts["orphan_blobs"],
            orphan_manifests=counts["orphan_manifests"],
            orphan_objects=counts["orphan_objects"],
            failed=counts["done_failed"],
            failures=tuple(failures),
        )

    def _commit(
        self,
        pending: list[tuple[RetentionCandidate, SweepStep]],
        counts: Counter[str],
        sweep_id: str,
        cursor: str | None,
        on_step: StepCallback | None,
    ) -> None:
        """Record the archives and deletions of a batch, and the sweep's progress up to
        ``cursor``, in one store transaction (a kill after it loses no count)."""
        if not pending:
            self.store.save_sweep(sweep_id, cursor=cursor, counts=counts, finished=False)
            return
        # The records as they were, for the observers (a deleted row is gone after).
        records = (
            {step.snapshot_id: self.store.get_record_by_id(step.snapshot_id) for _, step in pending}
            if self._notify is not None
            else {}
        )
        steps = [step for _, step in pending]
        results = self.store.apply_steps(
            steps,
            require_archive=self.policy.archive_before_delete,
            by=self.actor,
            progress=SweepProgress(sweep_id=sweep_id, cursor=cursor, counts=dict(counts)),
        )
        counts.update(step_counts(steps, results))
        for (candidate, step), result in zip(pending, results, strict=True):
            record = records.get(step.snapshot_id)
            if result.archived:
                if step.archive is not None:
                    self._tell(
                        EventKind.ARCHIVED,
                        record,
                        {
                            "object_key": step.archive.object_key,
                            "archive_url": step.archive.archive_url,
                        },
                    )
                if on_step is not None:
                    on_step("archived", candidate)
            if result.outcome.deleted:
                self._tell(EventKind.DELETED, record, dict(step.reason))
                if on_step is not None:
                    on_step("deleted", candidate)
        pending.clear()

    def _tell(self, kind: str, record: SnapshotRecord | None, data: Mapping[str, Any]) -> None:
        if self._notify is not None and record is not None:
            self._notify(kind, record, data)

    def archive_one(self, snapshot_id: str) -> ArchiveRecord:
        """Archive one snapshot now (it stays in the store); returns its archive record."""
        existing = self.store.get_archive(snapshot_id, tenant=self.tenant)
        if existing is not None:
            return existing
        candidate = self.store.get_candidate(snapshot_id, tenant=self.tenant)
        if candidate is None:
            raise SnapshotNotFound(f"no snapshot with id {snapshot_id!r}")
        self._require_archive()
        with self.store.sweep_lock(owner=_owner()):
            record = self._write_archive(candidate, None, reuse=True)
            if self.store.record_archive(record, by=self.actor):
                self._tell(
                    EventKind.ARCHIVED,
                    self.store.get_record_by_id(snapshot_id),
                    {"object_key": record.object_key, "archive_url": record.archive_url},
                )
        found = self.store.get_archive(snapshot_id)
        if found is None:  # pragma: no cover - recorded just above
            raise StoreError(f"snapshot {snapshot_id}: its archive record is missing")
        return found

    def _write_archive(
        self, candidate: RetentionCandidate, on_step: StepCallback | None, *, reuse: bool = False
    ) -> ArchiveRecord:
        """Write a snapshot's archive object; returns the record to store for it.

        :param reuse: first look for an object an interrupted run wrote at the
            snapshot's key for the same row, and record it instead of a new one.
        """
        archive = self._require_archive()
        exported = self.store.export_snapshot(candidate.id)
        key = archive_key(
            prefix=self.policy.archive_prefix,
            tenant=candidate.tenant,
            pipeline_id=candidate.pipeline_id,
            created_on=candidate.created_on,
            snapshot_id=candidate.id,
        )
        earlier = _written_before(archive, key, exported) if reuse else None
        if earlier is not None:
            data, archived_on = earlier
        else:
            base = exported.base

            def get_blob(content_hash: str) -> Any:
                if base is not None and base.content_hash == content_hash:
                    return base
                # a chain of deltas written before bases had to be whole blobs
                return self.store.get_blob(content_hash)

            canonical = codec.decode_blob(exported.blob, get_blob)
            archived_on = utcnow()
            data = build_object(exported, canonical, archived_on=archived_on)
            archive.put(key, data)
            if on_step is not None:
                on_step("object-written", candidate)
        verdict = self.policy.archive_verdict(candidate.labels, archived_on)
        return ArchiveRecord(
            snapshot_id=candidate.id,
            tenant=candidate.tenant,
            workflow_id=candidate.workflow_id,
            workflow_type=candidate.workflow_type,
            pipeline_id=candidate.pipeline_id,
            status=str(exported.row["status"]),
            created_on=candidate.created_on,
            archived_on=archived_on,
            archive_url=archive.url,
            object_key=key,
            object_sha256=object_sha256(data),
            object_size=len(data),
            content_hash=candidate.content_hash,
            record_digest=exported.record_digest,
            labels=dict(candidate.labels),
            expires_on=verdict.expires_on,
            retention_reason=verdict.reason,
        )

    def _check_archive(self) -> None:
        """Before a sweep starts: an archive is configured if the policy archives."""
        if self.policy.archive_before_delete or any(
            rule.archive == Archive.IMMEDIATELY for rule in self.policy.rules
        ):
            self._require_archive()

    def _require_archive(self) -> ArchiveStore:
        if self.archive is None:
            raise ConfigurationError(
                "retention must archive snapshots but no archive is configured: set "
                "archive_url in [tool.wfaudit.retention] (or WFAUDIT_ARCHIVE_URL), or "
                "archive_before_delete = false to delete without archiving"
            )
        return self.archive

    # -- archive expiry ------------------------------------------------------------------

    def judge_archive(
        self,
        record: ArchiveRecord,
        labels: Mapping[str, str] | None,
        as_of: _dt.datetime,
        holds: list[LegalHold],
    ) -> tuple[ArchiveItem, ArchiveVerdict | None]:
        """The fate of one archive record at ``as_of``, and the policy's verdict on
        it (None for a manual date, which sweeps leave as it is)."""
        verdict = None
        expires_on, why = record.expires_on, "set by an operator"
        reason = record.retention_reason or ArchiveRetention.TTL
        if labels is None:
            return self._archive_item(
                record,
                expires_on,
                reason,
                ArchiveAction.UNREADABLE,
                "its labels are unknown and its object does not read",
            ), None
        if record.retention_reason != ArchiveRetention.MANUAL:
            verdict = self.policy.archive_verdict(labels, record.archived_on)
            expires_on, reason, why = verdict.expires_on, verdict.reason, verdict.basis
        if expires_on is None or expires_on > as_of:
            until = "indefinitely" if expires_on is None else f"until {expires_on:%Y-%m-%d}"
            item = self._archive_item(
                record, expires_on, reason, ArchiveAction.KEEP, f"kept {until} ({why})"
            )
            return item, verdict
        due = f"expired {expires_on:%Y-%m-%d} ({why})"
        if record.present:
            action, text = ArchiveAction.IN_STORE, f"the snapshot is in the store; {due}"
        else:
            action, text = ArchiveAction.EXPIRE, due
            for hold in holds:
                if hold_covers(
                    hold,
                    snapshot_id=record.snapshot_id,
                    tenant=record.tenant,
                    pipeline_id=record.pipeline_id,
                    labels=labels,
                ):
                    action = ArchiveAction.HOLD
                    text = f"legal hold {hold.id} ({hold.scope} {hold.target}); {due}"
                    break
        return self._archive_item(record, expires_on, reason, action, text), verdict

    @staticmethod
    def _archive_item(
        record: ArchiveRecord,
        expires_on: _dt.datetime | None,
        reason: str,
        action: ArchiveAction,
        text: str,
    ) -> ArchiveItem:
        return ArchiveItem(
            snapshot_id=record.snapshot_id,
            tenant=record.tenant,
            pipeline_id=record.pipeline_id,
            workflow_type=record.workflow_type,
            object_key=record.object_key,
            object_size=record.object_size,
            expires_on=expires_on,
            retention_reason=reason,
            action=action,
            reason=text,
        )

    def expire(
        self, *, dry_run: bool = False, on_item: Callable[[ArchiveItem], None] | None = None
    ) -> ExpiryReport:
        """Delete the archive objects past their retention date, holding the sweep lock.

        Every archive record (of the tenant) is judged: a manual date stays as
        it is; any other gets the date the policy says now (``archive_keep``, or
        the longest of the matching rules'), refreshed in its record when it
        changed. A record past its date is expired, unless an active legal hold
        covers it or its snapshot is in the store: one store transaction checks
        both again, deletes the record and appends ``archive.expired``; then the
        object is deleted (an object left by a kill in between is an orphan that
        the cleanup deletes). With ``dry_run`` nothing is written.

        :raises SweepBusy: another sweep is running.
        """
        with self.store.sweep_lock(owner=_owner()):
            return self._expire_locked(dry_run=dry_run, on_item=on_item)

    def _expire_locked(
        self, *, dry_run: bool, on_item: Callable[[ArchiveItem], None] | None = None
    ) -> ExpiryReport:
        as_of = utcnow()
        holds = self.store.list_holds(tenant=self.tenant)
        counts: Counter[str] = Counter()
        items: list[ArchiveItem] = []
        for record in self.store.iter_archives(tenant=self.tenant):
            counts["examined"] += 1
            labels = record.labels
            learnt = False
            if labels is None:
                labels = self._labels_from_object(record)
                learnt = labels is not None
            item, verdict = self.judge_archive(record, labels, as_of, holds)
            if on_item is not None:
                on_item(item)
            if (
                not dry_run
                and verdict is not None
                and (
                    learnt
                    or verdict.expires_on != record.expires_on
                    or verdict.reason != record.retention_reason
                )
            ):
                self.store.set_archive_retention(
                    record.snapshot_id,
                    expires_on=verdict.expires_on,
                    reason=verdict.reason,
                    by=self.actor,
                    labels=labels if learnt else None,
                    event=False,
                )
                counts["dated"] += 1
            if item.action == ArchiveAction.KEEP:
                counts["kept"] += 1
                continue
            if item.action == ArchiveAction.EXPIRE and not dry_run:
                target = self._archive_for(record.archive_url)  # before anything is written
                blocked = self.store.expire_archive(
                    record.snapshot_id,
                    object_key=record.object_key,
                    by=self.actor,
                    data={"reason": item.reason},
                )
                if blocked is not None:
                    # Found in the transaction: a hold placed, a snapshot restored, or
                    # the record changed since it was read (then the next sweep judges it).
                    if blocked.startswith("legal hold"):
                        action = ArchiveAction.HOLD
                    elif blocked.startswith("the snapshot is in the store"):
                        action = ArchiveAction.IN_STORE
                    else:
                        action = ArchiveAction.KEEP
                    item = attrs.evolve(item, action=action, reason=f"{blocked}; {item.reason}")
                else:
                    try:
                        target.delete(record.object_key)
                    except StoreUnavailable:
                        raise
                    except StoreError as error:
                        # The record is gone: the object is an orphan the cleanup retries.
                        log.error("archive object %s not deleted: %s", record.object_key, error)
            counts["kept" if item.action == ArchiveAction.KEEP else item.action.value] += 1
            if item.action == ArchiveAction.EXPIRE:
                counts["bytes_freed"] += record.object_size
            if len(items) < MAX_REPORTED_FAILURES * 10:
                items.append(item)
        return ExpiryReport(
            as_of=as_of,
            dry_run=dry_run,
            examined=counts["examined"],
            expired=counts[ArchiveAction.EXPIRE.value],
            bytes_freed=counts["bytes_freed"],
            held=counts[ArchiveAction.HOLD.value],
            in_store=counts[ArchiveAction.IN_STORE.value],
            kept=counts["kept"],
            dated=counts["dated"],
            failed=counts[ArchiveAction.UNREADABLE.value],
            items=tuple(items),
        )

    def _labels_from_object(self, record: ArchiveRecord) -> dict[str, str] | None:
        """The labels an archive object's header keeps (checked against its record's
        SHA-256), for a record made before the records kept them; None if unreadable."""
        try:
            data = self._archive_for(record.archive_url).get(record.object_key)
        except StoreUnavailable:
            raise
        except (StoreError, ConfigurationError):
            return None
        if object_sha256(data) != record.object_sha256:
            return None
        try:
            labels = parse_object(data, where=record.object_key).row.get("labels")
        except StoreError:
            return None
        if not isinstance(labels, Mapping):
            return None
        return {str(key): str(value) for key, value in labels.items()}

    def keep_archive(
        self,
        snapshot_id: str,
        *,
        until: _dt.datetime | None = None,
        forever: bool = False,
        note: str | None = None,
        by: str | None = None,
    ) -> ArchiveRecord:
        """Set an archive's retention date by hand (``until``, or ``forever``: reason
        ``manual``, which sweeps leave as it is), or, with neither, give it back to
        the policy; appends ``archive.retention_set`` to the trail.

        :raises SnapshotNotFound: the snapshot has no archive record.
        """
        if until is not None and forever:
            raise InvalidRequest("an archive is kept until a date or forever, not both")
        record = self.store.get_archive(snapshot_id, tenant=self.tenant)
        if record is None:
            raise SnapshotNotFound(
                f"snapshot {snapshot_id!r} has no archive record "
                "(`wfaudit log --archived` lists the archived snapshots)"
            )
        labels = record.labels
        if until is not None or forever:
            expires_on, reason = until, ArchiveRetention.MANUAL
        else:
            if labels is None:
                labels = self._labels_from_object(record)
            verdict = self.policy.archive_verdict(labels or {}, record.archived_on)
            expires_on, reason = verdict.expires_on, verdict.reason
        return self.store.set_archive_retention(
            snapshot_id,
            expires_on=expires_on,
            reason=reason,
            by=by or self.actor,
            note=note,
            tenant=self.tenant,
            labels=labels if record.labels is None else None,
        )

    # -- one scheduled cycle -------------------------------------------------------------

    def run_cycle(self, *, batch: int = 100) -> CycleResult:
        """One cycle of ``wfaudit retention run``, under the sweep lock: the sweep of
        the store (archive, then delete), the expiry of the archive, the orphan
        cleanup; recorded in the store (``retention_runs``, the last successful
        one being what the metrics and alerts watch) and told to the
        ``on_run`` observers, failed or not.

        A cycle fails when something stops it (the store or the archive cannot be
        reached, the policy needs an archive and none is configured) or when a
        snapshot or an archive object could not be handled; a failed cycle is
        recorded with its error and the next cycle resumes.

        :raises SweepBusy: another sweep holds the lock (nothing is recorded:
            the cycle did not run).
        """
        owner = _owner()
        started = utcnow()
        result: CycleResult | None = None
        try:
            with self.store.sweep_lock(owner=owner):
                result = self._cycle(owner, batch)
        except SweepBusy:
            raise
        except Exception as exc:  # the lock could not be taken or released: the store is down
            run = (
                result.run
                if result is not None
                else RetentionRun(
                    id=_run_id(),
                    tenant=self.tenant,
                    started_on=started,
                    finished_on=None,
                    ok=False,
                    owner=owner,
                )
            )
            error = str(exc) if isinstance(exc, WfauditError) else _unexpected(exc)
            run = attrs.evolve(run, finished_on=utcnow(), ok=False, error=error)
            result = CycleResult(
                run=run,
                sweep=None if result is None else result.sweep,
                expiry=None if result is None else result.expiry,
            )
        if self._on_run is not None:
            self._on_run(result.run)
        return result

    def _cycle(self, owner: str, batch: int) -> CycleResult:
        """:meth:`run_cycle`'s work, the caller holding the sweep lock."""
        run = RetentionRun(
            id=_run_id(),
            tenant=self.tenant,
            started_on=utcnow(),
            finished_on=None,
            ok=False,
            owner=owner,
        )
        with _logged("the start of retention run %s is not recorded", run.id):
            self.store.record_run(run)
        sweep: SweepReport | None = None
        expiry: ExpiryReport | None = None
        error: str | None = None
        try:
            self._check_archive()
            sweep = self._apply_locked(orphans=False, batch=batch, on_item=None, on_step=None)
            expiry = self._expire_locked(dry_run=False)
            cleaned = self._clean_orphans()
        except Exception as exc:  # every failure of a cycle is reported, then survived
            error = str(exc) if isinstance(exc, WfauditError) else _unexpected(exc)
            cleaned = Counter()
        counts = _cycle_counts(sweep, expiry, cleaned)
        if error is None and counts["failed"]:
            error = (
                f"{counts['failed']} snapshot(s) or archive object(s) could not be "
                "handled (`wfaudit retention apply` / `expire --dry-run` list them)"
            )
        run = attrs.evolve(
            run, finished_on=utcnow(), ok=error is None, counts=dict(counts), error=error
        )
        with _logged("the end of retention run %s is not recorded", run.id):
            self.store.record_run(run)
        return CycleResult(run=run, sweep=sweep, expiry=expiry)

    # -- restoring and cleaning up ------------------------------------------------------

    def restore(self, snapshot_id: str, *, by: str | None = None) -> RestoreResult:
        """Bring an archived snapshot back into the store, checking every hash.

        The object's SHA-256 must match its archive record, the config its content
        hash, and the row the digest its ``snapshot.audited`` event sealed.

        :raises SnapshotNotFound: the snapshot has no archive record (or object).
        :raises StoreError: a hash does not match: the object was changed.
        """
        record = self.store.get_archive(snapshot_id, tenant=self.tenant)
        if record is None:
            raise SnapshotNotFound(
                f"snapshot {snapshot_id!r} has no archive record "
                "(`wfaudit log --archived` lists the archived snapshots)"
            )
        if record.present:
            return RestoreResult(
                snapshot_id=snapshot_id,
                restored=False,
                object_key=record.object_key,
                content_hash=record.content_hash,
            )
        archive = self._archive_for(record.archive_url)
        data = archive.get(record.object_key)
        if object_sha256(data) != record.object_sha256:
            raise StoreError(
                f"archive object {record.object_key} does not match the SHA-256 its record "
                "keeps: it was changed after archiving"
            )
        parsed = parse_object(data, where=record.object_key)
        if (
            parsed.content_hash != record.content_hash
            or parsed.record_digest != record.record_digest
        ):
            raise StoreError(
                f"archive object {record.object_key} is not the one recorded for {snapshot_id}"
            )
        restored = self.store.restore_snapshot(
            parsed.row, parsed.blob(), record_digest=parsed.record_digest, by=by or self.actor
        )
        if restored:
            self._tell(
                EventKind.RESTORED,
                self.store.get_record_by_id(snapshot_id),
                {"object_key": record.object_key},
            )
        return RestoreResult(
            snapshot_id=snapshot_id,
            restored=restored,
            object_key=record.object_key,
            content_hash=record.content_hash,
        )

    def _archive_for(self, url: str) -> ArchiveStore:
        if self.archive is not None and self.archive.url == url:
            return self.archive
        if self._open_other is None:
            raise ConfigurationError(
                f"the snapshot was archived to {url}, which is not the configured archive"
            )
        opened = self._others.get(url)
        if opened is None:
            opened = self._others[url] = self._open_other(url)
        return opened

    def clean_orphans(self, *, objects: bool = True) -> Counter[str]:
        """Delete blobs no snapshot uses, manifests none names, and this store's
        orphan archive objects (under this policy's prefix and tenant), holding the
        sweep lock; returns the counts.

        An archive object is deleted only when it is this store's (its snapshot is
        one the store's audit trail knows, and its header names that snapshot), no
        archive record names its key, and its header says it was written more than
        the policy's ``orphan_grace`` ago. Objects of other stores sharing the
        archive, objects a sweep is writing right now, and keys outside the layout
        or that are no archive object are left alone.

        :raises SweepBusy: a sweep is running.
        """
        with self.store.sweep_lock(owner=_owner()):
            return self._clean_orphans(objects=objects)

    def _clean_orphans(self, *, objects: bool = True) -> Counter[str]:
        counts: Counter[str] = Counter()
        while True:
            # Deleting an orphan delta can make its base an orphan: go again.
            removed = sum(self.store.delete_orphan_blob(h) for h in self.store.orphan_blobs())
            counts["orphan_blobs"] += removed
            if not removed:
                break
        counts["orphan_manifests"] += self.store.delete_orphan_manifests()
        if objects and self.archive is not None:
            counts["orphan_objects"] += self._clean_objects(self.archive)
        return counts

    def _clean_objects(self, archive: ArchiveStore) -> int:
        prefix = tenant_prefix(self.policy.archive_prefix, self.tenant)
        cutoff = utcnow() - self.policy.orphan_grace
        removed = 0
        chunk: list[tuple[str, str]] = []

        def flush() -> int:
            known = self.store.known_archive_keys(
                [key for key, _ in chunk], snapshot_ids=[sid for _, sid in chunk]
            )
            unrecorded = [(key, sid) for key, sid in chunk if key not in known]
            chunk.clear()
            if not unrecorded:
                return 0
            ours = self.store.known_snapshot_ids([sid for _, sid in unrecorded], tenant=self.tenant)
            gone = 0
            for key, sid in unrecorded:
                if sid in ours and _stale_object(archive, key, sid, cutoff):
                    archive.delete(key)
                    gone += 1
            return gone

        for key in archive.iter_keys(prefix):
            snapshot_id = snapshot_id_of_key(key)
            if snapshot_id is None:
                continue  # outside the layout: not ours to judge
            chunk.append((key, snapshot_id))
            if len(chunk) >= 500:
                removed += flush()
        if chunk:
            removed += flush()
        return removed


def _cycle_counts(
    sweep: SweepReport | None, expiry: ExpiryReport | None, cleaned: Counter[str]
) -> Counter[str]:
    counts: Counter[str] = Counter()
    if sweep is not None:
        counts.update(
            archived=sweep.archived,
            deleted=sweep.deleted,
            blocked=sweep.blocked,
            failed=sweep.failed,
        )
    if expiry is not None:
        counts.update(
            expired=expiry.expired,
            bytes_freed=expiry.bytes_freed,
            archives_held=expiry.held,
            failed=expiry.failed,
        )
    counts.update(cleaned)
    return counts


def _run_id() -> str:
    return f"run-{os.urandom(10).hex()}"


def _unexpected(exc: BaseException) -> str:
    # The message of an unexpected error could quote data: name the type only.
    return f"unexpected {type(exc).__name__} (run `wfaudit retention apply` to see it)"


class _logged:
    """Log (and swallow) a store error: recording a run must not hide the run's own
    outcome, which the observers still hear of."""

    def __init__(self, message: str, *args: object) -> None:
        self.message, self.args = message, args

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any
    ) -> bool:
        if exc is None or not isinstance(exc, WfauditError):
            return False
        log.error(self.message + ": %s", *self.args, exc)
        return True


def _failure(candidate: RetentionCandidate, error: Exception) -> SweepFailure:
    return SweepFailure(
        snapshot_id=candidate.id,
        tenant=candidate.tenant,
        pipeline_id=candidate.pipeline_id,
        error=str(error),
    )


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _read_object(archive: ArchiveStore, key: str) -> ArchiveObject | None:
    """The archive object at ``key``, or None: no object, or not a whole archive object."""
    try:
        return parse_object(archive.get(key), where=key)
    except StoreError:  # SnapshotNotFound too
        return None


def _written_before(
    archive: ArchiveStore, key: str, exported: ExportedSnapshot
) -> tuple[bytes, _dt.datetime] | None:
    """The bytes and ``archived_on`` of an object an interrupted run wrote at ``key``
    for this very snapshot row, or None (then the object is written anew)."""
    try:
        data = archive.get(key)
    except SnapshotNotFound:
        return None
    try:
        parsed = parse_object(data, where=key)
    except StoreError:
        return None
    when = parsed.archived_on
    if when is None or parsed.record_digest != exported.record_digest:
        return None
    if canonical_json(dict(parsed.row)) != canonical_json(dict(exported.row)):
        return None  # the row changed since (its status, say): write it anew
    return data, when


def _stale_object(archive: ArchiveStore, key: str, snapshot_id: str, cutoff: _dt.datetime) -> bool:
    """The object at ``key`` is an archive object of ``snapshot_id`` written before
    ``cutoff`` (a newer one may be a sweep's, about to be recorded)."""
    parsed = _read_object(archive, key)
    if parsed is None or parsed.row.get("id") != snapshot_id:
        return False
    when = parsed.archived_on
    return when is not None and when < cutoff


# -- scheduling ---------------------------------------------------------------------------

_EVERY = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_EVERY_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> _dt.timedelta:
    """The period of ``retention run --every``: ``30s``, ``15m``, ``1h``, ``1d``.

    :raises ConfigurationError: anything else, or less than a minute.
    """
    match = _EVERY.match(str(text).lower())
    if match is None:
        raise ConfigurationError(
            f"--every {text!r} is not a period: write 15m, 1h, 6h or 1d (s, m, h, d)"
        )
    period = _dt.timedelta(seconds=int(match.group(1)) * _EVERY_UNITS[match.group(2)])
    if period < _dt.timedelta(minutes=1):
        raise ConfigurationError(f"--every {text!r} is shorter than a minute")
    return period


def run_every(
    sweeper: Sweeper,
    every: _dt.timedelta,
    *,
    cycles: int | None = None,
    clock: Callable[[], _dt.datetime] = utcnow,
    sleep: Callable[[float], None] | None = None,
    on_cycle: Callable[[CycleResult, _dt.datetime], None] | None = None,
    on_busy: Callable[[SweepBusy, _dt.datetime], None] | None = None,
) -> int:
    """Run :meth:`Sweeper.run_cycle` every ``every``, ``cycles`` times (None: until
    interrupted); returns how many cycles ran.

    Cycles start on a fixed grid (start, start + every, ...): a cycle that takes
    longer than ``every`` makes the next start at once, and missed starts are
    not made up. A cycle that finds the sweep lock taken (another runner, an
    ``apply``) is skipped and ``on_busy`` told (with the next start); a failed
    cycle is recorded and reported by :meth:`Sweeper.run_cycle` and the loop
    goes on.

    :param clock: what "now" is (the tests move a simulated clock).
    :param sleep: waits a number of seconds (default :func:`time.sleep`).
    """
    import time

    wait = time.sleep if sleep is None else sleep
    done = 0
    attempts = 0
    start = clock()
    due = start
    while cycles is None or attempts < cycles:
        now = clock()
        if now < due:
            wait((due - now).total_seconds())
            continue
        while due <= now:
            due += every
        attempts += 1
        try:
            result = sweeper.run_cycle()
        except SweepBusy as busy:
            if on_busy is not None:
                on_busy(busy, due)
            continue
        done += 1
        if on_cycle is not None:
            on_cycle(result, due)
    return done
