"""``memory://``: the reference storage backend, kept in the process's memory.

It implements :class:`~wfaudit_hookspecs.Store` and every optional store
protocol (:class:`~wfaudit_hookspecs.StoreMeta`,
:class:`~wfaudit_hookspecs.StoreMaintenance`, :class:`~wfaudit_hookspecs.StoreSchema`,
:class:`~wfaudit_hookspecs.KeyedTrail`, :class:`~wfaudit_hookspecs.StoreHistory`,
:class:`~wfaudit_hookspecs.retention.StoreRetention`) with nothing but the contract
(``wfaudit_hookspecs``) and the standard library, so it shows in one file what a
backend must do, and it passes every store conformance kit (``wfaudit.testing``:
``StoreConformance``, ``StoreHistoryConformance``, ``StoreRetentionConformance`` ...).
Use it in tests, demos and as the start of a new backend (``wfaudit new-plugin
store NAME`` starts from a copy of it).

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

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    Annotation,
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
    Tag,
    TagConflict,
    TrailCheck,
    UnknownReference,
    canonical_json,
    check_tag_name,
    hookimpl,
    utcnow,
)
from wfaudit_hookspecs.converter import get_converter, structure_record
from wfaudit_hookspecs.protocols import check_event
from wfaudit_hookspecs.retention import (
    ArchivedRow,
    ArchiveFilter,
    ArchiveRecord,
    ExportedSnapshot,
    LegalHold,
    LockedSnapshot,
    RetentionCandidate,
    RetentionRun,
    RetentionWork,
    StoredArchive,
    SweepBusy,
    SweepState,
    selector_matches,
)

__all__ = ["SCHEME", "MemoryStore", "wfaudit_open_store"]

T = TypeVar("T")

SCHEME = "memory"
REVISION = "memory-1"
"""The layout revision a memory store reports (it has one: its code's)."""
GENESIS = "0" * 64
"""The ``prev_hash`` of the first event of a chain."""

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


def event_hash(prev_hash: str, event: AuditEvent, key: bytes | None = None) -> str:
    """SHA-256 (hex) of the previous event's hash, a newline and the event's
    canonical JSON form (everything but its own chain fields); HMAC-SHA256 under
    ``key`` once the chain is keyed (:class:`~wfaudit_hookspecs.KeyedTrail`)."""
    form = {
        "tenant": event.tenant,
        "subject": event.subject,
        "seq": event.seq,
        "kind": event.kind,
        "at": _timestamp(event.at),
        "actor": event.actor,
        "data": dict(event.data),
    }
    message = prev_hash.encode("ascii") + b"\n" + canonical_json(form)
    if key is not None:
        return hmac.new(key, message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


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
        self.tags: dict[tuple[str | None, str, str], Tag] = {}  # (tenant, pipeline, name)
        self.notes: list[Annotation] = []
        self.holds: dict[str, LegalHold] = {}
        self.archives: dict[str, ArchiveRecord] = {}  # by snapshot id
        self.restored: dict[str, dt.datetime] = {}  # snapshot id -> last restore
        self.retention_runs: dict[str, RetentionRun] = {}
        self.sweeps: dict[str, SweepState] = {}
        self.sweep_owner: str | None = None
        self.event_keys: dict[tuple[str | None, int], str] = {}  # (tenant, chain_seq) -> key id


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

    _chain_key: tuple[str, bytes] | None = None
    _chain_keys: Mapping[str, bytes] = {}

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
        payload = check_event(subject=subject, kind=kind, data=data)
        with self._data.lock:
            return self._append(
                subject=subject, kind=kind, tenant=tenant, actor=actor, data=payload
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
        key = self._chain_key
        event = attrs.evolve(event, hash=event_hash(event.prev_hash, event, key and key[1]))
        if key is not None:
            self._data.event_keys[(tenant, event.chain_seq)] = key[0]
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

    # -- StoreSchema -------------------------------------------------------------------

    def current_revision(self) -> str:
        """A memory store is always laid out as this code lays it out."""
        return REVISION

    def head_revision(self) -> str:
        """See :meth:`current_revision`."""
        return REVISION

    # -- KeyedTrail ------------------------------------------------------------------

    def use_chain_key(
        self, key: bytes, *, key_id: str, retired: Mapping[str, bytes] | None = None
    ) -> None:
        """Key every event this store object appends from now on (HMAC-SHA256), and
        verify keyed events with this key or, by their key id, a ``retired`` one."""
        if not isinstance(key, bytes) or len(key) < 16:
            raise InvalidRequest("a chain key is at least 16 bytes")
        if not isinstance(key_id, str) or not 1 <= len(key_id) <= 32:
            raise InvalidRequest("a chain key id is 1 to 32 characters")
        self._chain_key = (key_id, bytes(key))
        self._chain_keys = {**{str(k): bytes(v) for k, v in (retired or {}).items()}, key_id: key}

    def _expected_hash(self, prev: str, event: AuditEvent) -> str | None:
        """The hash ``event`` should have, or None when it is keyed with a key not held."""
        key_id = self._data.event_keys.get((event.tenant, event.chain_seq))
        if key_id is None:
            return event_hash(prev, event)
        key = self._chain_keys.get(key_id)
        return None if key is None else event_hash(prev, event, key)

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
                elif event.hash != (expected := self._expected_hash(prev, event)):
                    findings.append(
                        Finding(
                            problem=Problem.MODIFIED,
                            table="events",
                            key=key,
                            detail="the event's hash does not match its content"
                            if expected is not None
                            else "the event is keyed with a key this store was not given",
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

    # -- StoreHistory ----------------------------------------------------------------

    def _target(self, snapshot_id: str, tenant: str | None) -> SnapshotRecord:
        record = self._data.records.get(snapshot_id)
        if record is None or (tenant is not None and record.tenant != tenant):
            raise SnapshotNotFound(f"no snapshot with id {snapshot_id!r}")
        return record

    def find_by_id_prefix(
        self, prefix: str, *, tenant: str | None = None, limit: int = 2
    ) -> list[SnapshotRecord]:
        """Records whose id starts with ``prefix``, by id, at most ``limit``."""
        if not prefix or len(prefix) > 64:
            raise InvalidRequest("an id prefix is 1 to 64 characters")
        with self._data.lock:
            found = [
                r
                for i, r in sorted(self._data.records.items())
                if i.startswith(prefix) and (tenant is None or r.tenant == tenant)
            ]
        return found[: max(0, limit)]

    def add_tag(
        self,
        *,
        snapshot_id: str,
        name: str,
        tenant: str | None,
        by: str | None = None,
        move: bool = False,
    ) -> Tag:
        """Put a tag on a snapshot (moving it with ``move``), with its events."""
        name = check_tag_name(name)
        data = self._data
        with data.lock:
            target = self._target(snapshot_id, tenant)
            key = (target.tenant, target.pipeline_id, name)
            current = data.tags.get(key)
            if current is not None and current.snapshot_id == target.id:
                return current
            if current is not None and not move:
                raise TagConflict(
                    f"tag {name!r} of pipeline {target.pipeline_id!r} is on snapshot "
                    f"{current.snapshot_id}; tag with --move (move=True in Python) to move it"
                )
            now = utcnow()
            tag = Tag(
                name=name,
                snapshot_id=target.id,
                pipeline_id=target.pipeline_id,
                tenant=target.tenant,
                created_on=now,
                created_by=by,
            )
            data.tags[key] = tag
            fact: dict[str, Any] = {"tag": name, "pipeline_id": target.pipeline_id}
            if current is not None:
                self._append(
                    subject=current.snapshot_id,
                    kind=EventKind.UNTAGGED,
                    tenant=target.tenant,
                    actor=by,
                    data={"tag": name, "moved_to": target.id},
                    at=now,
                )
                fact["moved_from"] = current.snapshot_id
            self._append(
                subject=target.id,
                kind=EventKind.TAGGED,
                tenant=target.tenant,
                actor=by,
                data=fact,
                at=now,
            )
            return tag

    def remove_tag(
        self, *, name: str, pipeline_id: str, tenant: str | None, by: str | None = None
    ) -> Tag:
        """Remove a pipeline's tag, with its ``snapshot.untagged`` event."""
        name = check_tag_name(name)
        data = self._data
        with data.lock:
            keys = [
                key
                for key in data.tags
                if key[1:] == (pipeline_id, name) and (tenant is None or key[0] == tenant)
            ]
            if not keys:
                raise UnknownReference(f"pipeline {pipeline_id!r} has no tag {name!r}")
            if len(keys) > 1:
                raise AmbiguousSnapshot(
                    f"tag {name!r} of pipeline {pipeline_id!r} exists in several tenants; "
                    "name the tenant"
                )
            tag = data.tags.pop(keys[0])
            self._append(
                subject=tag.snapshot_id,
                kind=EventKind.UNTAGGED,
                tenant=tag.tenant,
                actor=by,
                data={"tag": name},
            )
            return tag

    def list_tags(
        self,
        *,
        snapshot_ids: Sequence[str] | None = None,
        pipeline_id: str | None = None,
        name: str | None = None,
        tenant: str | None = None,
    ) -> list[Tag]:
        """Tags matching every filter given, by tenant, pipeline and name."""
        with self._data.lock:
            found = list(self._data.tags.values())
        wanted = None if snapshot_ids is None else set(snapshot_ids)
        return sorted(
            (
                t
                for t in found
                if (wanted is None or t.snapshot_id in wanted)
                and (pipeline_id is None or t.pipeline_id == pipeline_id)
                and (name is None or t.name == name)
                and (tenant is None or t.tenant == tenant)
            ),
            key=lambda t: (t.tenant or "", t.pipeline_id, t.name),
        )

    def add_annotation(
        self,
        *,
        snapshot_id: str,
        note: str,
        author: str,
        tenant: str | None,
        path: str | None = None,
    ) -> Annotation:
        """Add a note to a snapshot, with a ``snapshot.annotated`` event sealing its text."""
        if not isinstance(note, str) or not note.strip():
            raise InvalidRequest("an annotation needs a non-empty note")
        if len(note) > MAX_NOTE_LENGTH:
            raise InvalidRequest(f"a note is at most {MAX_NOTE_LENGTH} characters")
        if not isinstance(author, str) or not author.strip() or len(author) > 255:
            raise InvalidRequest("an annotation needs an author (1 to 255 characters)")
        if path is not None and path != "" and not path.startswith("/"):
            raise InvalidRequest(f"the path {path!r} is not a JSON pointer (it starts with '/')")
        data = self._data
        with data.lock:
            target = self._target(snapshot_id, tenant)
            annotation = Annotation(
                id=len(data.notes) + 1,
                snapshot_id=target.id,
                note=note.strip(),
                author=author.strip(),
                path=path or None,
                tenant=target.tenant,
                created_on=utcnow(),
            )
            data.notes.append(annotation)
            digest = hashlib.sha256(annotation.note.encode("utf-8")).hexdigest()
            self._append(
                subject=target.id,
                kind=EventKind.ANNOTATED,
                tenant=target.tenant,
                actor=annotation.author,
                data={"annotation": annotation.id, "path": annotation.path, "note_sha256": digest},
                at=annotation.created_on,
            )
            return annotation

    def list_annotations(
        self, *, snapshot_ids: Sequence[str], tenant: str | None = None
    ) -> list[Annotation]:
        """The notes on these snapshots, oldest first."""
        wanted = set(snapshot_ids)
        with self._data.lock:
            return [
                n
                for n in self._data.notes
                if n.snapshot_id in wanted and (tenant is None or n.tenant == tenant)
            ]

    def get_blobs(self, content_hashes: Sequence[str]) -> list[Blob]:
        """The blobs with these content hashes that exist."""
        with self._data.lock:
            blobs = self._data.blobs
            return [blobs[h] for h in dict.fromkeys(content_hashes) if h in blobs]

    # -- StoreRetention: reading for a sweep ---------------------------------------------

    def _candidate(self, record: SnapshotRecord) -> RetentionCandidate:
        return RetentionCandidate(
            id=record.id,
            tenant=record.tenant,
            workflow_id=record.workflow_id,
            workflow_type=record.workflow_type,
            pipeline_id=record.pipeline_id,
            status=record.status.value,
            labels=dict(record.labels),
            parent=record.parent,
            content_hash=record.content_hash,
            created_on=record.created_on,
            updated_on=record.updated_on,
            archived=record.id in self._data.archives,
            restored_on=self._data.restored.get(record.id),
        )

    def iter_candidates(
        self, *, tenant: str | None = None, before_id: str | None = None, batch: int = 500
    ) -> Iterator[RetentionCandidate]:
        """Every snapshot (of ``tenant``), newest id first, after ``before_id``."""
        last = before_id
        size = max(1, batch)
        while True:
            with self._data.lock:
                ids = sorted(
                    (
                        i
                        for i, r in self._data.records.items()
                        if (tenant is None or r.tenant == tenant) and (last is None or i < last)
                    ),
                    reverse=True,
                )[:size]
                page = [self._candidate(self._data.records[i]) for i in ids]
            yield from page
            if len(page) < size:
                return
            last = page[-1].id

    def count_snapshots(self, *, tenant: str | None = None) -> int:
        """How many snapshots (of ``tenant``) there are."""
        with self._data.lock:
            return sum(tenant is None or r.tenant == tenant for r in self._data.records.values())

    def known_archive_keys(
        self, keys: Sequence[str], *, snapshot_ids: Sequence[str] = ()
    ) -> set[str]:
        """Which of ``keys`` an archive record names, or an archiving event of
        ``snapshot_ids`` does (unless a later expiry event let it go)."""
        asked = set(keys)
        with self._data.lock:
            recorded = {a.object_key for a in self._data.archives.values()} & asked
            found = set(recorded)
            for subject in dict.fromkeys(snapshot_ids):
                for event in self._data.subjects.get(subject, ()):
                    key = event.data.get("object_key")
                    if not isinstance(key, str) or key not in asked:
                        continue
                    if event.kind == EventKind.ARCHIVED:
                        found.add(key)
                    elif event.kind == EventKind.ARCHIVE_EXPIRED and key not in recorded:
                        found.discard(key)
        return found

    def known_snapshot_ids(
        self, snapshot_ids: Sequence[str], *, tenant: str | None = None
    ) -> set[str]:
        """Which of these ids are snapshots of this store: rows, or trail subjects."""
        found = set()
        with self._data.lock:
            for snapshot_id in set(snapshot_ids):
                record = self._data.records.get(snapshot_id)
                if (record is not None and (tenant is None or record.tenant == tenant)) or any(
                    tenant is None or e.tenant == tenant
                    for e in self._data.subjects.get(snapshot_id, ())
                ):
                    found.add(snapshot_id)
        return found

    def children(self, snapshot_id: str) -> list[RetentionCandidate]:
        """The retriggers of a snapshot, by id."""
        with self._data.lock:
            return [
                self._candidate(r)
                for _, r in sorted(self._data.records.items())
                if r.parent == snapshot_id
            ]

    def get_candidate(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> RetentionCandidate | None:
        """One snapshot as a sweep sees it, or None."""
        with self._data.lock:
            record = self._data.records.get(snapshot_id)
            if record is None or (tenant is not None and record.tenant != tenant):
                return None
            return self._candidate(record)

    def _references(self, snapshot_id: str) -> list[str]:
        data = self._data
        found = sorted(f"retrigger {i}" for i, r in data.records.items() if r.parent == snapshot_id)
        found.extend(
            sorted(f"tag {t.name}" for t in data.tags.values() if t.snapshot_id == snapshot_id)
        )
        return found

    def references(self, snapshot_id: str) -> list[str]:
        """What still references a snapshot: its retriggers, then its tags."""
        with self._data.lock:
            return self._references(snapshot_id)

    # -- StoreRetention: legal holds -----------------------------------------------------

    def list_holds(self, *, tenant: str | None = None, active: bool = True) -> list[LegalHold]:
        """Holds (of ``tenant``), oldest first; only the active ones by default."""
        with self._data.lock:
            holds = list(self._data.holds.values())
        return sorted(
            (
                h
                for h in holds
                if (tenant is None or h.tenant == tenant) and (h.active or not active)
            ),
            key=lambda h: (h.created_on, h.id),
        )

    def export_snapshot(self, snapshot_id: str) -> ExportedSnapshot:
        """The snapshot's record as JSON data, its digest and its blob(s)."""
        with self._data.lock:
            record = self._data.records.get(snapshot_id)
            if record is None:
                raise SnapshotNotFound(f"no snapshot with id {snapshot_id!r}")
            blob = self._data.blobs.get(record.content_hash)
            if blob is None:
                raise StoreError(f"snapshot {snapshot_id}: its blob is missing")
            base = None if blob.base is None else self._data.blobs.get(blob.base)
            if blob.base is not None and base is None:
                raise StoreError(f"snapshot {snapshot_id}: the base of its blob is missing")
        row = _row(record)
        return ExportedSnapshot(row=row, record_digest=_digest(row), blob=blob, base=base)

    def _archive(self, record: ArchiveRecord) -> ArchiveRecord:
        return attrs.evolve(record, present=record.snapshot_id in self._data.records)

    def get_archive(self, snapshot_id: str, *, tenant: str | None = None) -> ArchiveRecord | None:
        """The archive record of a snapshot, or None."""
        with self._data.lock:
            record = self._data.archives.get(snapshot_id)
            if record is None or (tenant is not None and record.tenant != tenant):
                return None
            return self._archive(record)

    def iter_archives(
        self,
        *,
        tenant: str | None = None,
        present: bool | None = None,
        batch: int = 500,
        where: ArchiveFilter | None = None,
    ) -> Iterator[ArchiveRecord]:
        """Archive records, newest archive first, filtered by ``present`` and ``where``."""
        wanted = where or ArchiveFilter()
        if present is None:
            present = wanted.present
        with self._data.lock:
            records = sorted(
                (self._archive(a) for a in self._data.archives.values()),
                key=lambda a: (a.archived_on, a.snapshot_id),
                reverse=True,
            )
        if wanted.before is not None:
            at = [i for i, a in enumerate(records) if a.snapshot_id == wanted.before]
            if not at:
                raise SnapshotNotFound(
                    f"no archived snapshot {wanted.before!r} to page from "
                    "(--before takes the last id of the previous page)"
                )
            records = records[at[0] + 1 :]
        for record in records:
            if tenant is not None and record.tenant != tenant:
                continue
            if present is not None and record.present != present:
                continue
            if any(
                value is not None and getattr(record, name) != value
                for name, value in (
                    ("pipeline_id", wanted.pipeline_id),
                    ("workflow_id", wanted.workflow_id),
                    ("workflow_type", wanted.workflow_type),
                    ("status", wanted.status),
                )
            ):
                continue
            if wanted.since is not None and record.created_on < wanted.since:
                continue
            if wanted.until is not None and record.created_on >= wanted.until:
                continue
            if wanted.labels and (
                record.labels is None or not selector_matches(wanted.labels, record.labels)
            ):
                continue
            yield record

    def archive_totals(self, *, tenant: str | None = None) -> tuple[int, int]:
        """How many archive records (of ``tenant``) and their objects' bytes."""
        with self._data.lock:
            found = [
                a for a in self._data.archives.values() if tenant is None or a.tenant == tenant
            ]
        return len(found), sum(a.object_size for a in found)

    def record_run(self, run: RetentionRun) -> None:
        """Insert or update a retention run."""
        with self._data.lock:
            self._data.retention_runs[run.id] = run

    def last_run(self, *, tenant: str | None = None, ok: bool | None = True) -> RetentionRun | None:
        """The latest finished run of exactly this scope (successful ones by default)."""
        with self._data.lock:
            runs = [
                r
                for r in self._data.retention_runs.values()
                if r.tenant == tenant and r.finished_on is not None and (ok is None or r.ok == ok)
            ]
        return max(runs, key=lambda r: r.finished_on or r.started_on, default=None)

    # -- StoreRetention: deletion and restore ---------------------------------------------

    def retention_work(self, work: Callable[[RetentionWork], T]) -> T:
        """Run the engine's retention ``work`` under the one lock; an exception
        undoes what it changed, as a rolled-back transaction would."""
        with self._data.lock:
            unit = _RetentionWork(self)
            try:
                return work(unit)
            except BaseException:
                unit.undo()
                raise

    def _run_times(self, record: SnapshotRecord) -> dict[str, Any]:
        started = record.created_on
        for event in self._data.subjects.get(record.id, ()):
            if event.kind == EventKind.OUTCOME and event.data.get("status") == "running":
                started = event.at
                break
        finished = record.updated_on if record.status.value in _TERMINAL else None
        return {"started_on": started, "finished_on": finished}

    def _is_orphan(self, content_hash: str) -> bool:
        data = self._data
        return (
            content_hash in data.blobs
            and not any(r.content_hash == content_hash for r in data.records.values())
            and not any(b.base == content_hash for b in data.blobs.values())
        )

    def _drop_unused_blobs(self, content_hash: str) -> list[Blob]:
        """Delete a blob nothing needs any more, then its base if that is now
        unneeded; returns the blobs deleted."""
        dropped: list[Blob] = []
        current: str | None = content_hash
        while current is not None and self._is_orphan(current):
            blob = self._data.blobs.pop(current)
            dropped.append(blob)
            current = blob.base
        return dropped

    # -- StoreRetention: orphans and sweeps ------------------------------------------------

    def orphan_blobs(self, *, batch: int = 500) -> Iterator[str]:
        """Blobs no snapshot uses and no blob has as base, in hash order."""
        with self._data.lock:
            found = sorted(h for h in self._data.blobs if self._is_orphan(h))
        yield from found

    def delete_orphan_blob(self, content_hash: str) -> bool:
        """Delete one blob if it is still an orphan."""
        with self._data.lock:
            if not self._is_orphan(content_hash):
                return False
            del self._data.blobs[content_hash]
            return True

    def delete_orphan_manifests(self, *, batch: int = 500) -> int:
        """A memory store keeps each manifest in its record: there are none to delete."""
        return 0

    @contextlib.contextmanager
    def sweep_lock(self, *, owner: str) -> Iterator[None]:
        """Hold the store's sweep lock for the ``with`` block."""
        data = self._data
        with data.lock:
            if data.sweep_owner is not None:
                raise SweepBusy(
                    f"another retention sweep ({data.sweep_owner}) is running on {self.url}; "
                    "wait for it to finish"
                )
            data.sweep_owner = owner
        try:
            yield
        finally:
            with data.lock:
                data.sweep_owner = None

    def open_sweep(self, *, tenant: str | None, as_of: dt.datetime) -> SweepState:
        """The unfinished sweep of ``tenant`` to resume, or a new one at ``as_of``."""
        data = self._data
        with data.lock:
            open_ = [
                s for s in data.sweeps.values() if s.tenant == tenant and s.finished_on is None
            ]
            if open_:
                return attrs.evolve(max(open_, key=lambda s: s.started_on), resumed=True)
            sweep = SweepState(
                id=f"sweep-{uuid.uuid4().hex[:20]}", tenant=tenant, as_of=as_of, started_on=utcnow()
            )
            data.sweeps[sweep.id] = sweep
            return sweep

    def _save_sweep(
        self, sweep_id: str, cursor: str | None, counts: Mapping[str, int], *, finished: bool
    ) -> None:
        sweep = self._data.sweeps.get(sweep_id)
        if sweep is None:
            raise SnapshotNotFound(f"no retention sweep {sweep_id!r}")
        self._data.sweeps[sweep_id] = attrs.evolve(
            sweep, cursor=cursor, counts=dict(counts), finished_on=utcnow() if finished else None
        )

    def save_sweep(
        self, sweep_id: str, *, cursor: str | None, counts: Mapping[str, int], finished: bool
    ) -> None:
        """Record a sweep's progress (and its end)."""
        with self._data.lock:
            self._save_sweep(sweep_id, cursor, counts, finished=finished)

    def get_sweep(self, sweep_id: str) -> SweepState | None:
        """A sweep's recorded progress, or None."""
        with self._data.lock:
            return self._data.sweeps.get(sweep_id)


class _RetentionWork:
    """:class:`~wfaudit_hookspecs.retention.RetentionWork` under the store's lock,
    with what undoes each change (the memory store's rollback)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._data = store._data
        self._undo: list[Callable[[], None]] = []

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()

    def lock_snapshots(self, snapshot_ids: Sequence[str]) -> dict[str, LockedSnapshot]:
        records = self._data.records
        return {
            snapshot_id: LockedSnapshot(
                id=record.id,
                tenant=record.tenant,
                pipeline_id=record.pipeline_id,
                status=record.status.value,
                labels=dict(record.labels),
                content_hash=record.content_hash,
            )
            for snapshot_id in sorted(set(snapshot_ids))
            if (record := records.get(snapshot_id)) is not None
        }

    def active_holds(self, tenant: str | None) -> list[LegalHold]:
        return [
            hold
            for hold in self._data.holds.values()
            if hold.active and (hold.tenant or None) == (tenant or None)
        ]

    def references(self, snapshot_id: str, *, limit: int) -> list[str]:
        return self._store._references(snapshot_id)[:limit]

    def stored_archive(self, snapshot_id: str) -> StoredArchive | None:
        found = self._data.archives.get(snapshot_id)
        return (
            None
            if found is None
            else StoredArchive(object_key=found.object_key, status=found.status)
        )

    def insert_archive(self, record: ArchiveRecord, snapshot: LockedSnapshot) -> None:
        stored = self._data.records[snapshot.id]
        archives = self._data.archives
        archives[snapshot.id] = attrs.evolve(
            record,
            tenant=stored.tenant,
            labels=dict(stored.labels),
            restored_on=None,
            **self._store._run_times(stored),
        )

        def undo() -> None:
            del archives[snapshot.id]

        self._undo.append(undo)

    def delete_snapshot(self, snapshot: LockedSnapshot) -> tuple[str, ...]:
        data = self._data
        record = data.records.pop(snapshot.id)
        run = (record.tenant, record.workflow_id, record.workflow_type)
        del data.runs[run]
        dropped = self._store._drop_unused_blobs(record.content_hash)

        def undo() -> None:
            data.records[record.id] = record
            data.runs[run] = record.id
            data.blobs.update({blob.content_hash: blob for blob in dropped})

        self._undo.append(undo)
        return tuple(blob.content_hash for blob in dropped)

    def lock_archive(self, snapshot_id: str) -> ArchiveRecord | None:
        found = self._data.archives.get(snapshot_id)
        return None if found is None else self._store._archive(found)

    def delete_archive(self, snapshot_id: str) -> None:
        archives = self._data.archives
        record = archives.pop(snapshot_id)
        self._undo.append(lambda: archives.__setitem__(snapshot_id, record))

    def update_archive(
        self,
        snapshot_id: str,
        *,
        expires_on: dt.datetime | None,
        retention_reason: str,
        labels: Mapping[str, str] | None,
    ) -> None:
        archives = self._data.archives
        record = archives[snapshot_id]
        archives[snapshot_id] = attrs.evolve(
            record,
            expires_on=expires_on,
            retention_reason=retention_reason,
            labels=record.labels if labels is None else dict(labels),
        )
        self._undo.append(lambda: archives.__setitem__(snapshot_id, record))

    def read_row(self, row: Mapping[str, Any]) -> ArchivedRow:
        record = _structure(row)
        return ArchivedRow(
            id=record.id,
            tenant=record.tenant,
            content_hash=record.content_hash,
            record_digest=_digest(row),
            state=_state(record),
        )

    def sealed_digest(self, snapshot_id: str) -> str | None:
        archive = self._data.archives.get(snapshot_id)
        return None if archive is None else archive.record_digest

    def insert_row(self, row: Mapping[str, Any], blob: Blob, *, restored_on: dt.datetime) -> None:
        data = self._data
        record = _structure(row)
        run = (record.tenant, record.workflow_id, record.workflow_type)
        if run in data.runs:
            raise SnapshotConflict(
                f"workflow {record.workflow_id!r} of type {record.workflow_type} is "
                "audited again since the snapshot was deleted"
            )
        new_blob = blob.content_hash not in data.blobs
        data.blobs.setdefault(blob.content_hash, blob)
        data.records[record.id] = record
        data.runs[run] = record.id
        restored = data.restored.get(record.id)
        data.restored[record.id] = restored_on
        archive = data.archives.get(record.id)
        if archive is not None:
            data.archives[record.id] = attrs.evolve(archive, restored_on=restored_on)

        def undo() -> None:
            if new_blob:
                del data.blobs[blob.content_hash]
            del data.records[record.id]
            del data.runs[run]
            if restored is None:
                del data.restored[record.id]
            else:
                data.restored[record.id] = restored
            if archive is not None:
                data.archives[record.id] = archive

        self._undo.append(undo)

    def snapshot_tenants(self, snapshot_id: str) -> list[str | None]:
        found = (self._data.records.get(snapshot_id), self._data.archives.get(snapshot_id))
        return [of.tenant for of in found if of is not None]

    def insert_hold(self, hold: LegalHold) -> None:
        holds = self._data.holds
        holds[hold.id] = hold

        def undo() -> None:
            del holds[hold.id]

        self._undo.append(undo)

    def lock_hold(self, hold_id: str) -> LegalHold | None:
        return self._data.holds.get(hold_id)

    def update_hold(self, hold: LegalHold) -> None:
        holds = self._data.holds
        before = holds[hold.id]
        holds[hold.id] = attrs.evolve(
            before,
            released_on=hold.released_on,
            released_by=hold.released_by,
            release_reason=hold.release_reason,
        )
        self._undo.append(lambda: holds.__setitem__(hold.id, before))

    def append_event(
        self,
        *,
        tenant: str | None,
        subject: str,
        kind: str,
        at: dt.datetime,
        actor: str | None,
        data: Mapping[str, Any],
    ) -> None:
        event = self._store._append(
            subject=subject, kind=kind, tenant=tenant, actor=actor, data=dict(data), at=at
        )
        chain = self._data.chains[tenant]
        of_subject = self._data.subjects[subject]
        keys = self._data.event_keys

        def undo() -> None:
            chain.remove(event)
            of_subject.remove(event)
            keys.pop((tenant, event.chain_seq), None)

        self._undo.append(undo)

    def save_sweep(self, sweep_id: str, *, cursor: str | None, counts: Mapping[str, int]) -> None:
        sweeps = self._data.sweeps
        before = sweeps.get(sweep_id)
        self._store._save_sweep(sweep_id, cursor, counts, finished=False)
        if before is not None:
            self._undo.append(lambda: sweeps.__setitem__(sweep_id, before))


_TERMINAL = frozenset({"succeeded", "failed", "error", "cancelled"})
MAX_NOTE_LENGTH = 4000


def _row(record: SnapshotRecord) -> dict[str, Any]:
    """A record as JSON data (what an archive object holds)."""
    row: dict[str, Any] = json.loads(canonical_json(get_converter().unstructure(record)))
    return row


def _structure(row: Mapping[str, Any]) -> SnapshotRecord:
    """An exported row as a record; :raises StoreError: it is malformed."""
    try:
        return structure_record(dict(row))
    except Exception:
        raise StoreError(f"snapshot {row.get('id')}: the archived row is malformed") from None


def _digest(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(row))).hexdigest()


@hookimpl
def wfaudit_open_store(url: str, create: bool) -> MemoryStore | None:
    """Open a :class:`MemoryStore` for ``memory://`` URLs."""
    if not url.startswith(f"{SCHEME}://"):
        return None
    return MemoryStore(url, create=create)
