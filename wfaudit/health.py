"""Health and readiness checks for services that embed wfaudit.

``check(auditor)`` answers two questions a service's probes ask:

* **live** — can triggers still be audited without losing anything? True when
  the store takes writes *or* the durable spool can be written (audits are then
  spooled and replayed later). An orchestrator gates its trigger path on this.
* **ready** — does the store itself answer, with the schema this wfaudit needs?
  A service that reads snapshots (an API, a dashboard) gates on this.

``status`` sums both up: ``ok`` (store fine, nothing spooled), ``degraded``
(store down but spooling, or snapshots waiting in the spool) or ``down``
(neither the store nor the spool can be written).

Example (a Kubernetes-style HTTP probe)::

    from wfaudit import health

    def livez():  return (200 if health.liveness(auditor) else 503)
    def readyz(): return (200 if health.readiness(auditor) else 503)
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import attrs

from wfaudit_hookspecs import StoreMaintenance, StoreProxy, StoreSchema, WfauditError, utcnow

from .auditor import Auditor

__all__ = ["HealthReport", "check", "liveness", "readiness"]


@attrs.frozen(kw_only=True)
class HealthReport:
    """The state of an auditor's store and spool.

    :ivar store_error: why the store failed its probe, if it did (no data, no password).
    :ivar schema: the store's schema revision and whether it is the one needed.
    :ivar circuit_open: audits are going straight to the spool right now.
    """

    status: str
    live: bool
    ready: bool
    store: str
    store_ok: bool
    store_error: str | None
    schema_revision: str | None
    schema_current: bool | None
    spool_depth: int
    spool_quarantined: int
    spool_writable: bool
    circuit_open: bool
    checked_on: _dt.datetime
    auditing: bool = True
    """False when the master switch (``WFAUDIT_ENABLED`` / ``ENABLE_WORKFLOW_AUDIT``)
    turned auditing off: triggers are not audited, whatever the store's state."""


def _schema(store: object) -> tuple[str | None, bool | None]:
    if isinstance(store, StoreProxy):
        store = store.wrapped
    if not isinstance(store, StoreSchema):
        return None, None
    revision = store.current_revision()
    return (None if revision is None else str(revision)), revision == store.head_revision()


def check(auditor: Auditor, *, write: bool = False) -> HealthReport:
    """Probe the store (a write probe with ``write``) and the spool; never raises
    for a store problem, which is what it reports."""
    store: Any = auditor.store
    store_ok, store_error = True, None
    revision: str | None = None
    current: bool | None = None
    try:
        if isinstance(store, StoreMaintenance):
            store.ping(write=write)
        else:  # the Store protocol alone: any cheap read proves it answers
            store.get_record_by_id("-", tenant=auditor.settings.tenant)
        revision, current = _schema(store)
        if current is False:
            store_ok, store_error = False, f"schema revision {revision} is not the one needed"
    except WfauditError as error:
        store_ok, store_error = False, str(error)
    spool = auditor.spool
    writable = spool.writable()
    depth = spool.depth(auditor.settings.tenant)
    live = store_ok or writable
    if store_ok and depth == 0:
        status = "ok"
    elif live:
        status = "degraded"
    else:
        status = "down"
    return HealthReport(
        status=status,
        live=live,
        ready=store_ok,
        store=store.url,
        store_ok=store_ok,
        store_error=store_error,
        schema_revision=revision,
        schema_current=current,
        spool_depth=depth,
        spool_quarantined=spool.quarantined(),
        spool_writable=writable,
        circuit_open=auditor.circuit_open,
        checked_on=utcnow(),
        auditing=auditor.settings.enabled,
    )


def liveness(auditor: Auditor) -> bool:
    """True while triggers can be audited without loss (store or spool writable)."""
    return check(auditor).live


def readiness(auditor: Auditor) -> bool:
    """True when the store answers with the schema this wfaudit needs."""
    return check(auditor).ready
