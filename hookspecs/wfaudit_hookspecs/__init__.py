"""The wfaudit plugin contract.

Plugins import :data:`hookimpl` from here (or from ``wfaudit``) and the model
types they exchange with the engine. Nothing here depends on the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _exports
from .canonical import canonical_json, check_json, content_hash
from .errors import (
    AmbiguousPayload,
    AmbiguousReference,
    AmbiguousSnapshot,
    BadStoreURL,
    BlobUnreadable,
    ConfigurationError,
    DecompressionBomb,
    DeltaBaseUnavailable,
    InvalidRequest,
    MaskingError,
    MaskingRequired,
    PluginError,
    RequestTooLarge,
    SchemaMismatch,
    SecretsMismatch,
    SecretsUnavailable,
    SnapshotConflict,
    SnapshotNotFound,
    StoreError,
    StoreNotFound,
    StoreRejected,
    StoreUnavailable,
    TagConflict,
    UnknownReference,
    UnknownWorkflowType,
    UnrecognisedPayload,
    UnsupportedSchemaVersion,
    WfauditError,
)
from .flags import env_flag, parse_bool
from .pointer import Path, parse_pointer, to_pointer

if TYPE_CHECKING:
    from . import hookspecs
    from ._markers import (
        PROJECT_NAME,
        hookimpl,
        hookspec,
    )
    from .host import Host, MetricsPage, Stash, StashKey
    from .model import (
        SCHEMA_VERSION,
        STANDARD_WORKFLOW_TYPES,
        STATE_FIELDS,
        WORKFLOW_TYPE_DESCRIPTIONS,
        Annotation,
        AuditEvent,
        AuditResult,
        BackupResult,
        Blob,
        ChainHead,
        EventKind,
        Failure,
        Finding,
        HistoryQuery,
        Manifest,
        MaskedField,
        Problem,
        RestoreRef,
        RetryDecision,
        SaveResult,
        SecretReference,
        SecretRequest,
        Snapshot,
        SnapshotRecord,
        SnapshotRef,
        Status,
        StoreStats,
        Tag,
        TrailCheck,
        TriggerKind,
        TriggerRequest,
        WorkflowType,
        check_record_identities,
        check_tag_name,
        normalize_identity,
        normalize_workflow_type,
        set_clock,
        utcnow,
    )
    from .protocols import (
        KeyedTrail,
        MaskContext,
        Store,
        StoreHistory,
        StoreMaintenance,
        StoreMeta,
        StoreProxy,
        StoreSchema,
    )
    from .retention import (
        ArchiveStore,
        StoreRetention,
        SweepBusy,
    )
    from .shapes import DiffShape
    from .util import LRU, fsync_directory, parse_key_value

_LAZY: dict[str, str] = {
    "hookspecs": "hookspecs",
    **dict.fromkeys(_exports.MODEL, "model"),
    **dict.fromkeys(_exports.PROTOCOLS, "protocols"),
    **dict.fromkeys(("Host", "MetricsPage", "Stash", "StashKey"), "host"),
    **dict.fromkeys(
        (
            "ArchiveStore",
            "StoreRetention",
            "SweepBusy",
        ),
        "retention",
    ),
    "DiffShape": "shapes",
    **dict.fromkeys(
        (
            "PROJECT_NAME",
            "hookimpl",
            "hookspec",
        ),
        "_markers",
    ),
    **dict.fromkeys(("LRU", "fsync_directory", "parse_key_value"), "util"),
}
"""Names imported on first use. The errors, canonical JSON and pointers are light
and always here; the model (attrs classes), the protocols and the hook markers
(pluggy) are imported when first asked for, so that a process that needs only
the errors (``wfaudit --version``, ``wfaudit trigger --server``) starts without
them (issue #18). ``from wfaudit_hookspecs import X`` works for every name."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    imported = importlib.import_module(f"{__name__}.{module}")
    value = imported if name == module else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "LRU",
    "PROJECT_NAME",
    "SCHEMA_VERSION",
    "STANDARD_WORKFLOW_TYPES",
    "STATE_FIELDS",
    "WORKFLOW_TYPE_DESCRIPTIONS",
    "AmbiguousPayload",
    "AmbiguousReference",
    "AmbiguousSnapshot",
    "Annotation",
    "ArchiveStore",
    "AuditEvent",
    "AuditResult",
    "BackupResult",
    "BadStoreURL",
    "Blob",
    "BlobUnreadable",
    "ChainHead",
    "ConfigurationError",
    "DecompressionBomb",
    "DeltaBaseUnavailable",
    "DiffShape",
    "EventKind",
    "Failure",
    "Finding",
    "HistoryQuery",
    "Host",
    "InvalidRequest",
    "KeyedTrail",
    "Manifest",
    "MaskContext",
    "MaskedField",
    "MaskingError",
    "MaskingRequired",
    "MetricsPage",
    "Path",
    "PluginError",
    "Problem",
    "RequestTooLarge",
    "RestoreRef",
    "RetryDecision",
    "SaveResult",
    "SchemaMismatch",
    "SecretReference",
    "SecretRequest",
    "SecretsMismatch",
    "SecretsUnavailable",
    "Snapshot",
    "SnapshotConflict",
    "SnapshotNotFound",
    "SnapshotRecord",
    "SnapshotRef",
    "Stash",
    "StashKey",
    "Status",
    "Store",
    "StoreError",
    "StoreHistory",
    "StoreMaintenance",
    "StoreMeta",
    "StoreNotFound",
    "StoreProxy",
    "StoreRejected",
    "StoreRetention",
    "StoreSchema",
    "StoreStats",
    "StoreUnavailable",
    "SweepBusy",
    "Tag",
    "TagConflict",
    "TrailCheck",
    "TriggerKind",
    "TriggerRequest",
    "UnknownReference",
    "UnknownWorkflowType",
    "UnrecognisedPayload",
    "UnsupportedSchemaVersion",
    "WfauditError",
    "WorkflowType",
    "canonical_json",
    "check_json",
    "check_record_identities",
    "check_tag_name",
    "content_hash",
    "env_flag",
    "fsync_directory",
    "hookimpl",
    "hookspec",
    "hookspecs",
    "normalize_identity",
    "normalize_workflow_type",
    "parse_bool",
    "parse_key_value",
    "parse_pointer",
    "set_clock",
    "to_pointer",
    "utcnow",
]
