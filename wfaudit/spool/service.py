"""One host's spool, breaker and drainer, as the built-in spool plugin builds them.

:func:`wfaudit.builtin.spool.wfaudit_configure` builds a :class:`SpoolService`
for each auditor's host and keeps it in the host's stash under :data:`SPOOL`;
``wfaudit_unconfigure`` stops its drainer. The auditor reads it from there
(``Auditor.spool``, ``wfaudit drain``, ``wfaudit health``); when the plugin is
blocked there is none, and nothing spools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import attrs

from wfaudit_hookspecs import Blob, SaveResult, SnapshotRecord, StashKey

from .breaker import CircuitBreaker
from .drainer import SpoolDrainer
from .files import Spool

__all__ = ["SPOOL", "SpoolEngine", "SpoolService"]


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
