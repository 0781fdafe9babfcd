"""What the engine's modules need of the auditor, as protocols.

:class:`~wfaudit.auditor.Auditor` is the composition root: it imports the
modules of one concern each (:mod:`wfaudit.history`, :mod:`wfaudit.retrigger`
...) and hands itself to them. They know it only by the facet they use,
described here, so that none of them imports :mod:`wfaudit.auditor` and the
engine's import graph has no circle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from wfaudit_hookspecs import (
    Blob,
    DiffShape,
    SaveResult,
    Snapshot,
    SnapshotRecord,
    Status,
    Store,
    TriggerRequest,
)

from .host import EngineHost, Hooks
from .keys import FingerprintKeys
from .plugins import PluginManager
from .retry import RetrySettings
from .settings import Settings

__all__ = ["AuditorReads", "OutcomeEngine", "ReplayEngine"]


class AuditorReads(Protocol):
    """The reading and notifying facet of an auditor (:mod:`wfaudit.history`)."""

    @property
    def store(self) -> Store: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def workflow_types(self) -> dict[str, str]: ...

    @property
    def diff_shapes(self) -> Mapping[str, DiffShape]: ...

    def load(self, record: SnapshotRecord, *, blob: Blob | None = None) -> Snapshot: ...

    def resolve(
        self, ref: str, *, pipeline_id: str | int | None = None, workflow_type: str | None = None
    ) -> SnapshotRecord: ...

    def notify(
        self, kind: str, record: SnapshotRecord, data: Mapping[str, Any] | None = None
    ) -> None: ...


class ReplayEngine(AuditorReads, Protocol):
    """What a retrigger needs of an auditor (:mod:`wfaudit.retrigger`)."""

    @property
    def hooks(self) -> Hooks: ...

    @property
    def plugin_manager(self) -> PluginManager: ...

    @property
    def keys(self) -> FingerprintKeys: ...

    @property
    def retry_settings(self) -> RetrySettings: ...

    def check_key(self) -> None: ...

    def get_snapshot(
        self, workflow_id: str | int, workflow_type: str, *, tenant: str | None = None
    ) -> Snapshot: ...

    def snapshot_of(self, request: TriggerRequest) -> tuple[SnapshotRecord, bytes]: ...

    def whole_blob(self, record: SnapshotRecord, canonical: bytes) -> Blob: ...

    def persist_now(self, record: SnapshotRecord, blob: Blob) -> SaveResult: ...

    def record_outcome(
        self,
        workflow_id: str | int,
        workflow_type: str,
        status: Status | str,
        reason: str | None = None,
        *,
        by: str | None = None,
        tenant: str | None = None,
    ) -> Any: ...


class OutcomeEngine(ReplayEngine, Protocol):
    """What recording an outcome needs of an auditor (:mod:`wfaudit.outcomes`)."""

    @property
    def host(self) -> EngineHost: ...

    def scoped_tenant(self, tenant: str | None) -> str | None: ...
