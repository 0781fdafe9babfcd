"""``memory://``: the reference storage backend, kept in the process's memory.

It implements :class:`~wfaudit_hookspecs.Store` and the optional
:class:`~wfaudit_hookspecs.StoreMeta` and :class:`~wfaudit_hookspecs.StoreMaintenance`
with nothing but the contract (``wfaudit_hookspecs``) and the standard library,
so it shows in one short file what a backend must do, and it passes every
store conformance kit (``wfaudit.testing.StoreConformance``). Use it in tests,
demos and as the start of a new backend (``wfaudit new-plugin store NAME``
starts from a copy of it).

URLs:

- ``memory://`` opens a new, private store each time;
- ``memory://NAME`` opens the store called NAME of this process, shared by every
  auditor that opens the same URL until the process ends (a test's own
  ``Auditor.from_url()`` and the fixtures then see the same data).

Nothing survives the process. One lock serialises every operation, which is
the simplest way to be atomic: a save stores its blob, its record and its
event together or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    AuditEvent,
    BackupResult,
    Blob,
    ChainHead,
    DeltaBaseUnavailable,
    EventKind,
    Finding,
    HistoryQuery,
    InvalidRequest,
    Problem,
    SaveResult,
    SnapshotConflict,
    SnapshotNotFound,
    SnapshotRecord,
    Status,
    StoreError,
    StoreNotFound,
    StoreStats,
    TrailCheck,
    canonical_json,
    hookimpl,
    utcnow,
)

__all__ = ["SCHEME", "MemoryStore", "wfaudit_open_store"]

SCHEME = "memory"
GENESIS = "0" * 64
"""The ``prev_hash`` of the first event of a chain."""

_STORE_KINDS = frozenset({EventKind.AUDITED, EventKind.OUTCOME})
"""Event kinds only the store appends, together with the change they describe."""

_AUDIT_FIELDS = (
    "content_hash",
    "pipeline_id",
    "triggered_by",
    "trigger_kind",
    "parent",
    "attempt",
    "labels",
)
"""What makes two saves of one run the same audit (a repeat is a no-op)."""

_FAILED = (Status.FAILED, Status.ERROR)


def _timestamp(value: dt.datetime) -> str:
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return utc.isoformat(timespec="microseconds")


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    """SHA-256 (hex) of the previous event's hash, a newline and the event's
    canonical JSON form (everything but its own chain fields)."""
    form = {
        "tenant": event.tenant,
        "subject": event.subject,
        "seq": event.seq,
        "kind": event.kind,
        "at": _timestamp(event.at),
        "actor": event.actor,
        "data": dict(event.data),
    }
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical_json(form)).hexdigest()


def _state(record: SnapshotRecord) -> dict[str, Any]:
    return {
        "status": record.status.value,
        "status_reason": record.status_reason,
        "updated_on": _timestamp(record.updated_on),
        "updated_by": record.updated_by,
    }


class _Data:
    """Everything one store holds. Guarded by :attr:`lock`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.records: dict[str, SnapshotRecord] = {}
        self.runs: dict[tuple[str | None, str, str], str] = {}  # (tenant, id, type) -> id
        self.blobs: dict[str, Blob] = {}
        self.chains: dict[str | None, list[AuditEvent]] = {}  # one chain per tenant
        self.subjects: dict[str, list[AuditEvent]] = {}
        self.meta: dict[str, str] = {}


_NAMED: dict[str, _Data] = {}
_NAMED_LOCK = threading.Lock()


class MemoryStore:
    """A store in memory; see the module's documentation for its URLs."""

    def __init__(self, url: str = "memory://", *, create: bool = True) -> None:
        if not url.startswith(f"{SCHEME}://"):
            raise InvalidRequest(f"a memory store URL starts with {SCHEME}://")
        name = url.removeprefix(f"{SCHEME}://").strip("/")
        self.url = url
        if not name:
            if not create:
                raise StoreNotFound(
                    "memory:// is a new, empty store each time it is opened: there is "
                    "nothing to read (name it, memory://NAME, to share it in a process)"
                )
            self._data = _Data()
            return
        with _NAMED_LOCK:
            data = _NAMED.get(name)
            if data is None:
                if not create:
                    raise StoreNotFound(f"there is no memory store {url} in this process")
                data = _NAMED[name] = _Data()
        self._data = data

    def __repr__(self) -> str:
        return f"<MemoryStore {self.url}>"

    # -- the Store protocol ----------------------------------------------------------

    def save(self, record: SnapshotRecord, blob: Blob) -> SaveResult:
        """Store the blob (once per content hash) and the record, atomically."""
        if blob.content_hash != record.content_hash:
            raise InvalidRequest(
                f"the blob's content hash does not match the snapshot {record.id!r}'s"
            )
        data = self._data
        with data.lock:
            run = (record.tenant, record.workflow_id, record.workflow_type)
            stored_id = data.runs.get(run)
            if stored_id is not None:
                stored = data.records[stored_id]
                differing = [
                    name for name in _AUDIT_FIELDS if getattr(stored, name) != getattr(record, name)
                ]
                if differing:
                    raise SnapshotConflict(
                        f"workflow {record.workflow_id!r} of type {record.workflow_type} is "
                        f"already audited with a different {', '.join(differing)}; a "
                        "workflow run is audited once"
                    )
                return SaveResult(ref=stored.ref, created=False)
            if record.id in data.records:
                raise SnapshotConflict(
                    f"snapshot id {record.id!r} is already used by another workflow run"
                )
            if blob.base is not None:
                base = data.blobs.get(blob.base)
                if base is None or base.base is not None:
                    raise DeltaBaseUnavailable(
                        f"the delta of snapshot {record.id!r} is based on a blob that is "
                        "not stored whole; store it whole"
                    )
            # Checks done: from here on nothing can fail half-way.
            data.blobs.setdefault(blob.content_hash, blob)
            data.records[record.id] = record
            data.runs[run] = record.id
            self._append(
                subject=record.id,
                kind=EventKind.AUDITED,
                tenant=record.tenant,
                actor=record.created_by or record.triggered_by,
                data={
                    "content_hash": record.content_hash,
                    "workflow_id": record.workflow_id,
                    "workflow_type": record.workflow_type,
                    "pipeline_id": record.pipeline_id,
                    "state": _state(record),
                },
                at=record.created_on,
            )
            return SaveResult(ref=record.ref, created=True)

    def _find(
        self, workflow_id: str, workflow_type: str, tenant: str | None
    ) -> SnapshotRecord | None:
        data = self._data
        if tenant is not None:
            found = data.runs.get((tenant, workflow_id, workflow_type))
            return None if found is None else data.records[found]
        matches = [
            data.records[snapshot_id]
            for (_, run_id, run_type), snapshot_id in data.runs.items()
            if (run_id, run_type) == (workflow_id, workflow_type)
        ]
        if len(matches) > 1:
            raise AmbiguousSnapshot(
                f"workflow {workflow_id!r} of type {workflow_type} exists in "
                f"{len(matches)} tenants; give the tenant"
            )
        return matches[0] if matches else None

    def get_record(
        self, *, workflow_id: str, workflow_type: str, tenant: str | None = None
    ) -> SnapshotRecord | None:
        """The record of a workflow run, or None; ``tenant=None`` searches every tenant."""
        with self._data.lock:
            return self._find(workflow_id, workflow_type, tenant)

    def get_record_by_id(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> SnapshotRecord | None:
        """The record with this snapshot id (in ``tenant``, when given), or None."""
        with self._data.lock:
            record = self._data.records.get(snapshot_id)
        if record is None or (tenant is not None and record.tenant != tenant):
            return None
        return record

    def get_blob(self, content_hash: str) -> Blob | None:
        """The blob with this content hash, or None."""
        with self._data.lock:
            return self._data.blobs.get(content_hash)

    def history(self, query: HistoryQuery) -> list[SnapshotRecord]:
        """Records matching every filter of ``query``, newest first."""
        with self._data.lock:
            records = list(self._data.records.values())
        wanted = {
            "tenant": query.tenant,
            "pipeline_id": query.pipeline_id,
            "workflow_id": query.workflow_id,
            "workflow_type": query.workflow_type,
            "status": query.status,
        }

        def matches(record: SnapshotRecord) -> bool:
            if any(v is not None and getattr(record, k) != v for k, v in wanted.items()):
                return False
            if any(record.labels.get(k) != v for k, v in query.labels.items()):
                return False
            if query.since is not None and record.created_on < query.since:
                return False
            if query.before is not None:
                if query.before_id is None:
                    return record.created_on < query.before
                return (record.created_on, record.id) < (query.before, query.before_id)
            return True

        found = sorted(filter(matches, records), key=lambda r: (r.created_on, r.id), reverse=True)
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
        """Record an outcome, and its event; raises ``SnapshotNotFound`` for no such run."""
        data = self._data
        with data.lock:
            record = self._find(workflow_id, workflow_type, tenant)
            if record is None:
                raise SnapshotNotFound(f"no snapshot of workflow {workflow_id!r} {workflow_type}")
            updated = attrs.evolve(
                record,
                status=Status(status),
                status_reason=reason,
                updated_on=utcnow(),
                updated_by=by,
            )
            data.records[record.id] = updated
            self._append(
                subject=record.id,
                kind=EventKind.OUTCOME,
                tenant=record.tenant,
                actor=by,
                data={"status": updated.status.value, "reason": reason, "state": _state(updated)},
            )
            return updated

    def find_latest_failed(
        self,
        *,
        pipeline_id: str | None = None,
        workflow_id: str | None = None,
        workflow_type: str | None = None,
        tenant: str | None = None,
    ) -> SnapshotRecord | None:
        """The newest failed or errored record of a pipeline (or workflow)."""
        if pipeline_id is None and workflow_id is None:
            raise InvalidRequest("give a pipeline id or a workflow id")
        query = HistoryQuery(
            tenant=tenant,
            pipeline_id=pipeline_id,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            limit=1_000_000,
        )
        return next((r for r in self.history(query) if r.status in _FAILED), None)

    def append_event(
        self,
        *,
        subject: str,
        kind: str,
        tenant: str | None,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append an event to the tenant's chain; its ``seq`` numbers the subject's events."""
        if not isinstance(kind, str) or not kind.strip() or len(kind) > 64:
            raise InvalidRequest(
                "an event kind must be a non-empty string of at most 64 characters"
            )
        if kind in _STORE_KINDS:
            raise InvalidRequest(
                f"{kind} events are recorded by the store itself, with the change they describe"
            )
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 64:
            raise InvalidRequest(
                "an event subject must be a non-empty string of at most 64 characters"
            )
        if data is not None and not isinstance(data, Mapping):
            raise InvalidRequest("an event's data must be a JSON object")
        canonical_json(dict(data or {}))  # JSON data, or InvalidRequest now
        with self._data.lock:
            return self._append(
                subject=subject, kind=kind, tenant=tenant, actor=actor, data=dict(data or {})
            )

    def _append(
        self,
        *,
        subject: str,
        kind: str,
        tenant: str | None,
        actor: str | None,
        data: Mapping[str, Any],
        at: dt.datetime | None = None,
    ) -> AuditEvent:
        chain = self._data.chains.setdefault(tenant, [])
        of_subject = self._data.subjects.setdefault(subject, [])
        event = AuditEvent(
            subject=subject,
            seq=len(of_subject) + 1,
            kind=kind,
            at=utcnow() if at is None else at,
            tenant=tenant,
            actor=actor,
            data=data,
            chain_seq=len(chain) + 1,
            prev_hash=chain[-1].hash if chain else GENESIS,
        )
        event = attrs.evolve(event, hash=event_hash(event.prev_hash, event))
        chain.append(event)
        of_subject.append(event)
        return event

    def list_events(
        self, *, subject: str | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        """A subject's events in order, or else the newest ``limit`` events of the trail."""
        with self._data.lock:
            if subject is not None:
                events = list(self._data.subjects.get(subject, ()))
            else:
                events = [e for chain in self._data.chains.values() for e in chain]
                events.sort(key=lambda e: (e.at, e.chain_seq), reverse=True)
        if tenant is not None:
            events = [e for e in events if e.tenant == tenant]
        return events[: max(0, limit)]

    def close(self) -> None:
        """Nothing to release; a named store keeps its data for the next opener."""

    # -- StoreMeta -------------------------------------------------------------------

    def read_meta(self, name: str) -> str | None:
        """The value recorded under ``name``, or None."""
        with self._data.lock:
            return self._data.meta.get(name)

    def claim_meta(self, name: str, value: str, *, replace: str | None = None) -> str:
        """Record ``value`` unless something else is recorded (and not ``replace``)."""
        with self._data.lock:
            current = self._data.meta.get(name)
            if current is None or (replace is not None and current == replace):
                self._data.meta[name] = value
            return self._data.meta[name]

    # -- StoreMaintenance ------------------------------------------------------------

    def ping(self, *, write: bool = False) -> None:
        """Memory always answers."""

    def check_trail(self, *, tenant: str | None = None, max_findings: int = 1000) -> TrailCheck:
        """Check every chain's links and hashes, and that each snapshot has its
        ``snapshot.audited`` event."""
        with self._data.lock:
            chains = {
                t: list(c) for t, c in self._data.chains.items() if tenant is None or t == tenant
            }
            records = [
                r for r in self._data.records.values() if tenant is None or r.tenant == tenant
            ]
        findings: list[Finding] = []
        heads = []
        for chain_tenant, chain in chains.items():
            prev = GENESIS
            for position, event in enumerate(chain, 1):
                key = f"{chain_tenant or '-'}#{position}"
                if event.chain_seq != position or event.prev_hash != prev:
                    findings.append(
                        Finding(
                            problem=Problem.REORDERED,
                            table="events",
                            key=key,
                            detail="chain_seq or prev_hash do not follow the event before",
                            tenant=chain_tenant,
                        )
                    )
                elif event.hash != event_hash(prev, event):
                    findings.append(
                        Finding(
                            problem=Problem.MODIFIED,
                            table="events",
                            key=key,
                            detail="the event's hash does not match its content",
                            tenant=chain_tenant,
                        )
                    )
                prev = event.hash
            if chain:
                heads.append(ChainHead(tenant=chain_tenant, seq=len(chain), hash=chain[-1].hash))
        audited = {
            e.subject for chain in chains.values() for e in chain if e.kind == EventKind.AUDITED
        }
        findings.extend(
            Finding(
                problem=Problem.INSERTED,
                table="snapshots",
                key=record.id,
                detail="no snapshot.audited event records this snapshot",
                tenant=record.tenant,
            )
            for record in records
            if record.id not in audited
        )
        return TrailCheck(
            findings=tuple(findings[:max_findings]),
            findings_total=len(findings),
            chains=len(chains),
            events=sum(len(c) for c in chains.values()),
            snapshots=len(records),
            heads=tuple(heads),
        )

    def iter_blobs(self, *, tenant: str | None = None) -> Iterator[Blob]:
        """Every blob (of ``tenant``'s snapshots, and the bases of their deltas)."""
        with self._data.lock:
            blobs = dict(self._data.blobs)
            hashes = {
                r.content_hash
                for r in self._data.records.values()
                if tenant is None or r.tenant == tenant
            }
        if tenant is None:
            yield from blobs.values()
            return
        bases = {blobs[h].base for h in hashes if h in blobs and blobs[h].base}
        for content_hash in sorted(hashes | {b for b in bases if b}):
            if content_hash in blobs:
                yield blobs[content_hash]

    def stats(self, *, tenant: str | None = None) -> StoreStats:
        """Counts and sizes."""
        with self._data.lock:
            records = [
                r for r in self._data.records.values() if tenant is None or r.tenant == tenant
            ]
            events = sum(
                len(c) for t, c in self._data.chains.items() if tenant is None or t == tenant
            )
        blobs = list(self.iter_blobs(tenant=tenant))
        by_status: dict[str, int] = {}
        for record in records:
            by_status[record.status.value] = by_status.get(record.status.value, 0) + 1
        sizes = {b.content_hash: b.raw_size for b in blobs}
        return StoreStats(
            snapshots=len(records),
            blobs=len(blobs),
            events=events,
            tenants=len({r.tenant for r in records}),
            by_status=by_status,
            raw_bytes=sum(sizes.get(r.content_hash, 0) for r in records),
            unique_raw_bytes=sum(sizes.values()),
            stored_bytes=sum(b.stored_size for b in blobs),
        )

    def backup(self, destination: str) -> BackupResult:
        """A memory store has nothing on disk to copy."""
        raise StoreError(
            "a memory:// store lives in one process and cannot be backed up; "
            "use a sqlite:// or postgresql:// store for data you keep"
        )


@hookimpl
def wfaudit_open_store(url: str, create: bool) -> MemoryStore | None:
    """Open a :class:`MemoryStore` for ``memory://`` URLs."""
    if not url.startswith(f"{SCHEME}://"):
        return None
    return MemoryStore(url, create=create)
