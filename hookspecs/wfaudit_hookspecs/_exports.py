"""The names the contract's lazily loaded modules export, listed once.

A module's ``__all__`` and the package's table of names imported on first use
(``wfaudit_hookspecs._LAZY``) both read these tuples, so that the package can
name what a module exports without importing it (issue #18) and without a
second copy of the list. Nothing is imported here.
"""

from __future__ import annotations

MODEL: tuple[str, ...] = (
    "Annotation",
    "AuditEvent",
    "AuditResult",
    "BackupResult",
    "Blob",
    "ChainHead",
    "EventKind",
    "Failure",
    "Finding",
    "HistoryQuery",
    "Manifest",
    "MaskedField",
    "Problem",
    "RestoreRef",
    "RetryDecision",
    "SCHEMA_VERSION",
    "STANDARD_WORKFLOW_TYPES",
    "STATE_FIELDS",
    "SaveResult",
    "SecretReference",
    "SecretRequest",
    "Snapshot",
    "SnapshotRecord",
    "SnapshotRef",
    "Status",
    "StoreStats",
    "Tag",
    "TrailCheck",
    "TriggerKind",
    "TriggerRequest",
    "WORKFLOW_TYPE_DESCRIPTIONS",
    "WorkflowType",
    "check_record_identities",
    "check_tag_name",
    "normalize_identity",
    "normalize_workflow_type",
    "set_clock",
    "utcnow",
)
"""What :mod:`wfaudit_hookspecs.model` exports, every name re-exported by the package."""

PROTOCOLS: tuple[str, ...] = (
    "KeyedTrail",
    "MaskContext",
    "Store",
    "StoreHistory",
    "StoreMaintenance",
    "StoreMeta",
    "StoreProxy",
    "StoreSchema",
)
"""What :mod:`wfaudit_hookspecs.protocols` exports, every name re-exported by the package."""
