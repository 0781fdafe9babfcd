"""Model objects ↔ table rows.

Rows are read back through :func:`wfaudit_hookspecs.converter.structure_record`,
so records of an older schema version are upgraded on read and those of a newer
one are refused, exactly as for every other place records are stored.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import Any

from wfaudit_hookspecs import (
    SCHEMA_VERSION,
    AuditEvent,
    Blob,
    InvalidRequest,
    Manifest,
    SnapshotRecord,
    SnapshotRef,
    Status,
    TriggerKind,
)
from wfaudit_hookspecs.converter import get_converter, structure_record

__all__ = [
    "AUDIT_FIELDS",
    "blob_from_row",
    "blob_row",
    "differing_fields",
    "dump_json",
    "event_from_row",
    "record_from_row",
    "ref_from_row",
    "snapshot_row",
    "stored_tenant",
]

Row = Mapping[Any, Any]
"""A row as a mapping of column names to values (a ``RowMapping`` or a dict)."""

AUDIT_FIELDS = (
    "content_hash",
    "pipeline_id",
    "triggered_by",
    "trigger_kind",
    "parent_id",
    "attempt",
    "labels",
)
"""The columns that make two saves of one workflow run "the same audit"."""


def dump_json(value: Any) -> str:
    """Compact JSON with sorted keys, so equal values are stored as equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stored_tenant(tenant: str | None) -> str:
    """The tenant column's value: '' stands for "no tenant"."""
    return tenant or ""


def snapshot_row(record: SnapshotRecord) -> dict[str, Any]:
    """The ``snapshots`` row of a record."""
    converter = get_converter()
    return {
        "id": record.id,
        "tenant": stored_tenant(record.tenant),
        "workflow_id": record.workflow_id,
        "workflow_type": record.workflow_type,
        "pipeline_id": record.pipeline_id,
        "triggered_by": record.triggered_by,
        "trigger_kind": str(converter.unstructure(record.trigger_kind)),
        "labels": dump_json(dict(record.labels)),
        "parent_id": record.parent,
        "attempt": record.attempt,
        "schema_version": record.schema_version,
        "content_hash": record.content_hash,
        "manifest": dump_json(converter.unstructure(record.manifest)),
        "status": str(converter.unstructure(record.status)),
        "status_reason": record.status_reason,
        "config_size": record.config_size,
        "created_on": record.created_on,
        "created_by": record.created_by,
        "updated_on": record.updated_on,
        "updated_by": record.updated_by,
    }


def record_from_row(row: Row, *, manifest: Any = None) -> SnapshotRecord:
    """The record of a ``snapshots`` row (upgraded, or refused, by schema version).

    :param manifest: the row's manifest (the store keeps manifests in a table of
        their own, :mod:`wfaudit_sql.manifests`): a :class:`Manifest` (shared, as
        decoded once), or JSON data; None reads the manifest text of a row that
        carries it, as revisions before 0005 stored it.
    """
    if isinstance(manifest, Manifest):
        if row["schema_version"] == SCHEMA_VERSION:
            return _current_record(row, manifest)
        manifest = get_converter().unstructure(manifest)  # an older record: upgraded
    data: dict[str, Any] = {
        "id": row["id"],
        "tenant": row["tenant"] or None,
        "workflow_id": row["workflow_id"],
        "workflow_type": row["workflow_type"],
        "pipeline_id": row["pipeline_id"],
        "triggered_by": row["triggered_by"],
        "trigger_kind": row["trigger_kind"],
        "labels": json.loads(row["labels"]),
        "parent": row["parent_id"],
        "attempt": row["attempt"],
        "schema_version": row["schema_version"],
        "content_hash": row["content_hash"],
        "manifest": json.loads(row["manifest"]) if manifest is None else manifest,
        "status": row["status"],
        "status_reason": row["status_reason"],
        "config_size": row["config_size"],
        "created_on": row["created_on"],
        "created_by": row["created_by"],
        "updated_on": row["updated_on"],
        "updated_by": row["updated_by"],
    }
    return structure_record(data)


def _current_record(row: Row, manifest: Manifest) -> SnapshotRecord:
    """A row of the current schema version, built directly: the columns already
    have the model's types (SQL types, ``UTCDateTime``), so the generic structuring
    (three times the cost, for every record of a history page) has nothing to do
    but the enums. The manifest, decoded once per store, is shared (frozen)."""
    try:
        return SnapshotRecord(
            id=row["id"],
            workflow_id=row["workflow_id"],
            workflow_type=row["workflow_type"],
            pipeline_id=row["pipeline_id"],
            content_hash=row["content_hash"],
            manifest=manifest,
            tenant=row["tenant"] or None,
            triggered_by=row["triggered_by"],
            trigger_kind=TriggerKind(row["trigger_kind"]),
            labels=dict(json.loads(row["labels"])),
            parent=row["parent_id"],
            attempt=int(row["attempt"]),
            schema_version=SCHEMA_VERSION,
            status=Status(row["status"]),
            status_reason=row["status_reason"],
            config_size=int(row["config_size"]),
            created_on=_utc(row["created_on"]),
            created_by=row["created_by"],
            updated_on=_utc(row["updated_on"]),
            updated_by=row["updated_by"],
        )
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"stored record is malformed: {type(exc).__name__}") from None


def _utc(value: Any) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise TypeError("not a timestamp")
    return value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)


def ref_from_row(row: Row) -> SnapshotRef:
    return SnapshotRef(
        id=row["id"],
        workflow_id=row["workflow_id"],
        workflow_type=row["workflow_type"],
        content_hash=row["content_hash"],
        tenant=row["tenant"] or None,
    )


def differing_fields(stored: Row, new: Row) -> list[str]:
    """The :data:`AUDIT_FIELDS` whose values differ (names only, never values)."""
    differing = []
    for name in AUDIT_FIELDS:
        if name == "labels":
            same = json.loads(stored[name]) == json.loads(new[name])
        else:
            same = stored[name] == new[name]
        if not same:
            differing.append("parent" if name == "parent_id" else name)
    return differing


def blob_row(blob: Blob, now: _dt.datetime) -> dict[str, Any]:
    return {
        "content_hash": blob.content_hash,
        "codec": blob.codec,
        "raw_size": blob.raw_size,
        "stored_size": blob.stored_size,
        "data": blob.data,
        "created_on": now,
        "base_hash": blob.base,
    }


def blob_from_row(row: Row) -> Blob:
    return Blob(
        content_hash=row["content_hash"],
        codec=row["codec"],
        raw_size=row["raw_size"],
        # psycopg may hand back a memoryview; the model holds bytes.
        data=bytes(row["data"]),
        base=row["base_hash"],
    )


def event_from_row(row: Row) -> AuditEvent:
    """The :class:`AuditEvent` of an ``events`` row (or of the values inserted)."""
    at = row["at"]
    if isinstance(at, _dt.datetime) and at.tzinfo is None:
        at = at.replace(tzinfo=_dt.UTC)
    return AuditEvent(
        subject=row["subject"],
        seq=int(row["seq"]),
        kind=row["kind"],
        at=at,
        tenant=row["tenant"] or None,
        actor=row["actor"],
        data=json.loads(row["data"]),
        chain_seq=int(row["chain_seq"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )
