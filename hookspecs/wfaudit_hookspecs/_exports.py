"""The names the package re-exports from its lazily loaded modules, listed once.

A module's ``__all__`` (the names above these it adds: ``IDENTITY_MAX_LENGTH``,
``check_event`` ...) and the package's table of names imported on first use
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
"""The names of :mod:`wfaudit_hookspecs.model` that the package re-exports."""

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
"""The names of :mod:`wfaudit_hookspecs.protocols` that the package re-exports."""
