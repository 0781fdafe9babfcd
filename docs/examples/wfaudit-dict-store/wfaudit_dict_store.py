"""A wfaudit store kept in dictionaries: ``dict://NAME``, shared in one process.

It implements the :class:`wfaudit_hookspecs.Store` protocol and nothing more,
with the standard library and the contract only. One lock makes every method
atomic: a save stores its blob, its record and its event together, or nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    AuditEvent,
    Blob,
    DeltaBaseUnavailable,
    EventKind,
    HistoryQuery,
    InvalidRequest,
    SaveResult,
    SnapshotConflict,
    SnapshotNotFound,
    SnapshotRecord,
    Status,
    StoreNotFound,
    canonical_json,
    hookimpl,
    utcnow,
)

SCHEME = "dict://"
SAME_AUDIT = ("content_hash", "pipeline_id", "triggered_by", "trigger_kind", "parent", "attempt")
_STORES: dict[str, DictStore] = {}


@hookimpl
def wfaudit_open_store(url: str, create: bool) -> DictStore | None:
    """Own ``dict://`` URLs; every other scheme is another backend's."""
    if not url.startswith(SCHEME):
        return None
    if url not in _STORES and not create:  # a command that only reads creates nothing
        raise StoreNotFound(f"there is no store {url} in this process")
    return _STORES.setdefault(url, DictStore(url))


class DictStore:
    def __init__(self, url: str) -> None:
        self.url = url  # no password in it: safe to print
        self._lock = threading.RLock()
        self._records: dict[str, SnapshotRecord] = {}
        self._runs: dict[tuple[str | None, str, str], str] = {}
        self._blobs: dict[str, Blob] = {}
        self._chains: dict[str | None, list[AuditEvent]] = {}
        self._subjects: dict[str, list[AuditEvent]] = {}

    def save(self, record: SnapshotRecord, blob: Blob) -> SaveResult:
        run = (record.tenant, record.workflow_id, record.workflow_type)
        with self._lock:
            if run in self._runs:
                stored = self._records[self._runs[run]]
                differ = [f for f in SAME_AUDIT if getattr(stored, f) != getattr(record, f)]
                if differ:
                    raise SnapshotConflict(
                        f"workflow {record.workflow_id!r} {record.workflow_type} is already "
                        f"audited with a different {', '.join(differ)}"
                    )
                return SaveResult(ref=stored.ref, created=False)  # the same audit again
            if blob.base is not None and (
                blob.base not in self._blobs or self._blobs[blob.base].base is not None
            ):
                raise DeltaBaseUnavailable("a delta must be based on a blob stored whole")
            self._blobs.setdefault(blob.content_hash, blob)
            self._records[record.id] = record
            self._runs[run] = record.id
            self._append(record.id, EventKind.AUDITED, record.tenant, record.created_by, {})
            return SaveResult(ref=record.ref, created=True)

    def get_record(
        self, *, workflow_id: str, workflow_type: str, tenant: str | None = None
    ) -> SnapshotRecord | None:
        with self._lock:
            found = [
                self._records[snapshot_id]
                for (run_tenant, run_id, run_type), snapshot_id in self._runs.items()
                if (run_id, run_type) == (workflow_id, workflow_type)
                and tenant in (None, run_tenant)
            ]
        if len(found) > 1:
            raise AmbiguousSnapshot(f"workflow {workflow_id!r} exists in several tenants")
        return found[0] if found else None

    def get_record_by_id(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> SnapshotRecord | None:
        record = self._records.get(snapshot_id)
        if record is None or tenant not in (None, record.tenant):
            return None
        return record

    def get_blob(self, content_hash: str) -> Blob | None:
        return self._blobs.get(content_hash)

    def history(self, query: HistoryQuery) -> list[SnapshotRecord]:
        def wanted(r: SnapshotRecord) -> bool:
            filters = {
                "tenant": query.tenant,
                "pipeline_id": query.pipeline_id,
                "workflow_id": query.workflow_id,
                "workflow_type": query.workflow_type,
                "status": query.status,
            }
            return (
                all(v is None or getattr(r, k) == v for k, v in filters.items())
                and all(r.labels.get(k) == v for k, v in query.labels.items())
                and (query.since is None or r.created_on >= query.since)
                and (
                    query.before is None
                    or (r.created_on, r.id) < (query.before, query.before_id or "")
                )
            )

        with self._lock:
            found = sorted(
                filter(wanted, self._records.values()), key=lambda r: (r.created_on, r.id)
            )
        found.reverse()  # newest first
        return found[query.offset : query.offset + query.limit]

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
        with self._lock:
            record = self.get_record(
                workflow_id=workflow_id, workflow_type=workflow_type, tenant=tenant
            )
            if record is None:
                raise SnapshotNotFound(f"no snapshot of {workflow_type} {workflow_id!r}")
            record = attrs.evolve(
                record, status=status, status_reason=reason, updated_on=utcnow(), updated_by=by
            )
            self._records[record.id] = record
            data = {"status": record.status.value, "reason": reason}
            self._append(record.id, EventKind.OUTCOME, record.tenant, by, data)
            return record

    def find_latest_failed(
        self,
        *,
        pipeline_id: str | None = None,
        workflow_id: str | None = None,
        workflow_type: str | None = None,
        tenant: str | None = None,
    ) -> SnapshotRecord | None:
        if pipeline_id is None and workflow_id is None:
            raise InvalidRequest("give a pipeline id or a workflow id")
        query = HistoryQuery(
            tenant=tenant,
            pipeline_id=pipeline_id,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            limit=len(self._records),
        )
        failed = (Status.FAILED, Status.ERROR)
        return next((r for r in self.history(query) if r.status in failed), None)

    def append_event(
        self,
        *,
        subject: str,
        kind: str,
        tenant: str | None,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        if kind in (EventKind.AUDITED, EventKind.OUTCOME):
            raise InvalidRequest(f"{kind} events are the store's own")
        with self._lock:
            return self._append(subject, kind, tenant, actor, dict(data or {}))

    def _append(
        self,
        subject: str,
        kind: str,
        tenant: str | None,
        actor: str | None,
        data: Mapping[str, Any],
    ) -> AuditEvent:
        chain = self._chains.setdefault(tenant, [])
        mine = self._subjects.setdefault(subject, [])
        prev_hash = chain[-1].hash if chain else "0" * 64
        event = AuditEvent(
            subject=subject,
            seq=len(mine) + 1,
            kind=kind,
            at=utcnow(),
            tenant=tenant,
            actor=actor,
            data=data,
            chain_seq=len(chain) + 1,
            prev_hash=prev_hash,
        )
        form = canonical_json({**attrs.asdict(event), "at": event.at.isoformat(), "hash": ""})
        event = attrs.evolve(
            event, hash=hashlib.sha256(prev_hash.encode() + b"\n" + form).hexdigest()
        )
        chain.append(event)
        mine.append(event)
        return event

    def list_events(
        self, *, subject: str | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        with self._lock:
            if subject is not None:
                events = list(self._subjects.get(subject, []))
            else:
                events = [e for chain in self._chains.values() for e in chain][::-1]
        return [e for e in events if tenant in (None, e.tenant)][:limit]

    def close(self) -> None:
        """Nothing to release: the data stays for the next opener of the URL."""
