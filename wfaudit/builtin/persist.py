"""The default persist stage: save the record and its blob in the auditor's store."""

from __future__ import annotations

from wfaudit_hookspecs import Blob, SaveResult, SnapshotRecord, Store, hookimpl


@hookimpl(trylast=True)
def wfaudit_persist(snapshot: SnapshotRecord, payload: Blob, store: Store) -> SaveResult:
    return store.save(snapshot, payload)
