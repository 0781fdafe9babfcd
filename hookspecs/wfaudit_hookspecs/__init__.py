"""The wfaudit plugin contract.

Plugins import :data:`hookimpl` from here (or from ``wfaudit``) and the model
types they exchange with the engine. Nothing here depends on the engine.
"""

from __future__ import annotations

from . import hookspecs
from ._markers import PROJECT_NAME, hookimpl, hookspec
from .canonical import canonical_json, check_json, content_hash
from .errors import (
    AmbiguousPayload,
    AmbiguousSnapshot,
    BadStoreURL,
    ConfigurationError,
    InvalidRequest,
    MaskingError,
    MaskingRequired,
    PluginError,
    SchemaMismatch,
    SecretsUnavailable,
    SnapshotConflict,
    SnapshotNotFound,
    StoreError,
    StoreUnavailable,
    UnknownWorkflowType,
    UnrecognisedPayload,
    UnsupportedSchemaVersion,
    WfauditError,
)
from .model import (
    SCHEMA_VERSION,
    STANDARD_WORKFLOW_TYPES,
    AuditResult,
    Blob,
    Failure,
    HistoryQuery,
    Manifest,
    MaskedField,
    RestoreRef,
    RetryDecision,
    SaveResult,
    SecretReference,
    SecretRequest,
    Snapshot,
    SnapshotRecord,
    SnapshotRef,
    Status,
    TriggerKind,
    TriggerRequest,
    WorkflowType,
    normalize_workflow_type,
    utcnow,
)
from .pointer import Path, parse_pointer, to_pointer
from .protocols import MaskContext, Store

__version__ = "0.1.0"

__all__ = [
    "PROJECT_NAME",
    "SCHEMA_VERSION",
    "STANDARD_WORKFLOW_TYPES",
    "AmbiguousPayload",
    "AmbiguousSnapshot",
    "AuditResult",
    "BadStoreURL",
    "Blob",
    "ConfigurationError",
    "Failure",
    "HistoryQuery",
    "InvalidRequest",
    "Manifest",
    "MaskContext",
    "MaskedField",
    "MaskingError",
    "MaskingRequired",
    "Path",
    "PluginError",
    "RestoreRef",
    "RetryDecision",
    "SaveResult",
    "SchemaMismatch",
    "SecretReference",
    "SecretRequest",
    "SecretsUnavailable",
    "Snapshot",
    "SnapshotConflict",
    "SnapshotNotFound",
    "SnapshotRecord",
    "SnapshotRef",
    "Status",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TriggerKind",
    "TriggerRequest",
    "UnknownWorkflowType",
    "UnrecognisedPayload",
    "UnsupportedSchemaVersion",
    "WfauditError",
    "WorkflowType",
    "canonical_json",
    "check_json",
    "content_hash",
    "hookimpl",
    "hookspec",
    "hookspecs",
    "normalize_workflow_type",
    "parse_pointer",
    "to_pointer",
    "utcnow",
]
