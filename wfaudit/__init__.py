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

    from .archive import FileArchive, open_archive
    from .auditor import AuditFailed, Auditor, Outcome
    from .cli_support import CliState, chosen_format, format_option, store_options
    from .diff import (
        Change,
        DiffSummary,
        NodeChanges,
        SnapshotDiff,
        TextHunk,
        diff_configs,
        is_multiline,
        line_diff,
        summarize,
    )
    from .health import HealthReport
    from .history import TimelineEntry
    from .json_data import plugins_data, stats_data, verify_data
    from .keys import KEY_ENV, load_keys
    from .loading import load_payload
    from .plugins import make_plugin_manager
    from .refs import optional_history_store
    from .retention import (
        DEFAULT_KEEP,
        Action,
        ArchiveAction,
        RetentionPolicy,
        RetentionRule,
        Sweeper,
        add_hold,
        release_hold,
        restore_snapshot,
        run_every,
    )
    from .retrigger import NotRetriggerable, request_document
    from .settings import Settings
    from .spool import DrainReport, Spool, spool_roots, worker_spool_root
    from .tables import Column, Rows, emit
    from .verify import Anchor, VerifyReport

from ._version import __version__ as __version__

__all__ = [
    "DEFAULT_KEEP",
    "KEY_ENV",
    "SCHEMA_VERSION",
    "Action",
    "ArchiveAction",
    "AuditFailed",
    "AuditResult",
    "Auditor",
    "Change",
    "CliState",
    "Column",
    "DiffSummary",
    "DrainReport",
    "Failure",
    "FileArchive",
    "HealthReport",
    "Manifest",
    "MaskedField",
    "NodeChanges",
    "NotRetriggerable",
    "Outcome",
    "RestoreRef",
    "RetentionPolicy",
    "RetentionRule",
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
    "Sweeper",
    "TextHunk",
    "TimelineEntry",
    "TriggerKind",
    "TriggerRequest",
    "VerifyReport",
    "WfauditError",
    "WorkflowType",
    "add_hold",
    "check_health",
    "chosen_format",
    "diff_configs",
    "emit",
    "format_option",
    "hookimpl",
    "is_multiline",
    "line_diff",
    "load_keys",
    "load_payload",
    "make_plugin_manager",
    "open_archive",
    "optional_history_store",
    "plugins_data",
    "release_hold",
    "request_document",
    "restore_snapshot",
    "run_every",
    "spool_roots",
    "stats_data",
    "store_options",
    "summarize",
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
    "CliState": "cli_support",
    "chosen_format": "cli_support",
    "format_option": "cli_support",
    "store_options": "cli_support",
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
    # What plugins' tests (and embedders) need, from here rather than the modules.
    "load_payload": "loading",
    **dict.fromkeys(("NodeChanges", "diff_configs", "summarize"), "diff"),
    **dict.fromkeys(
        (
            "DEFAULT_KEEP",
            "Action",
            "ArchiveAction",
            "RetentionPolicy",
            "RetentionRule",
            "Sweeper",
            "add_hold",
            "release_hold",
            "restore_snapshot",
            "run_every",
        ),
        "retention",
    ),
    **dict.fromkeys(("FileArchive", "open_archive"), "archive"),
    "make_plugin_manager": "plugins",
    **dict.fromkeys(("KEY_ENV", "load_keys"), "keys"),
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
