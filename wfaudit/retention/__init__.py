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

The package: :mod:`.policy` (the policy and its verdicts, no store),
:mod:`.sweeper` (sweeps, cycles, the schedule), :mod:`.archiving` (archive
objects, their expiry, restores), :mod:`.steps` (what one retention transaction
may do: what blocks a deletion, which events it appends, how a sweep counts, run
over the store's :class:`~wfaudit_hookspecs.retention.RetentionWork` primitives)
and :mod:`.common` (what those share).
"""

from __future__ import annotations

from .archiving import ArchiveAction, ArchiveItem, ArchiveKeeper, ExpiryReport, RestoreResult
from .common import RetentionStore, SweepFailure, retention_store
from .policy import (
    DEFAULT_KEEP,
    Archive,
    ArchiveVerdict,
    RetentionPolicy,
    RetentionRule,
    Verdict,
    parse_duration,
)
from .steps import (
    add_hold,
    apply_steps,
    delete_snapshot,
    expire_archive,
    record_archive,
    release_hold,
    restore_snapshot,
    set_archive_retention,
    step_counts,
)
from .sweeper import Action, CycleResult, PlanItem, Sweeper, SweepReport, parse_every, run_every

__all__ = [
    "DEFAULT_KEEP",
    "Action",
    "Archive",
    "ArchiveAction",
    "ArchiveItem",
    "ArchiveKeeper",
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
    "Verdict",
    "add_hold",
    "apply_steps",
    "delete_snapshot",
    "expire_archive",
    "parse_duration",
    "parse_every",
    "record_archive",
    "release_hold",
    "restore_snapshot",
    "retention_store",
    "run_every",
    "set_archive_retention",
    "step_counts",
]
