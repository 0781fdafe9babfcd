"""The statistics of a store, as JSON data: one renderer for ``wfaudit stats
--json`` and the web API's ``/api/v1/stats``, so the two never drift apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wfaudit_hookspecs import StoreError, StoreMaintenance
from wfaudit_hookspecs.retention import StoreRetention

if TYPE_CHECKING:
    from .auditor import Auditor

__all__ = ["stats_data"]


def stats_data(auditor: Auditor) -> dict[str, Any]:
    """Counts (by status and by workflow type), bytes raw vs stored, ratios, the
    spool, and, for a store with retention, the archive's size and the last
    successful retention run, of the auditor's tenant (or the whole store).

    :raises StoreError: the store does not report statistics.
    """
    store = auditor.store
    if not isinstance(store, StoreMaintenance):
        raise StoreError(f"the store at {store.url} does not report statistics")
    tenant = auditor.settings.tenant
    stats = store.stats(tenant=tenant)
    data: dict[str, Any] = {
        "tenant": tenant,
        "snapshots": stats.snapshots,
        "blobs": stats.blobs,
        "events": stats.events,
        "tenants": stats.tenants,
        "by_status": dict(stats.by_status),
        "by_workflow_type": dict(stats.by_workflow_type),
        "raw_bytes": stats.raw_bytes,
        "unique_raw_bytes": stats.unique_raw_bytes,
        "stored_bytes": stats.stored_bytes,
        "compression_ratio": round(stats.compression_ratio, 3),
        "dedup_ratio": round(stats.dedup_ratio, 3),
        "overall_ratio": round(stats.overall_ratio, 3),
        "spool_depth": auditor.spool.depth(tenant),
        "spool_quarantined": auditor.spool.quarantined(),
        "archive": None,
        "retention_last_success": None,
    }
    if isinstance(store, StoreRetention):
        objects, size = store.archive_totals(tenant=tenant)
        data["archive"] = {"objects": objects, "bytes": size}
        last = store.last_run(tenant=tenant)
        if last is not None and last.finished_on is not None:
            data["retention_last_success"] = last.finished_on.isoformat()
    return data
