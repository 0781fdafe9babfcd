"""wfaudit: immutable, secret-free, content-addressed snapshots of workflow triggers.

>>> from wfaudit import Auditor, TriggerRequest
>>> with Auditor.from_url() as auditor:                       # doctest: +SKIP
...     result = auditor.audit_trigger(TriggerRequest(
...         workflow_id=1001, workflow_type="CI", pipeline_id=7, config={...}))
"""

from __future__ import annotations

from wfaudit_hookspecs import (
    SCHEMA_VERSION,
    AuditResult,
    Failure,
    Manifest,
    MaskedField,
    RestoreRef,
    RetryDecision,
    SecretReference,
    SecretRequest,
    Snapshot,
    SnapshotRecord,
    SnapshotRef,
    Status,
    TriggerKind,
    TriggerRequest,
    WfauditError,
    WorkflowType,
    hookimpl,
)

from .auditor import AuditFailed, Auditor, Outcome
from .diff import Change, SnapshotDiff

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "AuditFailed",
    "AuditResult",
    "Auditor",
    "Change",
    "Failure",
    "Manifest",
    "MaskedField",
    "Outcome",
    "RestoreRef",
    "RetryDecision",
    "SecretReference",
    "SecretRequest",
    "Snapshot",
    "SnapshotDiff",
    "SnapshotRecord",
    "SnapshotRef",
    "Status",
    "TriggerKind",
    "TriggerRequest",
    "WfauditError",
    "WorkflowType",
    "hookimpl",
]
