"""Retention sweeps: plan what is due, archive and delete it a batch at a time,
resume an interrupted sweep, run unattended cycles on a schedule."""

from __future__ import annotations

import datetime as _dt
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

import attrs

from wfaudit.archive import (
    open_archive,
    url_has_credentials,
)
from wfaudit_hookspecs import (
    ConfigurationError,
    EventKind,
    Store,
    StoreError,
    StoreUnavailable,
    WfauditError,
    utcnow,
)
from wfaudit_hookspecs.retention import (
    ArchiveStore,
    LegalHold,
    RetentionCandidate,
    RetentionRun,
    SweepBusy,
    SweepProgress,
    SweepStep,
    hold_covers,
)

__all__ = [
    "Action",
    "CycleResult",
    "PlanItem",
    "SweepReport",
    "Sweeper",
    "parse_every",
    "run_every",
]

if TYPE_CHECKING:
    from wfaudit.auditor import Auditor
from .archiving import ArchiveKeeper, ExpiryReport
from .common import (
    MAX_REPORTED_FAILURES,
    Notify,
    StepCallback,
    SweepFailure,
    _failure,
    _logged,
    _owner,
    _run_id,
    _unexpected,
    retention_store,
)
from .policy import RetentionPolicy, Verdict
from .steps import apply_steps, step_counts

log = logging.getLogger("wfaudit.retention")


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


@attrs.frozen(kw_only=True)
class CycleResult:
    """One cycle of :meth:`Sweeper.run_cycle`: the run as recorded, and the reports."""

    run: RetentionRun
    sweep: SweepReport | None = None
    expiry: ExpiryReport | None = None


class Sweeper(ArchiveKeeper):
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
        results = apply_steps(
            self.store,
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
