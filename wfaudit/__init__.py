"""wfaudit: immutable, secret-free, content-addressed snapshots of workflow triggers.

>>> from wfaudit import Auditor, TriggerRequest
>>> with Auditor.from_url() as auditor:                       # doctest: +SKIP
...     result = auditor.audit_trigger(TriggerRequest(
...         workflow_id=1001, workflow_type="CI", pipeline_id=7, config={...}))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from wfaudit_hookspecs import WfauditError

if TYPE_CHECKING:
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
        WorkflowType,
        hookimpl,
    )

    from .auditor import AuditFailed, Auditor, Outcome
    from .cli import CliState, chosen_format, format_option, store_options
    from .diff import Change, DiffSummary, SnapshotDiff, TextHunk, is_multiline, line_diff
    from .health import HealthReport
    from .history import TimelineEntry
    from .json_data import plugins_data, stats_data, verify_data
    from .refs import optional_history_store
    from .retrigger import NotRetriggerable, request_document
    from .settings import Settings
    from .spool import DrainReport, Spool, spool_roots, worker_spool_root
    from .tables import Column, Rows, emit
    from .verify import Anchor, VerifyReport

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "AuditFailed",
    "AuditResult",
    "Auditor",
    "Change",
    "CliState",
    "Column",
    "DiffSummary",
    "DrainReport",
    "Failure",
    "HealthReport",
    "Manifest",
    "MaskedField",
    "NotRetriggerable",
    "Outcome",
    "RestoreRef",
    "RetryDecision",
    "Rows",
    "SecretReference",
    "SecretRequest",
    "Settings",
    "Snapshot",
    "SnapshotDiff",
    "SnapshotRecord",
    "SnapshotRef",
    "Spool",
    "Status",
    "TextHunk",
    "TimelineEntry",
    "TriggerKind",
    "TriggerRequest",
    "VerifyReport",
    "WfauditError",
    "WorkflowType",
    "check_health",
    "chosen_format",
    "emit",
    "format_option",
    "hookimpl",
    "is_multiline",
    "line_diff",
    "optional_history_store",
    "plugins_data",
    "request_document",
    "spool_roots",
    "stats_data",
    "store_options",
    "verify_data",
    "verify_store",
    "worker_spool_root",
]

_CONTRACT = "wfaudit_hookspecs"

_LAZY = {
    "SCHEMA_VERSION": _CONTRACT,
    "AuditResult": _CONTRACT,
    "Failure": _CONTRACT,
    "Manifest": _CONTRACT,
    "MaskedField": _CONTRACT,
    "RestoreRef": _CONTRACT,
    "RetryDecision": _CONTRACT,
    "SecretReference": _CONTRACT,
    "SecretRequest": _CONTRACT,
    "Snapshot": _CONTRACT,
    "SnapshotRecord": _CONTRACT,
    "SnapshotRef": _CONTRACT,
    "Status": _CONTRACT,
    "TriggerKind": _CONTRACT,
    "TriggerRequest": _CONTRACT,
    "WorkflowType": _CONTRACT,
    "hookimpl": _CONTRACT,
    "AuditFailed": "auditor",
    "Auditor": "auditor",
    "Outcome": "auditor",
    "Change": "diff",
    "DiffSummary": "diff",
    "SnapshotDiff": "diff",
    "TextHunk": "diff",
    "is_multiline": "diff",
    "line_diff": "diff",
    # The application tier (wfaudit-web, -webhooks, -prometheus) imports these
    # from here, never from the engine's modules (issue #19).
    "CliState": "cli",
    "chosen_format": "cli",
    "format_option": "cli",
    "store_options": "cli",
    "Column": "tables",
    "Rows": "tables",
    "emit": "tables",
    "Settings": "settings",
    "DrainReport": "spool",
    "Spool": "spool",
    "spool_roots": "spool",
    "worker_spool_root": "spool",
    "TimelineEntry": "history",
    "optional_history_store": "refs",
    **dict.fromkeys(("plugins_data", "stats_data", "verify_data"), "json_data"),
    "NotRetriggerable": "retrigger",
    "request_document": "retrigger",
    "HealthReport": "health",
    "VerifyReport": "verify",
}
"""Names imported on first use, so that ``wfaudit --version`` (and every command
that needs neither) starts without the engine's modules (issue #18)."""


def verify_store(
    auditor: Auditor, *, max_findings: int = 1000, anchor: Anchor | None = None
) -> VerifyReport:
    """Verify the auditor's store: its audit trail and blobs are as written (what
    ``wfaudit verify`` runs; see :func:`wfaudit.verify.verify`).

    :raises StoreError: the store does not support verification.
    """
    from .verify import verify

    return verify(auditor, max_findings=max_findings, anchor=anchor)


def check_health(auditor: Auditor, *, write: bool = False) -> HealthReport:
    """Probe the auditor's store (a write probe with ``write``) and spool (what
    ``wfaudit health`` runs); never raises for a store problem, which is what it
    reports."""
    from .health import check

    return check(auditor, write=write)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    path = module if module == _CONTRACT else f"{__name__}.{module}"
    value = getattr(importlib.import_module(path), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
