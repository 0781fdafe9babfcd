"""What the endpoints say, as JSON data: records, snapshots, diffs, a timeline.

Everything here comes from the engine's reading API (:class:`wfaudit.Auditor`)
and holds masked configs only: a secret appears as its placeholder, and a diff
says ``changed`` for a secret without showing either value.
"""

from __future__ import annotations

from typing import Any

import attrs

from wfaudit import Auditor, SnapshotDiff, TimelineEntry, optional_history_store
from wfaudit_hookspecs import Snapshot, SnapshotRecord

__all__ = [
    "TimelineEntry",
    "diff_json",
    "record_json",
    "snapshot_json",
    "tags_of",
    "timeline",
    "timeline_json",
]


def record_json(record: SnapshotRecord) -> dict[str, Any]:
    """A record's identity, hashes and state (no config)."""
    return {
        "id": record.id,
        "workflow_id": record.workflow_id,
        "workflow_type": record.workflow_type,
        "pipeline_id": record.pipeline_id,
        "tenant": record.tenant,
        "content_hash": record.content_hash,
        "status": str(record.status),
        "status_reason": record.status_reason,
        "attempt": record.attempt,
        "parent": record.parent,
        "trigger_kind": str(record.trigger_kind),
        "triggered_by": record.triggered_by,
        "labels": dict(record.labels),
        "config_size": record.config_size,
        "created_on": record.created_on.isoformat(),
        "updated_on": record.updated_on.isoformat(),
        "updated_by": record.updated_by,
        "masked_fields": len(record.manifest.fields),
    }


def manifest_json(record: SnapshotRecord) -> dict[str, Any]:
    manifest = record.manifest
    return {
        "adapter": manifest.adapter,
        "maskers": list(manifest.maskers),
        "fields": [
            {
                "path": field.path,
                "rule": field.rule,
                "fingerprint": field.fingerprint[:16],
                "span": list(field.span) if field.span else None,
                "restore": (
                    {"kind": field.restore.kind, "target": field.restore.target}
                    if field.restore
                    else None
                ),
            }
            for field in manifest.fields
        ],
        "references": [
            {"path": ref.path, "kind": ref.kind, "name": ref.name} for ref in manifest.references
        ],
    }


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot with its masked config and its manifest."""
    return {
        **record_json(snapshot),
        "manifest": manifest_json(snapshot),
        "config": snapshot.config,
    }


def diff_json(diff: SnapshotDiff) -> dict[str, Any]:
    """The changes from ``a`` to ``b``; a secret's values are never shown."""
    return {
        "a": {"id": diff.a.id, "content_hash": diff.a.content_hash},
        "b": {"id": diff.b.id, "content_hash": diff.b.content_hash},
        "identical": diff.identical,
        "summary": {**attrs.asdict(diff.summary), "words": diff.summary.words()},
        "changes": [
            {
                "op": change.op,
                "path": change.path,
                "from_path": change.from_path,
                "old": None if change.secret else change.old,
                "new": None if change.secret else change.new,
                "secret": change.secret,
            }
            for change in diff.changes
        ],
    }


def tags_of(auditor: Auditor, snapshot: SnapshotRecord) -> list[str]:
    """The names of the snapshot's tags (none when the store keeps no tags)."""
    store = optional_history_store(auditor.store)
    if store is None:
        return []
    return [t.name for t in store.list_tags(snapshot_ids=[snapshot.id], tenant=snapshot.tenant)]


def timeline(auditor: Auditor, pipeline_id: str, *, limit: int = 50) -> list[TimelineEntry]:
    """A pipeline's snapshots, newest first, each with what changed since the
    pipeline's previous snapshot of the same workflow type (the engine's
    :meth:`wfaudit.Auditor.timeline`), its tags and its annotations."""
    return auditor.timeline(pipeline_id=pipeline_id, limit=limit)


def timeline_json(entries: list[TimelineEntry]) -> list[dict[str, Any]]:
    """Timeline entries as JSON data: the record, then ``previous``, ``changed``
    (None when the engine did not compare the pair), ``tags`` and ``annotations``."""
    return [
        {
            **record_json(entry.record),
            "previous": entry.previous,
            "changed": entry.changed,
            "tags": list(entry.tags),
            "annotations": [
                {
                    "id": note.id,
                    "note": note.note,
                    "author": note.author,
                    "path": note.path,
                    "created_on": note.created_on.isoformat(),
                }
                for note in entry.annotations
            ],
        }
        for entry in entries
    ]
