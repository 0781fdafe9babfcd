"""The public API: :class:`Auditor`, the composition root.

An orchestrator creates one auditor per process (``Auditor.from_url()``) and
calls :meth:`Auditor.audit_trigger` every time it triggers a workflow, and
:meth:`Auditor.record_outcome` when the run ends. The auditor builds the modules
of one concern each and hands them what they need -- the pipeline
(:mod:`wfaudit.pipeline`: checked, adapted, masked, encoded), persisting and the
spool (:mod:`wfaudit.persisting`), the key checks (:mod:`wfaudit.store_keys`),
reads (:mod:`wfaudit.reads`), outcomes (:mod:`wfaudit.outcomes`), replay
(:mod:`wfaudit.replays`), imports (:mod:`wfaudit.importing`), tags and the
timeline (:mod:`wfaudit.history`), over the store :mod:`wfaudit.opening` opened
-- and its methods delegate to them (:func:`wfaudit.delegation.delegate`).
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from wfaudit_hookspecs import (
    Annotation,
    AuditResult,
    DiffShape,
    InvalidRequest,
    SnapshotRecord,
    Store,
    Tag,
    TriggerRequest,
    check_record_identities,
)

from .delegation import delegate
from .deltas import DeltaEncoder
from .host import EngineHost, Hooks
from .importing import Importer
from .keys import FingerprintKeys, keyring_target, load_keys
from .opening import open_store
from .outcomes import Outcome, Outcomes
from .persisting import Persisting
from .pipeline import GENERIC_FORMAT, AuditFailed, Origin, Pipeline, Stage, failed
from .plugins import PluginManager, make_plugin_manager
from .reads import Reads
from .replays import Replays
from .retry import RetrySettings
from .settings import Settings
from .spool import Spool, SpoolService
from .store_keys import StoreKeys

# Start-up (issue #18): what a trigger does not use -- history, diff, the
# retention model -- is imported by the methods that use it.
if TYPE_CHECKING:
    from wfaudit_hookspecs.retention import RetentionRun

    from . import history as _history

__all__ = ["GENERIC_FORMAT", "AuditFailed", "Auditor", "Origin", "Outcome"]


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
            settings.key_file, keyring_target=keyring_target(settings.options)
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
        self.reads = Reads(
            store,
            settings.tenant,
            lambda: plugin_manager.workflow_types,
            lambda: plugin_manager.diff_shapes,
        )
        """The reading side (:mod:`wfaudit.reads`)."""
        self._importer = Importer(self._audit)
        self.outcomes = Outcomes(self)
        """Outcomes and the retry policies' votes (:mod:`wfaudit.outcomes`)."""
        self.replays = Replays(self)
        """Restoring a snapshot's request, planning and running retriggers
        (:mod:`wfaudit.replays`)."""
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

    chain_mac = delegate("_store_keys", StoreKeys.chain_mac)

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
            return failed(
                request, exc, stage, strict=self.settings.strict, report=self.host.audit_error
            )

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

    snapshot_of = delegate("_pipeline", Pipeline.snapshot_of)
    import_snapshot = delegate("_importer", Importer.import_snapshot)
    identify = delegate("_pipeline", Pipeline.identify)

    # -- the durable spool (wfaudit.spool, through wfaudit.persisting) ----------

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

    whole_blob = delegate("_persisting", Persisting.whole_blob)
    standalone = delegate("_persisting", Persisting.standalone)
    persist_now = delegate("_persisting", Persisting.persist_now)

    check_key = delegate("_store_keys", StoreKeys.check_key)

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

    probe_store = delegate("_persisting", Persisting.probe_store)
    drain_spool = delegate("_persisting", Persisting.drain_spool)
    drain_spools = delegate("_persisting", Persisting.drain_spools)

    # -- reading (wfaudit.reads) ----------------------------------------------

    get_snapshot = delegate("reads", Reads.get_snapshot)
    get_snapshot_by_id = delegate("reads", Reads.get_snapshot_by_id)
    load = delegate("reads", Reads.load)
    history = delegate("reads", Reads.history)
    diff = delegate("reads", Reads.diff)
    resolve = delegate("reads", Reads.resolve)
    get = delegate("reads", Reads.get)

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

    # -- replay (wfaudit.replays) ---------------------------------------------

    retrigger_request = delegate("replays", Replays.retrigger_request)
    find_latest_failed = delegate("reads", Reads.find_latest_failed)
    plan_retrigger = delegate("replays", Replays.plan_retrigger)
    retrigger = delegate("replays", Replays.retrigger)

    # -- outcomes ------------------------------------------------------------

    record_outcome = delegate("outcomes", Outcomes.record_outcome)
    scoped_tenant = delegate("reads", Reads.scoped_tenant)
