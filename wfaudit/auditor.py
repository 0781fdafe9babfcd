"""The public API: :class:`Auditor`.

An orchestrator creates one auditor per process (``Auditor.from_url()``) and
calls :meth:`Auditor.audit_trigger` every time it triggers a workflow, and
:meth:`Auditor.record_outcome` when the run ends. An audit is
:meth:`Auditor._audit`: the record built by :mod:`wfaudit.pipeline` (checked,
adapted, masked, encoded), then persisted by :mod:`wfaudit.persisting`.

The auditor is the composition root: it builds the modules of one concern each
and hands them what they need -- the pipeline, persisting and the spool
(:mod:`wfaudit.persisting`), the key checks (:mod:`wfaudit.store_keys`), reads
(:mod:`wfaudit.reads`), outcomes and votes (:mod:`wfaudit.outcomes`), replay
(:mod:`wfaudit.retrigger`), imports (:mod:`wfaudit.importing`), tags and the
timeline (:mod:`wfaudit.history`), over the store :mod:`wfaudit.opening` opened
-- and its methods delegate to them.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from wfaudit_hookspecs import (
    Annotation,
    AuditResult,
    Blob,
    DiffShape,
    InvalidRequest,
    SaveResult,
    Snapshot,
    SnapshotRecord,
    Status,
    Store,
    Tag,
    TriggerRequest,
    WfauditError,
    check_record_identities,
)

from . import outcomes as _outcomes
from . import reads as _reads
from . import retrigger as replay
from .deltas import DeltaEncoder
from .host import EngineHost, Hooks
from .keys import FingerprintKeys, load_keys
from .opening import open_store
from .outcomes import Outcome
from .persisting import Persisting
from .pipeline import GENERIC_FORMAT, Origin, Pipeline, Stage, safe_message
from .plugins import PluginManager, make_plugin_manager
from .retry import RetrySettings
from .settings import Settings
from .spool import DrainReport, Spool, SpoolService
from .store_keys import StoreKeys

# Start-up (issue #18): what a trigger does not use -- history, diff, the
# retention model -- is imported by the methods that use it.
if TYPE_CHECKING:
    from wfaudit_hookspecs.retention import RetentionRun

    from . import history as _history
    from .diff import SnapshotDiff

__all__ = ["GENERIC_FORMAT", "AuditFailed", "Auditor", "Origin", "Outcome"]

log = logging.getLogger("wfaudit")


class AuditFailed(WfauditError):
    """An audit failed for a reason that is not a :class:`WfauditError` (strict mode)."""


class Auditor:
    """Audits workflow triggers into a store, through the plugins.

    Use :meth:`from_url` to build one; it is a context manager that closes its
    store. An auditor may be shared by the threads of a process.
    """

    def __init__(
        self,
        store: Store,
        plugin_manager: PluginManager,
        settings: Settings,
        *,
        spool_root: pathlib.Path | None = None,
    ) -> None:
        self.store = store
        self.plugin_manager = plugin_manager
        self.settings = settings
        self.hooks = Hooks(plugin_manager)
        """The typed hook calls (:mod:`wfaudit.host`: the only engine module that calls hooks)."""
        self.keys: FingerprintKeys = load_keys(
            settings.key_file, keyring_target=_keyring_setting(settings)
        )
        self._store_keys = StoreKeys(store, self.keys)
        self.chain_key_id = self._store_keys.chain_key_id
        """The id of the chain key, as the store records it on keyed events."""
        # The stages of an audit up to persisting it (wfaudit.pipeline).
        self._pipeline = Pipeline(
            plugin_manager, settings, self.keys.current, self._store_keys.check
        )
        self.host = EngineHost(
            self.hooks,
            settings=settings.options,
            home=settings.home,
            tenant=settings.tenant,
            store_url=settings.store_url,
            strict=settings.strict,
            store=store,
            workflow_types=lambda: plugin_manager.workflow_types,
            engine=self,
            spool_root=spool_root,
            spool_depth=lambda: self.spool.depth(settings.tenant),
        )
        """The host the plugins were configured with (``wfaudit_configure``)."""
        self._pipeline.host = self.host  # the maskers read their state from its stash
        encoder = DeltaEncoder(
            store, level=settings.zstd_level, rebase_after=settings.delta_rebase_after
        )
        # Persisting, conflicts and the spool (wfaudit.persisting).
        self._persisting = Persisting(store, self.host, settings, encoder, self.check_key)
        self.reads = _reads.Reads(
            store,
            settings.tenant,
            lambda: plugin_manager.workflow_types,
            lambda: plugin_manager.diff_shapes,
        )
        """The reading side (:mod:`wfaudit.reads`)."""
        self.host.configure()

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        *,
        plugins: Sequence[object] = (),
        load_entrypoints: bool = True,
        tenant: str | None = None,
        strict: bool | None = None,
        allow_unmasked: bool | None = None,
        create: bool = True,
        spool_root: pathlib.Path | None = None,
    ) -> Self:
        """Open an auditor on the store at ``url``.

        :param url: a store URL; None takes ``WFAUDIT_STORE_URL``, then the
            settings file, then the embedded SQLite store in the user's data
            directory (``$WFAUDIT_HOME/wfaudit.sqlite3``).
        :param plugins: plugins to register in code, on top of the entry points.
        :param load_entrypoints: load the installed plugins' entry points.
        :param tenant: scope every read and write to this tenant.
        :param strict: raise audit errors instead of returning them (test suites).
        :param allow_unmasked: persist even when no masker plugin is registered.
        :param create: a store that does not exist yet may be created. Pass False
            to only read: a missing store (a typo in the path, an empty
            database) then raises :class:`StoreNotFound` and nothing is created.
        :param spool_root: where this auditor spools (default
            ``$WFAUDIT_HOME/spool``); each worker of ``wfaudit serve --workers N``
            has its own (:func:`wfaudit.spool.worker_spool_root`).
        """
        settings = Settings.load(
            store_url=url, tenant=tenant, strict=strict, allow_unmasked=allow_unmasked
        )
        pm = make_plugin_manager(plugins, load_entrypoints=load_entrypoints)
        return cls(open_store(pm, settings, create=create), pm, settings, spool_root=spool_root)

    def close(self) -> None:
        """Release the plugins' state (``wfaudit_unconfigure``), then close the store."""
        self.host.unconfigure()
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Auditor store={self.store.url!r} tenant={self.settings.tenant!r}>"

    def chain_mac(self, data: bytes, key_id: str | None = None) -> str | None:
        """HMAC-SHA256 (hex) of ``data`` under the chain key (anchor files carry one),
        or under the retired chain key ``key_id`` names (None: no such key here)."""
        return self._store_keys.chain_mac(data, key_id)

    @property
    def workflow_types(self) -> dict[str, str]:
        """The declared workflow types, with their descriptions."""
        return dict(self.plugin_manager.workflow_types)

    @property
    def diff_shapes(self) -> Mapping[str, DiffShape]:
        """The diff shapes the adapters declared, by payload format."""
        return self.plugin_manager.diff_shapes

    # -- auditing ------------------------------------------------------------

    def audit_trigger(self, request: TriggerRequest | None = None, /, **fields: Any) -> AuditResult:
        """Take the snapshot of a trigger.

        Pass a :class:`TriggerRequest`, or its fields as keyword arguments.
        Never raises in the default, non-blocking mode: a failure is logged
        (without secrets), reported to the ``wfaudit_audit_error`` hook and
        returned as ``AuditResult(ok=False, error=...)``. With ``strict`` the
        error is raised instead.

        With auditing switched off (``WFAUDIT_ENABLED=false`` or Devtron's
        ``ENABLE_WORKFLOW_AUDIT=false``) it does nothing and returns
        ``AuditResult(ok=True, disabled=True)``.
        """
        if not self.settings.enabled:
            return AuditResult(ok=True, disabled=True)
        stage = Stage()
        try:
            if request is None:
                request = TriggerRequest(**fields)
            elif fields:
                raise InvalidRequest("pass a TriggerRequest or keyword fields, not both")
            return self._audit(request, stage)
        except Exception as exc:  # non-blocking policy: nothing escapes but in strict mode
            return self._failed(request, exc, stage)

    def _audit(
        self,
        request: TriggerRequest,
        stage: Stage,
        origin: Origin | None = None,
        *,
        dry_run: bool = False,
    ) -> AuditResult:
        record, canonical = self._pipeline.build(request, stage, origin, check_key=not dry_run)
        if origin is not None:  # held to the rules of a spooled record too
            check_record_identities(record)
        if dry_run:
            return AuditResult(
                ok=True, ref=record.ref, created=True, masked=len(record.manifest.fields)
            )
        return self._persisting.save(record, canonical, stage, imported=origin is not None)

    def snapshot_of(self, request: TriggerRequest) -> tuple[SnapshotRecord, bytes]:
        """The record (a new id) and canonical masked JSON an audit of ``request``
        would store, without storing anything; errors are raised (the retrigger
        records its new run from this)."""
        stage = Stage()
        try:
            return self._pipeline.build(request, stage, check_key=False)
        except WfauditError:
            raise
        except Exception as exc:  # its message could quote the request: scrubbed
            raise AuditFailed(safe_message(exc, stage)) from None

    def import_snapshot(
        self, request: TriggerRequest, origin: Origin, *, dry_run: bool = False
    ) -> AuditResult:
        """Store the snapshot of a trigger another system recorded (``wfaudit import``).

        The request passes the audit's pipeline (limits, adapters, identity
        checks, the current maskers); the record keeps ``origin``'s times and
        identities, and the fields the source had blanked are recorded as masked
        (:data:`wfaudit.retrigger.BLANKED_AT_SOURCE`). Idempotent as an audit is:
        the same import again is ``created=False``. Never spools: a store failure
        raises (:class:`StoreError`), so the caller stops and resumes later. Any
        other error is returned as ``ok=False`` with a one-line ``error`` that
        quotes no secret. With ``dry_run`` nothing is written.
        """
        from . import importing  # not a trigger's (start-up)

        return importing.import_snapshot(self._audit, request, origin, dry_run=dry_run)

    def identify(self, request: TriggerRequest) -> TriggerRequest:
        """The request as the audit would see it, without auditing it: the adapter
        that recognises the payload has read the ids given as ``-`` (and its format,
        labels, trigger kind), and the tenant is this auditor's.

        An outcome reported from the payload alone (a Tekton ``…successful``
        CloudEvent) finds its run so. Raises what the audit would raise before
        masking (:class:`InvalidRequest` and its kinds); the returned request
        still holds the payload's secrets: do not log it.
        """
        return self._pipeline.identify(request)

    def _failed(self, request: TriggerRequest | None, exc: Exception, stage: Stage) -> AuditResult:
        message = safe_message(exc, stage)
        if not self.settings.strict:  # in strict mode the caller gets the error instead
            who = f"{request.workflow_type} {request.workflow_id}" if request else "a trigger"
            log.error("audit of %s failed at %s: %s", who, stage.name, message)
        if request is not None:
            self.host.audit_error(request, exc)
        if self.settings.strict:
            if isinstance(exc, WfauditError):
                raise exc
            if stage.secrets is None:  # before masking: the chain could quote secrets
                raise AuditFailed(message) from None
            raise AuditFailed(message) from exc
        return AuditResult(ok=False, error=message, error_type=type(exc).__name__)

    # -- the durable spool (wfaudit.spool) ------------------------------------

    @property
    def spool_service(self) -> SpoolService | None:
        """This auditor's spool, circuit breaker and drainer, as the built-in spool
        plugin built them (``wfaudit_configure``); None when that plugin is blocked."""
        return self._persisting.spool_service

    @property
    def spool(self) -> Spool:
        """This auditor's spool directory (read even when nothing spools to it)."""
        return self._persisting.spool

    @property
    def circuit_open(self) -> bool:
        """Whether audits go straight to the spool (the store failed moments ago)."""
        return self._persisting.circuit_open

    @property
    def retry_settings(self) -> RetrySettings:
        """The retry settings as they are now (:mod:`wfaudit.retry`; the environment
        of a long-lived process may change them)."""
        return RetrySettings.load(self.settings.options)

    def whole_blob(self, record: SnapshotRecord, canonical: bytes) -> Blob:
        """The blob of ``record`` compressed whole (no delta base)."""
        return self._persisting.encoder.whole(record, canonical)

    def standalone(self, blob: Blob) -> Blob:
        """``blob`` made whole: a spooled snapshot must not depend on a delta base."""
        return self._persisting.standalone(blob)

    def persist_now(self, record: SnapshotRecord, blob: Blob) -> SaveResult:
        """Persist a record and its blob through the persist stage, never spooling:
        a store failure is raised. The drain replays spooled snapshots with it, and
        a retrigger records its new run; a new snapshot is reported to the
        ``wfaudit_event`` observers."""
        return self._persisting.persist_now(record, blob)

    # -- the fingerprint key (wfaudit.keys) ------------------------------------

    def check_key(self) -> None:
        """Refuse to write with a fingerprint key the store does not use.

        The first call records this process's key id in a store that has none
        yet; a store that records the id of one of this installation's retired
        keys is moved on to the current key (the installation rotated it). Any
        other recorded id raises :class:`~wfaudit.keys.KeyMismatch`. Checked once
        per auditor (the writes that fingerprint call it; later calls cost
        nothing).
        """
        self._store_keys.check(transient_ok=False)

    def notify(
        self, kind: str, record: SnapshotRecord, data: Mapping[str, Any] | None = None
    ) -> None:
        """Tell the ``wfaudit_event`` observers that ``kind`` happened to ``record``.

        Call it after the audit trail recorded the operation. ``data`` is JSON data that never
        holds a secret or a config value. Observer errors are logged (by type) and ignored.
        """
        self.host.notify(kind, record, data)

    def notify_retention_run(self, run: RetentionRun) -> None:
        """Tell the ``wfaudit_retention_run`` observers that a retention cycle ended
        (webhooks alert on a failed one). Observer errors are logged and ignored."""
        self.host.retention_run(run)

    def probe_store(self) -> None:
        """Raise unless the store takes writes (the spool's drainer asks)."""
        self._persisting.probe_store()

    def drain_spool(self, *, limit: int | None = None, wait: float = 30.0) -> DrainReport:
        """Replay the spooled snapshots (of this auditor's tenant) into the store.

        Oldest first; a file is removed once the store confirmed it. Stops at
        the first store failure. Waits up to ``wait`` seconds for another
        process that is draining the same spool.
        """
        return self._persisting.drain(limit=limit, wait=wait)

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
        return self._persisting.drain_all(limit=limit, wait=wait)

    # -- reading (wfaudit.reads) ----------------------------------------------

    def get_snapshot(
        self, workflow_id: str | int, workflow_type: str, *, tenant: str | None = None
    ) -> Snapshot:
        """The snapshot of one workflow run, with its masked config."""
        return self.reads.get_snapshot(workflow_id, workflow_type, tenant=tenant)

    def get_snapshot_by_id(self, snapshot_id: str) -> Snapshot:
        """The snapshot with this id, with its masked config."""
        return self.reads.get_snapshot_by_id(snapshot_id)

    def load(self, record: SnapshotRecord, *, blob: Blob | None = None) -> Snapshot:
        """Attach its masked config to a record (reads and verifies the blob).

        :param blob: the record's blob, when the caller read it already (a
            timeline reads a page's blobs at once); it is verified all the same.
        """
        return self.reads.load(record, blob=blob)

    def history(
        self,
        *,
        pipeline_id: str | int | None = None,
        workflow_id: str | int | None = None,
        workflow_type: str | None = None,
        status: Status | str | None = None,
        limit: int = 50,
        tenant: str | None = None,
    ) -> list[SnapshotRecord]:
        """Snapshot records, newest first, filtered by what is given."""
        return self.reads.history(
            pipeline_id=pipeline_id,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            status=status,
            limit=limit,
            tenant=tenant,
        )

    def diff(
        self,
        a: Snapshot | str,
        b: Snapshot | str,
        *,
        pipeline_id: str | int | None = None,
        workflow_type: str | None = None,
    ) -> SnapshotDiff:
        """What changed from snapshot ``a`` to snapshot ``b``.

        Each is a :class:`Snapshot` or a reference (:mod:`wfaudit.refs`): an id
        or unique id prefix, ``WORKFLOW_ID:TYPE``, a tag, ``HEAD``, each with an
        optional ``~N``. ``HEAD`` is in ``pipeline_id``, else in the pipeline
        (and type) of the other endpoint.
        """
        return self.reads.diff(a, b, pipeline_id=pipeline_id, workflow_type=workflow_type)

    def resolve(
        self, ref: str, *, pipeline_id: str | int | None = None, workflow_type: str | None = None
    ) -> SnapshotRecord:
        """The record a reference names (see :mod:`wfaudit.refs`), in this auditor's tenant.

        :raises UnknownReference: nothing has that name.
        :raises AmbiguousReference: several snapshots have it.
        """
        return self.reads.resolve(ref, pipeline_id=pipeline_id, workflow_type=workflow_type)

    def get(
        self, ref: str, *, pipeline_id: str | int | None = None, workflow_type: str | None = None
    ) -> Snapshot:
        """The snapshot a reference names, with its masked config."""
        return self.reads.get(ref, pipeline_id=pipeline_id, workflow_type=workflow_type)

    # Tags, annotations and the timeline: wfaudit.history (thin methods here).

    def tag(
        self,
        ref: str,
        name: str,
        *,
        move: bool = False,
        by: str | None = None,
        pipeline_id: str | int | None = None,
    ) -> Tag:
        """Put tag ``name`` on the snapshot ``ref`` names; a tag name is unique
        within a pipeline, and ``move`` moves it from another snapshot."""
        pipeline = None if pipeline_id is None else str(pipeline_id)
        from . import history as _history

        return _history.tag(self, ref, name, move=move, by=by, pipeline_id=pipeline)

    def untag(
        self, name: str, *, pipeline_id: str | int | None = None, by: str | None = None
    ) -> Tag:
        """Remove tag ``name`` from its pipeline (``pipeline_id`` when several have it)."""
        pipeline = None if pipeline_id is None else str(pipeline_id)
        from . import history as _history

        return _history.untag(self, name, pipeline_id=pipeline, by=by)

    def annotate(self, ref: str, note: str, *, author: str, path: str | None = None) -> Annotation:
        """Add a note to a snapshot, or to the node at JSON pointer ``path`` in it."""
        from . import history as _history

        return _history.annotate(self, ref, note, author=author, path=path)

    def timeline(self, **filters: Any) -> list[_history.TimelineEntry]:
        """A timeline page, newest first: the filters of
        :func:`wfaudit.history.history_query` (``pipeline_id``, ``status``,
        ``labels``, ``since``, ``until``, ``before``, ``limit`` ...)."""
        from . import history as _history

        return _history.timeline(self, _history.history_query(self, **filters))

    # -- replay --------------------------------------------------------------

    def retrigger_request(
        self,
        workflow_id: str | int,
        workflow_type: str,
        *,
        tenant: str | None = None,
        accept_rotated: Sequence[str] = (),
    ) -> TriggerRequest:
        """The request a snapshot was taken of, with every secret restored.

        The restorers (``wfaudit_restore_secrets``) are asked for every masked
        field; if any stays unrestored, :class:`SecretsUnavailable` names the
        missing paths and nothing is returned: a retrigger never runs with
        placeholders. Each restored value is checked against the fingerprint the
        snapshot stored for it: one that differs raises ``SecretsMismatch``
        (paths only) unless ``accept_rotated`` names it; an empty value or a
        placeholder is never used (:func:`wfaudit.retrigger.check_secrets`).
        The returned request holds secrets: do not log it.
        """
        snapshot = self.get_snapshot(workflow_id, workflow_type, tenant=tenant)
        return replay.restore_request(self, snapshot, accept_rotated=accept_rotated)

    def find_latest_failed(
        self,
        *,
        workflow_id: str | int | None = None,
        pipeline_id: str | int | None = None,
        workflow_type: str | None = None,
        tenant: str | None = None,
    ) -> SnapshotRecord | None:
        """The newest failed or errored run of a workflow (or of a pipeline), or None."""
        return self.reads.find_latest_failed(
            workflow_id=workflow_id,
            pipeline_id=pipeline_id,
            workflow_type=workflow_type,
            tenant=tenant,
        )

    def plan_retrigger(
        self,
        workflow_id: str | int,
        workflow_type: str,
        new_workflow_id: str | int | None = None,
        *,
        tenant: str | None = None,
        allow_missing_plugins: bool = False,
        accept_rotated: Sequence[str] = (),
        refuse: bool = True,
    ) -> replay.ReplayPlan:
        """Validate a retrigger without recording or launching anything (a dry run).

        Checks everything :meth:`retrigger` checks, the secrets included (they
        are restored, checked, then dropped; ``plan.secret_checks`` says what was
        found for each); see :func:`wfaudit.retrigger.prepare`. With ``refuse``
        False, secrets that would stop the retrigger do not raise: the plan
        reports them (``wfaudit retrigger --dry-run``).
        """
        return replay.plan(
            self,
            workflow_id,
            workflow_type,
            new_workflow_id,
            tenant=self.scoped_tenant(tenant),
            allow_missing_plugins=allow_missing_plugins,
            accept_rotated=accept_rotated,
            refuse=refuse,
        )

    def retrigger(
        self,
        workflow_id: str | int,
        workflow_type: str,
        new_workflow_id: str | int | None,
        launcher: replay.Launcher,
        *,
        by: str | None = None,
        tenant: str | None = None,
        allow_missing_plugins: bool = False,
        accept_rotated: Sequence[str] = (),
    ) -> replay.RetriggerResult:
        """Run a failed workflow again from its snapshot, with its secrets restored.

        Validates the replay context (schema version, producing plugins, retry
        limit, every secret), records the new run's snapshot (``parent`` = the
        failed run's snapshot, ``attempt`` + 1, trigger kind ``retry``), then
        calls ``launcher`` with the restored request. ``new_workflow_id`` None
        names the new run ``<first run's id>-retry<n>``. Every restored secret
        must be the snapshot's (checked against its fingerprint) unless
        ``accept_rotated`` names it (recorded on the new run's trail). See
        :mod:`wfaudit.retrigger` and ``docs/retrigger.md``.
        """
        return replay.retrigger(
            self,
            workflow_id,
            workflow_type,
            new_workflow_id,
            launcher,
            by=by,
            tenant=self.scoped_tenant(tenant),
            allow_missing_plugins=allow_missing_plugins,
            accept_rotated=accept_rotated,
        )

    # -- outcomes ------------------------------------------------------------

    def record_outcome(
        self,
        workflow_id: str | int,
        workflow_type: str,
        status: Status | str,
        reason: str | None = None,
        *,
        by: str | None = None,
        tenant: str | None = None,
    ) -> Outcome:
        """Record how a run ended (or that it is running).

        A ``failed`` or ``error`` outcome asks the retry policies
        (``wfaudit_on_failure``); their combined decision is in the result.
        The same status recorded again with no ``reason`` keeps the stored one.
        """
        return _outcomes.record_outcome(
            self, workflow_id, workflow_type, status, reason, by=by, tenant=tenant
        )

    def scoped_tenant(self, tenant: str | None) -> str | None:
        """The tenant a call may touch: this auditor's scope (a call naming
        another is refused), else the one the call names."""
        return _reads.scope(self.settings.tenant, tenant)


def _keyring_setting(settings: Settings) -> str | None:
    value = settings.options.get("fingerprint_keyring")
    return value if isinstance(value, str) and value else None
