"""Reads: snapshots, their configs, history, references and diffs, in one tenant scope.

:class:`Reads` is what :class:`wfaudit.Auditor`'s reading methods call: it
knows the store, the auditor's tenant and the declared workflow types, and
nothing else of the auditor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from wfaudit_hookspecs import (
    Blob,
    DiffShape,
    HistoryQuery,
    InvalidRequest,
    Snapshot,
    SnapshotNotFound,
    SnapshotRecord,
    Status,
    Store,
    StoreError,
    content_hash,
    normalize_workflow_type,
)

from . import codec
from .outcomes import parse_status

if TYPE_CHECKING:
    from .diff import SnapshotDiff

__all__ = ["Reads", "scope"]


def scope(scoped: str | None, tenant: str | None) -> str | None:
    """The tenant a call may read: the scope of the auditor (a call naming
    another is refused), else the one the call names."""
    if scoped is not None and tenant not in (None, scoped):
        raise InvalidRequest(f"this auditor is scoped to tenant {scoped!r}")
    return scoped if scoped is not None else tenant


class Reads:
    """The reading side of an auditor."""

    def __init__(
        self,
        store: Store,
        tenant: str | None,
        workflow_types: Callable[[], Mapping[str, str]],
        diff_shapes: Callable[[], Mapping[str, DiffShape]] = dict,
    ) -> None:
        self.store = store
        self.tenant = tenant
        self._workflow_types = workflow_types
        self._diff_shapes = diff_shapes

    def scoped_tenant(self, tenant: str | None) -> str | None:
        """The tenant a call may touch: this auditor's scope (a call naming
        another is refused), else the one the call names."""
        return scope(self.tenant, tenant)

    def get_snapshot(
        self, workflow_id: str | int, workflow_type: str, *, tenant: str | None = None
    ) -> Snapshot:
        """The snapshot of one workflow run, with its masked config."""
        workflow_id, workflow_type = str(workflow_id), normalize_workflow_type(workflow_type)
        record = self.store.get_record(
            workflow_id=workflow_id, workflow_type=workflow_type, tenant=self.scoped_tenant(tenant)
        )
        if record is None:
            raise SnapshotNotFound(f"no snapshot of {workflow_type} workflow {workflow_id!r}")
        return self.load(record)

    def get_snapshot_by_id(self, snapshot_id: str) -> Snapshot:
        """The snapshot with this id, with its masked config."""
        record = self.store.get_record_by_id(snapshot_id, tenant=self.tenant)
        if record is None:
            raise SnapshotNotFound(f"no snapshot with id {snapshot_id!r}")
        return self.load(record)

    def load(self, record: SnapshotRecord, *, blob: Blob | None = None) -> Snapshot:
        """Attach its masked config to a record (reads and verifies the blob).

        :param blob: the record's blob, when the caller read it already (a
            timeline reads a page's blobs at once); it is verified all the same.
        """
        scoped = self.tenant
        if scoped is not None and record.tenant != scoped:  # a record from elsewhere
            raise SnapshotNotFound(f"no snapshot with id {record.id!r}")
        if blob is None or blob.content_hash != record.content_hash:
            blob = self.store.get_blob(record.content_hash)
        if blob is None:
            raise StoreError(f"snapshot {record.id}: blob {record.content_hash[:12]} is missing")
        canonical = codec.decode_blob(blob, self.store.get_blob)
        if content_hash(canonical) != record.content_hash:
            raise StoreError(
                f"snapshot {record.id}: blob {record.content_hash[:12]} does not match its hash"
            )
        config = json.loads(canonical)
        return Snapshot(**attrs.asdict(record, recurse=False), config=config)

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
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        query = HistoryQuery(
            tenant=self.scoped_tenant(tenant),
            pipeline_id=None if pipeline_id is None else str(pipeline_id),
            workflow_id=None if workflow_id is None else str(workflow_id),
            workflow_type=None if workflow_type is None else normalize_workflow_type(workflow_type),
            status=None if status is None else parse_status(status),
            limit=limit,
        )
        return self.store.history(query)

    def find_latest_failed(
        self,
        *,
        workflow_id: str | int | None = None,
        pipeline_id: str | int | None = None,
        workflow_type: str | None = None,
        tenant: str | None = None,
    ) -> SnapshotRecord | None:
        """The newest failed or errored run of a workflow (or of a pipeline), or None."""
        return self.store.find_latest_failed(
            workflow_id=None if workflow_id is None else str(workflow_id),
            pipeline_id=None if pipeline_id is None else str(pipeline_id),
            workflow_type=None if workflow_type is None else normalize_workflow_type(workflow_type),
            tenant=self.scoped_tenant(tenant),
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
        from . import refs
        from .diff import diff_snapshots  # a trigger never diffs: loaded when used

        if isinstance(a, Snapshot) and isinstance(b, Snapshot):
            return diff_snapshots(a, b, self._diff_shapes())
        context = a if isinstance(a, Snapshot) else b if isinstance(b, Snapshot) else None
        kwargs = self._ref_context(pipeline_id, workflow_type)
        if context is not None:
            text = b if isinstance(a, Snapshot) else a
            assert isinstance(text, str)
            other = self.load(refs.resolve(self.store, text, context=context, **kwargs))
            left, right = (context, other) if context is a else (other, context)
            return diff_snapshots(left, right, self._diff_shapes())
        assert isinstance(a, str) and isinstance(b, str)
        first, second = refs.resolve_pair(self.store, a, b, **kwargs)
        return diff_snapshots(self.load(first), self.load(second), self._diff_shapes())

    def resolve(
        self, ref: str, *, pipeline_id: str | int | None = None, workflow_type: str | None = None
    ) -> SnapshotRecord:
        """The record a reference names (see :mod:`wfaudit.refs`), in this auditor's tenant.

        :raises UnknownReference: nothing has that name.
        :raises AmbiguousReference: several snapshots have it.
        """
        from . import refs  # a trigger resolves no reference: loaded when used

        return refs.resolve(self.store, ref, **self._ref_context(pipeline_id, workflow_type))

    def get(
        self, ref: str, *, pipeline_id: str | int | None = None, workflow_type: str | None = None
    ) -> Snapshot:
        """The snapshot a reference names, with its masked config."""
        return self.load(self.resolve(ref, pipeline_id=pipeline_id, workflow_type=workflow_type))

    def _ref_context(
        self, pipeline_id: str | int | None, workflow_type: str | None
    ) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "pipeline_id": None if pipeline_id is None else str(pipeline_id),
            "workflow_type": workflow_type,
            "workflow_types": frozenset(self._workflow_types()),
        }
