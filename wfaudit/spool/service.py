"""One host's spool, breaker and drainer, as the built-in spool plugin builds them.

:func:`wfaudit.builtin.spool.wfaudit_configure` builds a :class:`SpoolService`
for each auditor's host and keeps it in the host's stash under :data:`SPOOL`;
``wfaudit_unconfigure`` stops its drainer. The auditor reads it from there
(``Auditor.spool``, ``wfaudit drain``, ``wfaudit health``); when the plugin is
blocked there is none, and nothing spools.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import attrs

from wfaudit_hookspecs import Blob, SaveResult, SnapshotRecord, StashKey

from .breaker import CircuitBreaker
from .drainer import DrainReport, SpoolDrainer
from .files import Spool, spool_roots

__all__ = ["SPOOL", "SpoolEngine", "SpoolService", "drain_other_spools", "drainer_of"]


class SpoolEngine(Protocol):
    """What the spool needs of the auditor it serves (``EngineHost.engine``)."""

    def persist_now(self, record: SnapshotRecord, blob: Blob) -> SaveResult:
        """Persist a record through the persist stage, never spooling it."""
        ...

    def probe_store(self) -> None:
        """Raise unless the store takes writes."""
        ...

    def standalone(self, blob: Blob) -> Blob:
        """The blob made whole (a spooled snapshot must not depend on a delta base)."""
        ...


@attrs.define
class SpoolService:
    """The spool of one host and what keeps it moving."""

    spool: Spool
    breaker: CircuitBreaker
    drainer: SpoolDrainer
    standalone: Callable[[Blob], Blob]

    @classmethod
    def build(cls, spool: Spool, engine: SpoolEngine, *, tenant: str | None) -> SpoolService:
        """A service over ``spool``, replaying through ``engine``."""
        breaker = CircuitBreaker()
        drainer = SpoolDrainer(
            spool, breaker, engine.persist_now, probe=engine.probe_store, tenant=tenant
        )
        return cls(spool=spool, breaker=breaker, drainer=drainer, standalone=engine.standalone)

    def close(self) -> None:
        """Stop the background drainer."""
        self.drainer.stop()


SPOOL: StashKey[SpoolService] = StashKey("wfaudit.spool")
"""Where a host keeps its :class:`SpoolService`."""


def drainer_of(spool: Spool, engine: SpoolEngine, *, tenant: str | None) -> SpoolDrainer:
    """A drainer of ``spool`` that runs in the foreground only (its own breaker)."""
    return SpoolDrainer(
        spool, CircuitBreaker(), engine.persist_now, probe=engine.probe_store, tenant=tenant
    )


def drain_other_spools(
    first: DrainReport,
    root: Path,
    own: Path,
    engine: SpoolEngine,
    *,
    store_url: str,
    tenant: str | None,
    limit: int | None,
    wait: float,
) -> DrainReport:
    """After ``first`` (the drain of the spool at ``own``), drain every other spool
    of the store under ``root`` (:func:`~wfaudit.spool.spool_roots`), as one report;
    stops at the first store failure."""
    if first.store_unavailable or first.error:
        return first
    reports = [first]
    for other_root in spool_roots(root):
        if other_root == own:
            continue
        other = Spool(other_root, store_url)
        if not other.has_pending(tenant):
            continue
        report = drainer_of(other, engine, tenant=tenant).drain(limit=limit, wait=wait)
        reports.append(report)
        if report.store_unavailable or report.error:
            break
    return DrainReport.combined(reports)
