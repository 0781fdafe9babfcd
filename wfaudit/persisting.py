"""Persisting: an audit's record into the store, its conflicts, and the spool's replay.

:meth:`Persisting.save` is the last stage of an audit (after
:mod:`wfaudit.pipeline` built the record): the record is encoded (a delta when
it can be), handed to the persist stage (``wfaudit_persist``, which the
built-in spool plugin wraps: a store failure is spooled), and a new snapshot
is told to the ``wfaudit_event`` observers. A second, different trigger of a
stored run is refused, and kept as evidence on the stored snapshot's trail
(:mod:`wfaudit.conflicts`). :meth:`Persisting.persist_now` persists without
spooling: the drain replays the spool through it (:meth:`Persisting.drain`),
and a retrigger records its new run with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from wfaudit_hookspecs import (
    AuditResult,
    Blob,
    DeltaBaseUnavailable,
    EventKind,
    PluginError,
    SaveResult,
    SnapshotConflict,
    SnapshotRecord,
    Store,
    StoreMaintenance,
    TriggerKind,
    WfauditError,
)

from . import codec
from .deltas import DeltaEncoder
from .host import EngineHost
from .pipeline import Stage
from .settings import Settings
from .spool import (
    SPOOL,
    DrainReport,
    Spool,
    SpoolService,
    drain_other_spools,
    drainer_of,
    is_spoolable,
)

__all__ = ["Persisting", "retriggered_run"]

log = logging.getLogger("wfaudit")


class Persisting:
    """How one auditor persists: its store, persist stage, delta encoder and spool.

    :param store: the auditor's store.
    :param host: the auditor's host (its hooks, and the stash where the built-in
        spool plugin keeps the :class:`~wfaudit.spool.SpoolService`).
    :param settings: the auditor's settings (strict mode, tenant, data directory).
    :param encoder: the auditor's delta encoder.
    :param check_key: refuses to write with a fingerprint key the store does not use.
    """

    def __init__(
        self,
        store: Store,
        host: EngineHost,
        settings: Settings,
        encoder: DeltaEncoder,
        check_key: Callable[[], None],
    ) -> None:
        self.store = store
        self.host = host
        self.hooks = host.hooks
        self.settings = settings
        self.encoder = encoder
        self._check_key = check_key
        self._spare_spool: Spool | None = None

    # -- an audit ---------------------------------------------------------------

    def save(
        self, record: SnapshotRecord, canonical: bytes, stage: Stage, *, imported: bool = False
    ) -> AuditResult:
        """Encode and persist an audit's record; a store failure may be spooled
        (never for an import, ``imported``, nor in strict mode)."""
        masked = len(record.manifest.fields)
        blob = self.encoder.encode(record, canonical)

        stage.name = "persist"
        try:
            try:
                saved = self.persist(record, blob, spool=not imported)
            except DeltaBaseUnavailable:
                # The base this process remembered is not stored whole any more
                # (retention deleted it since): store this snapshot whole instead.
                self.encoder.unusable(record, blob)
                blob = self.encoder.whole(record, canonical)
                saved = self.persist(record, blob, spool=not imported)
        except SnapshotConflict as conflict:
            if imported:  # an import meets a run stored already: no evidence
                raise
            child = retriggered_run(self.store, record)
            if child is not None:
                return AuditResult(ok=True, ref=child.ref, created=False, masked=masked)
            raise self.conflict(conflict, record, blob) from None
        if not isinstance(saved, SaveResult):
            raise PluginError(f"the persist stage returned {type(saved).__name__}, not SaveResult")
        if not saved.spooled:
            self.encoder.stored(record, blob, canonical)
        if saved.created and not saved.spooled:
            self._audited(record)
        return AuditResult(
            ok=True, ref=saved.ref, created=saved.created, masked=masked, spooled=saved.spooled
        )

    def persist(self, record: SnapshotRecord, blob: Blob, *, spool: bool = True) -> SaveResult:
        """The persist stage; a store failure may be spooled.

        Only the non-blocking audit spools: in strict mode (and for an import,
        ``spool=False``) a store failure is the caller's to see.
        """
        saved = self.hooks.persist(
            record, blob, self.store, host=self.host, spool=spool and not self.settings.strict
        )
        service = self.spool_service
        if service is not None and not saved.spooled:
            service.drainer.after_success()  # may start a background drain; never waits
        return saved

    def conflict(
        self, conflict: SnapshotConflict, record: SnapshotRecord, blob: Blob
    ) -> SnapshotConflict:
        """Keep a conflicting trigger as evidence on the stored snapshot's trail
        (:mod:`wfaudit.conflicts`); the conflict is still the audit's result."""
        from . import conflicts  # only a conflict needs it (a trigger's start-up)

        try:
            event = conflicts.record_conflict(self.store, record, spooled=False)
        except Exception as error:
            if self.settings.strict or not is_spoolable(error):
                log.error(
                    "the conflicting trigger of %s %s could not be recorded: %s",
                    record.workflow_type,
                    record.workflow_id,
                    error if isinstance(error, WfauditError) else type(error).__name__,
                )
                return conflict
            # The store failed between the two: the drain records it later.
            path = self.spool.write(record, blob)
            log.warning(
                "the conflicting trigger of %s %s is spooled to %s to be recorded later",
                record.workflow_type,
                record.workflow_id,
                path.parent,
            )
            return conflict
        if event is None:
            return conflict
        return SnapshotConflict(
            f"{conflict}; this trigger is recorded as evidence on the trail of snapshot "
            f"{event.subject} (wfaudit show --id {event.subject})"
        )

    def persist_now(self, record: SnapshotRecord, blob: Blob) -> SaveResult:
        """Persist a record and its blob through the persist stage, never spooling:
        a store failure is raised. The drain replays spooled snapshots with it, and
        a retrigger records its new run; a new snapshot is reported to the
        ``wfaudit_event`` observers."""
        self._check_key()
        try:
            try:
                saved = self.hooks.persist(record, blob, self.store, host=self.host, spool=False)
            except DeltaBaseUnavailable:
                # A delta spooled by an older wfaudit whose base is gone or not whole:
                # stored whole if its base chain can still be read, else refused.
                whole = self.encoder.standalone(blob)
                if not codec.is_whole(whole):
                    raise
                saved = self.hooks.persist(record, whole, self.store, host=self.host, spool=False)
        except SnapshotConflict:
            from . import conflicts

            # Recorded before the drain quarantines the file (once, however often
            # the file is retried); a failure to record it is the drain's to report.
            conflicts.record_conflict(self.store, record, spooled=True)
            raise
        if saved.created and not saved.spooled:
            self._audited(record)
        return saved

    def _audited(self, record: SnapshotRecord) -> None:
        self.host.notify(EventKind.AUDITED, record, {})

    # -- the durable spool (wfaudit.spool) ----------------------------------------

    @property
    def spool_service(self) -> SpoolService | None:
        """The host's spool, breaker and drainer (None: the spool plugin is blocked)."""
        return self.host.stash.get(SPOOL, None)

    @property
    def spool(self) -> Spool:
        """The host's spool directory (read even when nothing spools to it)."""
        service = self.spool_service
        if service is not None:
            return service.spool
        if self._spare_spool is None:
            self._spare_spool = Spool(self.host.spool_root, self.settings.store_url)
        return self._spare_spool

    @property
    def circuit_open(self) -> bool:
        """Whether audits go straight to the spool (the store failed moments ago)."""
        service = self.spool_service
        return service is not None and service.breaker.is_open()

    def whole_blob(self, record: SnapshotRecord, canonical: bytes) -> Blob:
        """The blob of ``record`` compressed whole (no delta base)."""
        return self.encoder.whole(record, canonical)

    def standalone(self, blob: Blob) -> Blob:
        """``blob`` made whole: a spooled snapshot must not depend on a delta base."""
        return self.encoder.standalone(blob)

    def probe_store(self) -> None:
        """Raise unless the store takes writes (the spool's drainer asks)."""
        if isinstance(self.store, StoreMaintenance):
            self.store.ping(write=True)

    def drain_spool(self, *, limit: int | None = None, wait: float = 30.0) -> DrainReport:
        """Replay the spooled snapshots (of this auditor's tenant) into the store.

        Oldest first; a file is removed once the store confirmed it. Stops at
        the first store failure. Waits up to ``wait`` seconds for another
        process that is draining the same spool.
        """
        service = self.spool_service
        if service is not None:
            return service.drainer.drain(limit=limit, wait=wait)
        return drainer_of(self.spool, self, tenant=self.settings.tenant).drain(
            limit=limit, wait=wait
        )

    def drain_spools(self, *, limit: int | None = None, wait: float = 30.0) -> DrainReport:
        """Replay this auditor's spool, then every other spool of this store in the
        data directory (:func:`wfaudit.spool.spool_roots`: the default one and each
        worker's of ``wfaudit serve --workers N``), as one report.

        Any process may drain any of them: each spool's drain lock keeps two
        drainers apart, and a replay the store already has is a no-op. So the
        files of a worker that died, or of a slot no longer run, are not stranded.
        ``limit`` counts the files of each spool; a spool another process is
        draining is waited for up to ``wait`` seconds, then reported ``busy``.
        """
        first = self.drain_spool(limit=limit, wait=wait)
        return drain_other_spools(
            first,
            self.settings.home / "spool",
            self.spool.root,
            self,
            store_url=self.settings.store_url,
            tenant=self.settings.tenant,
            limit=limit,
            wait=wait,
        )


def retriggered_run(store: Store, record: SnapshotRecord) -> SnapshotRecord | None:
    """The stored new run of a retrigger that this audit is the orchestrator's own
    audit of, or None.

    A retrigger records its new run (``parent``, ``attempt``, kind ``retry``)
    before launching it; the orchestrator then audits the run it launched, as it
    audits every run, without knowing the lineage. That audit is the same audit
    (same content, pipeline, labels and ``triggered_by``) and links to the
    parent through the stored run; an audit that names a lineage of its own is
    held to it exactly.
    """
    if record.parent is not None or record.attempt != 1:
        return None
    if record.trigger_kind not in (TriggerKind.MANUAL, TriggerKind.RETRY):
        return None
    stored = store.get_record(
        workflow_id=record.workflow_id, workflow_type=record.workflow_type, tenant=record.tenant
    )
    if stored is None or stored.parent is None or stored.trigger_kind is not TriggerKind.RETRY:
        return None
    same = (
        stored.content_hash == record.content_hash
        and stored.pipeline_id == record.pipeline_id
        and dict(stored.labels) == dict(record.labels)
        and record.triggered_by in (None, stored.triggered_by)
    )
    return stored if same else None
