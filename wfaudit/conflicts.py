"""Evidence of a conflicting trigger: a second audit of one run with other content.

A workflow run is audited once (the unique key is tenant, workflow id and
type). A second trigger of the same run with the same audit is a no-op; one
with a different content or identity is refused (:class:`SnapshotConflict`),
and that refusal is itself worth keeping: someone sent a different request
for a run that already ran. The engine appends a
:data:`~wfaudit_hookspecs.EventKind.CONFLICTING_TRIGGER` event to the stored
snapshot's trail (through ``Store.append_event``, so it is chained like any
other event) with both content hashes, the fields that differ and who sent
it: hashes and identities, never content. ``wfaudit show`` lists them.

The same happens when a spooled audit meets a stored one at drain time; the
spool file is also kept (quarantined), and replaying it again does not record
the same evidence twice.
"""

from __future__ import annotations

import logging
from typing import Any

from wfaudit_hookspecs import AuditEvent, EventKind, SnapshotRecord, Store, WfauditError

__all__ = ["COMPARED_FIELDS", "conflicts_of", "record_conflict"]

log = logging.getLogger("wfaudit")

COMPARED_FIELDS = (
    "content_hash",
    "pipeline_id",
    "triggered_by",
    "trigger_kind",
    "attempt",
    "parent",
    "labels",
)
"""The fields of a record compared to name what differs (their values are not
recorded, except the hashes and identities listed in the event)."""


def record_conflict(store: Store, record: SnapshotRecord, *, spooled: bool) -> AuditEvent | None:
    """Append the evidence that ``record`` conflicts with the stored audit of its run.

    :param spooled: the conflicting audit comes from the spool (a replay).
    :returns: the event, or None when there is no stored audit of the run to
        conflict with (the conflict is about a snapshot id or a parent), or the
        same evidence is on the trail already.
    """
    tenant = record.tenant or None
    # "" is the default tenant exactly (None would search every tenant).
    stored = store.get_record(
        workflow_id=record.workflow_id,
        workflow_type=record.workflow_type,
        tenant=tenant if tenant is not None else "",
    )
    if stored is None or (stored.tenant or None) != tenant or stored.id == record.id:
        return None
    for event in store.list_events(subject=stored.id, tenant=tenant, limit=10_000):
        if (
            event.kind == EventKind.CONFLICTING_TRIGGER
            and isinstance(event.data, dict)
            and event.data.get("conflicting_snapshot_id") == record.id
        ):
            return None  # a replay of a file whose evidence is recorded
    differing = [name for name in COMPARED_FIELDS if _value(stored, name) != _value(record, name)]
    data: dict[str, Any] = {
        "stored_content_hash": stored.content_hash,
        "conflicting_content_hash": record.content_hash,
        "conflicting_snapshot_id": record.id,
        "differing": differing,
        "triggered_by": record.triggered_by,
        "trigger_kind": str(record.trigger_kind),
        "pipeline_id": record.pipeline_id,
        "attempt": record.attempt,
        "spooled": spooled,
    }
    return store.append_event(
        subject=stored.id,
        kind=EventKind.CONFLICTING_TRIGGER,
        tenant=tenant,
        actor=record.triggered_by,
        data=data,
    )


def conflicts_of(store: Store, snapshot: SnapshotRecord) -> list[AuditEvent]:
    """The conflicting triggers recorded on ``snapshot``'s trail, oldest first."""
    try:
        events = store.list_events(subject=snapshot.id, tenant=snapshot.tenant, limit=10_000)
    except WfauditError as error:
        log.warning("cannot read the trail of snapshot %s: %s", snapshot.id, error)
        return []
    return [event for event in events if event.kind == EventKind.CONFLICTING_TRIGGER]


def _value(record: SnapshotRecord, name: str) -> Any:
    value = getattr(record, name)
    if name == "labels":
        return dict(value)
    if name == "trigger_kind":
        return str(value)
    return value
