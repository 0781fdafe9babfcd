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
    from .diff import Change, SnapshotDiff
    from .json_data import plugins_data, stats_data, verify_data

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
    "plugins_data",
    "stats_data",
    "verify_data",
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
    "SnapshotDiff": "diff",
    **dict.fromkeys(("plugins_data", "stats_data", "verify_data"), "json_data"),
}
"""Names imported on first use, so that ``wfaudit --version`` (and every command
that needs neither) starts without the engine's modules (issue #18)."""


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
