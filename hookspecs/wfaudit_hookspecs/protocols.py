"""The interfaces the engine hands to plugins, and the one stores implement."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, cast, runtime_checkable

from .canonical import check_json
from .errors import InvalidRequest
from .model import (
    Annotation,
    AuditEvent,
    BackupResult,
    Blob,
    EventKind,
    HistoryQuery,
    RestoreRef,
    SaveResult,
    SnapshotRecord,
    Status,
    StoreStats,
    Tag,
    TrailCheck,
    TriggerRequest,
)
from .pointer import Path

__all__ = [
    "STORE_EVENT_KINDS",
    "KeyedTrail",
    "MaskContext",
    "Store",
    "StoreHistory",
    "StoreMaintenance",
    "StoreMeta",
    "StoreProxy",
    "StoreSchema",
    "check_event",
]

STORE_EVENT_KINDS = frozenset({EventKind.AUDITED, EventKind.OUTCOME})
"""Event kinds only a store appends, with the change they describe
(:meth:`Store.append_event` refuses them)."""


def check_event(*, subject: object, kind: object, data: object) -> dict[str, Any]:
    """The arguments of :meth:`Store.append_event`, checked; returns a copy of
    ``data`` as a JSON object.

    :raises InvalidRequest: a kind the store records itself, a kind or subject
        that is not a string of 1 to 64 characters, or data that is not a JSON object.
    """
    if not isinstance(kind, str) or not kind.strip() or len(kind) > 64:
        raise InvalidRequest("an event kind must be a non-empty string of at most 64 characters")
    if kind in STORE_EVENT_KINDS:
        raise InvalidRequest(
            f"{kind} events are recorded by the store itself, with the change they describe"
        )
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 64:
        raise InvalidRequest("an event subject must be a non-empty string of at most 64 characters")
    if data is not None and not isinstance(data, Mapping):
        raise InvalidRequest("an event's data must be a JSON object")
    return cast("dict[str, Any]", check_json(dict(data or {})))


class MaskContext(Protocol):
    """What a masker sees in :func:`~wfaudit_hookspecs.hookspecs.wfaudit_mask`.

    A masker reads :attr:`config` and *marks* what is secret; it never changes
    the config. The engine applies every mark at once, on its own deep copy of
    the request, after all maskers have run.
    """

    @property
    def request(self) -> TriggerRequest:
        """The request after the pre-trigger stage (identity, labels, format)."""
        ...

    @property
    def config(self) -> Any:
        """The request's config as JSON data. Read it; do not modify it."""
        ...

    @property
    def settings(self) -> Mapping[str, Any]:
        """The ``[tool.wfaudit]`` / ``wfaudit.toml`` settings, for a masker's options."""
        ...

    @property
    def reference_syntax(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        """The reference syntaxes adapters declared (``wfaudit_reference_syntax``):
        ``(kind, pattern)`` pairs. Text a pattern matches is a reference, never a
        secret: the engine drops marks on it, and a masker may list it with
        :meth:`reference` instead."""
        ...

    def mask(
        self,
        path: Path,
        *,
        rule: str,
        span: tuple[int, int] | None = None,
        restore: RestoreRef | None = None,
        key: bool = False,
    ) -> None:
        """Mark the value at ``path`` as secret.

        :param path: the path of the value (a tuple of keys and list indices).
        :param rule: the name of the rule that found it, recorded in the manifest.
        :param span: ``(start, end)`` of the secret inside a string value, in the
            original string; None masks the whole value.
        :param restore: where a restorer can find the secret again, if known.
        :param key: mark the object *key* ``path[-1]`` of the object at ``path[:-1]``
            instead of its value (``{"https://u:pw@host/repo.git": "primary"}``):
            the engine replaces the key with its placeholder, unique in its object.

        A mark on text that a declared reference syntax matches is dropped (for a
        span, the parts outside the references stay marked).
        """
        ...

    def reference(self, path: Path, *, kind: str, name: str, rule: str = "") -> None:
        """Record that the value at ``path`` is a *reference* to a secret.

        References (``${{ secrets.X }}``, ``secretKeyRef``) stay in the config as
        they are and are listed in the manifest, so a retrigger knows what to resolve.
        """
        ...

    def is_masked(self, path: Path) -> bool:
        """True when a whole-value mark already covers ``path`` or a parent of it."""
        ...


@runtime_checkable
class Store(Protocol):
    """A storage backend, returned by :func:`wfaudit_open_store`.

    Records and blobs are immutable once saved, apart from a snapshot's status.
    ``tenant=None`` in a read means "any tenant"; the engine passes the tenant
    it is scoped to when it has one.
    """

    url: str
    """The store's URL, with any password hidden (safe to print)."""

    def save(self, record: SnapshotRecord, blob: Blob) -> SaveResult:
        """Store ``blob`` (once per content hash) and ``record``, atomically.

        A record whose (tenant, workflow_id, workflow_type) is already stored is
        a no-op returning ``created=False`` when it is the same audit (same
        content hash, pipeline and trigger), and raises
        :class:`~wfaudit_hookspecs.errors.SnapshotConflict` otherwise.
        """
        ...

    def get_record(
        self, *, workflow_id: str, workflow_type: str, tenant: str | None = None
    ) -> SnapshotRecord | None:
        """The record of a workflow run, or None."""
        ...

    def get_record_by_id(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> SnapshotRecord | None:
        """The record with this snapshot id, or None."""
        ...

    def get_blob(self, content_hash: str) -> Blob | None:
        """The blob with this content hash, or None."""
        ...

    def history(self, query: HistoryQuery) -> list[SnapshotRecord]:
        """Records matching ``query``, newest first, at most ``query.limit``."""
        ...

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
        """Record an outcome; raises ``SnapshotNotFound`` if there is no such run."""
        ...

    def find_latest_failed(
        self,
        *,
        pipeline_id: str | None = None,
        workflow_id: str | None = None,
        workflow_type: str | None = None,
        tenant: str | None = None,
    ) -> SnapshotRecord | None:
        """The newest record of a pipeline (or workflow) whose run failed or errored.

        Give ``pipeline_id`` or ``workflow_id``; ``workflow_type`` narrows it.

        :raises InvalidRequest: neither ``pipeline_id`` nor ``workflow_id`` is given.
        """
        ...

    def append_event(
        self,
        *,
        subject: str,
        kind: str,
        tenant: str | None,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append an event to the audit trail (hash-chained, numbered per subject).

        ``kind`` is one of :class:`~wfaudit_hookspecs.model.EventKind`'s values (or
        a plugin's own, dotted); ``data`` is JSON data and never holds a secret.
        The store records ``snapshot.audited`` and ``outcome.recorded`` itself.
        """
        ...

    def list_events(
        self, *, subject: str | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        """Events of ``subject`` in order, or the newest ``limit`` events of the trail."""
        ...

    def close(self) -> None:
        """Release connections. The store is not used afterwards."""
        ...


@runtime_checkable
class StoreMaintenance(Protocol):
    """What ``wfaudit verify``, ``stats``, ``backup`` and the health checks use.

    Optional: a store without these methods still audits; the commands say it
    does not support them. ``tenant=None`` means the whole store.
    """

    def ping(self, *, write: bool = False) -> None:
        """Raise :class:`~wfaudit_hookspecs.errors.StoreUnavailable` unless the store
        answers (and, with ``write``, would accept a write now)."""
        ...

    def check_trail(self, *, tenant: str | None = None, max_findings: int = 1000) -> TrailCheck:
        """Check the event chains, the snapshot rows against their events and the
        blob rows' own columns; list every row changed behind the store's back."""
        ...

    def iter_blobs(self, *, tenant: str | None = None) -> Iterator[Blob]:
        """Every blob (of ``tenant``'s snapshots), for the engine to check its hash."""
        ...

    def stats(self, *, tenant: str | None = None) -> StoreStats:
        """Counts and sizes."""
        ...

    def backup(self, destination: str) -> BackupResult:
        """Write a consistent copy of a live store to ``destination``; a backend
        that cannot (a server database) raises a StoreError saying what to use."""
        ...


@runtime_checkable
class StoreMeta(Protocol):
    """Named facts about a whole store (the id of its fingerprint key).

    Optional: the engine skips the checks they serve on a store without them.
    """

    def read_meta(self, name: str) -> str | None:
        """The value recorded under ``name``, or None."""
        ...

    def claim_meta(self, name: str, value: str, *, replace: str | None = None) -> str:
        """Record ``value`` under ``name`` if nothing is recorded there yet, or if
        ``replace`` is given and is what is recorded; in one transaction. Returns
        what is recorded after the call (compare it with ``value``)."""
        ...


@runtime_checkable
class KeyedTrail(Protocol):
    """A store whose audit chain can be keyed (HMAC) with a key kept outside it.

    Optional. The engine hands the key over once, right after opening the store
    (it derives it from the installation's fingerprint key): from then on every
    event the store appends is hashed under it and names ``key_id``, and
    :meth:`StoreMaintenance.check_trail` verifies keyed events with it.
    """

    def use_chain_key(
        self, key: bytes, *, key_id: str, retired: Mapping[str, bytes] | None = None
    ) -> None:
        """Key the chain from the next appended event on; ``key_id`` names the key
        (it is stored, the key never is). ``retired`` maps the ids of keys used
        before a rotation to those keys, so that events keyed with them still
        verify."""
        ...


@runtime_checkable
class StoreHistory(Protocol):
    """Tags, annotations, id prefixes and batched blob reads: what ``wfaudit log``,
    ``tag``, ``annotate`` and snapshot references (``baseline~1``, ``01JD3F``) use.

    Optional, like :class:`StoreMaintenance`, so that a store written for the
    audit path alone still audits; the commands that need these say the store
    does not support them. Every change appends its event to the audit trail in
    the same transaction (``snapshot.tagged``, ``snapshot.untagged``,
    ``snapshot.annotated``, subject: the snapshot id). ``tenant=None`` in a read
    means any tenant.
    """

    def find_by_id_prefix(
        self, prefix: str, *, tenant: str | None = None, limit: int = 2
    ) -> list[SnapshotRecord]:
        """Records whose id starts with ``prefix`` (at most ``limit``, by id).

        :raises InvalidRequest: a prefix that is empty or longer than 64 characters.
        """
        ...

    def add_tag(
        self,
        *,
        snapshot_id: str,
        name: str,
        tenant: str | None,
        by: str | None = None,
        move: bool = False,
    ) -> Tag:
        """Put tag ``name`` on a snapshot; a tag name is unique within a pipeline.

        Tagging the snapshot that already has the tag is a no-op returning it.
        :raises TagConflict: another snapshot of the pipeline has the tag and
            ``move`` is false; with ``move`` the tag moves (an ``untagged`` event
            on the snapshot it leaves, a ``tagged`` one on the new).
        :raises SnapshotNotFound: no such snapshot (in ``tenant``, when given).
        """
        ...

    def remove_tag(
        self, *, name: str, pipeline_id: str, tenant: str | None, by: str | None = None
    ) -> Tag:
        """Remove tag ``name`` from the pipeline; returns the tag as it was.

        :raises UnknownReference: the pipeline has no such tag.
        """
        ...

    def list_tags(
        self,
        *,
        snapshot_ids: Sequence[str] | None = None,
        pipeline_id: str | None = None,
        name: str | None = None,
        tenant: str | None = None,
    ) -> list[Tag]:
        """Tags matching every filter given, by pipeline and name."""
        ...

    def add_annotation(
        self,
        *,
        snapshot_id: str,
        note: str,
        author: str,
        tenant: str | None,
        path: str | None = None,
    ) -> Annotation:
        """Add a note to a snapshot (or to the node at JSON pointer ``path``).

        :raises SnapshotNotFound: no such snapshot (in ``tenant``, when given).
        """
        ...

    def list_annotations(
        self, *, snapshot_ids: Sequence[str], tenant: str | None = None
    ) -> list[Annotation]:
        """The notes on these snapshots, oldest first."""
        ...

    def get_blobs(self, content_hashes: Sequence[str]) -> list[Blob]:
        """The blobs with these content hashes (those that exist), in one read: a
        timeline page compares many snapshots."""
        ...


@runtime_checkable
class StoreSchema(Protocol):
    """A store whose layout has revisions (a database schema): ``wfaudit health``
    reports the revision and fails while it is not the one the code needs.

    Optional: a store without revisions (``memory://`` answers a fixed one) is
    never reported out of date.
    """

    def current_revision(self) -> str | None:
        """The revision the store is at; None when it holds no wfaudit data yet."""
        ...

    def head_revision(self) -> str:
        """The revision this code reads and writes."""
        ...


@runtime_checkable
class StoreProxy(Protocol):
    """A store that stands in for another one, opened later or wrapped (the engine's
    spool stands in for a store that is down at start-up).

    The proxy delegates :class:`Store`; the engine reaches the optional protocols
    (:class:`StoreHistory`, :class:`StoreSchema` ...) through :meth:`opened` or
    :attr:`wrapped`, never by guessing attribute names.
    """

    @property
    def wrapped(self) -> Store | None:
        """The real store if it is open, else None (never opens it)."""
        ...

    def opened(self) -> Store:
        """The real store, opened now if need be; raises the opening error if it cannot."""
        ...
