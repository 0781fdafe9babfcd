"""A stand-in for a store that could not be opened yet: :class:`DeferredStore`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from wfaudit_hookspecs import (
    AuditEvent,
    BackupResult,
    BadStoreURL,
    Blob,
    HistoryQuery,
    KeyedTrail,
    SaveResult,
    SchemaMismatch,
    SnapshotRecord,
    Status,
    Store,
    StoreError,
    StoreMaintenance,
    StoreStats,
    StoreUnavailable,
    TrailCheck,
)

from .files import sanitize_url

log = logging.getLogger("wfaudit.spool")

# -- a store that could not be opened yet -----------------------------------------------


class DeferredStore:
    """Stands in for a store that could not be opened when the auditor was created.

    An orchestrator's trigger path must not break because the audit store is
    down when the process starts: ``Auditor.from_url`` then hands the auditor
    this object. Every call tries to open the real store (at most once every
    ``retry_interval`` seconds) and, once it is open, goes to it. Until then
    every call raises the error the opening raised; audits, through the persist
    stage, go to the spool.
    """

    def __init__(
        self,
        url: str,
        opener: Callable[[], Store | None],
        error: StoreError,
        *,
        retry_interval: float = 2.0,
    ) -> None:
        self.url = sanitize_url(url)
        self._opener = opener
        self._error = error
        self._retry_interval = retry_interval
        self._next_try = time.monotonic() + retry_interval
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._chain_key: tuple[bytes, str, Mapping[str, bytes] | None] | None = None

    def use_chain_key(
        self, key: bytes, *, key_id: str, retired: Mapping[str, bytes] | None = None
    ) -> None:
        """Hand the chain key to the real store once it is open (KeyedTrail)."""
        with self._lock:
            self._chain_key = (key, key_id, retired)
            store = self._store
        if store is not None and isinstance(store, KeyedTrail):
            store.use_chain_key(key, key_id=key_id, retired=retired)

    def __repr__(self) -> str:
        state = "open" if self._store is not None else "not open yet"
        return f"<DeferredStore {self.url} ({state})>"

    @property
    def wrapped(self) -> Store | None:
        """The real store, once it could be opened."""
        return self._store

    def _target(self) -> Store:
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is not None:
                return self._store
            if time.monotonic() < self._next_try:
                raise type(self._error)(str(self._error))
            self._next_try = time.monotonic() + self._retry_interval
            try:
                opened = self._opener()
            except (StoreUnavailable, SchemaMismatch) as error:
                self._error = error
                raise
            if opened is None:
                raise BadStoreURL(f"no store plugin opens {self.url}")
            if self._chain_key is not None and isinstance(opened, KeyedTrail):
                key, key_id, retired = self._chain_key
                opened.use_chain_key(key, key_id=key_id, retired=retired)
            self._store = opened
            self.url = opened.url
            log.info("the store at %s is open now", self.url)
            return opened

    def opened(self) -> Store:
        """The real store, opened now if it can be; else the opening error is raised.

        For the optional protocols (``StoreHistory``), which this stand-in does
        not delegate method by method.
        """
        return self._target()

    def _maintenance(self, name: str) -> Any:
        target = self._target()
        if not isinstance(target, StoreMaintenance):
            raise StoreError(f"the store at {self.url} does not support {name}")
        return target

    # The Store protocol, delegated.

    def save(self, record: SnapshotRecord, blob: Blob) -> SaveResult:
        return self._target().save(record, blob)

    def get_record(
        self, *, workflow_id: str, workflow_type: str, tenant: str | None = None
    ) -> SnapshotRecord | None:
        return self._target().get_record(
            workflow_id=workflow_id, workflow_type=workflow_type, tenant=tenant
        )

    def get_record_by_id(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> SnapshotRecord | None:
        return self._target().get_record_by_id(snapshot_id, tenant=tenant)

    def get_blob(self, content_hash: str) -> Blob | None:
        return self._target().get_blob(content_hash)

    def history(self, query: HistoryQuery) -> list[SnapshotRecord]:
        return self._target().history(query)

    def set_status(
        self,
        *,
        workflow_id: str,
        workflow_type: str,
        tenant: str | None,
        status: Status,
        reason: str | None,
        by: str | None,
    ) -> SnapshotRecord:
        return self._target().set_status(
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            tenant=tenant,
            status=status,
            reason=reason,
            by=by,
        )

    def find_latest_failed(
        self,
        *,
        pipeline_id: str | None = None,
        workflow_id: str | None = None,
        workflow_type: str | None = None,
        tenant: str | None = None,
    ) -> SnapshotRecord | None:
        return self._target().find_latest_failed(
            pipeline_id=pipeline_id,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            tenant=tenant,
        )

    def append_event(
        self,
        *,
        subject: str,
        kind: str,
        tenant: str | None,
        actor: str | None = None,
        data: Any = None,
    ) -> AuditEvent:
        return self._target().append_event(
            subject=subject, kind=kind, tenant=tenant, actor=actor, data=data
        )

    def list_events(
        self, *, subject: str | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        return self._target().list_events(subject=subject, tenant=tenant, limit=limit)

    # StoreMaintenance, delegated when the real store has it.

    def ping(self, *, write: bool = False) -> None:
        target = self._target()
        if isinstance(target, StoreMaintenance):
            target.ping(write=write)

    def check_trail(
        self, *, tenant: str | None = None, max_findings: int = 1000, **options: Any
    ) -> TrailCheck:
        check: TrailCheck = self._maintenance("verification").check_trail(
            tenant=tenant, max_findings=max_findings, **options
        )
        return check

    def iter_blobs(self, *, tenant: str | None = None) -> Iterator[Blob]:
        blobs: Iterator[Blob] = self._maintenance("verification").iter_blobs(tenant=tenant)
        return blobs

    def stats(self, *, tenant: str | None = None) -> StoreStats:
        stats: StoreStats = self._maintenance("stats").stats(tenant=tenant)
        return stats

    def backup(self, destination: str) -> BackupResult:
        result: BackupResult = self._maintenance("backup").backup(destination)
        return result

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
