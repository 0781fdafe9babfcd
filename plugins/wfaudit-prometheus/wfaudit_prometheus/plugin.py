"""The ``prometheus`` entry point: hook wrappers that time and count each stage.

The wrappers run outermost (``tryfirst``) so they see what the whole stage
did, spooling included; they never change a result, and an error inside a
stage passes through them untouched. Nothing here reads a config or a secret:
labels are workflow types, stage names, statuses and class names.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import click

from wfaudit_hookspecs import (
    Blob,
    EventKind,
    Failure,
    MaskContext,
    RetryDecision,
    SaveResult,
    SecretRequest,
    Snapshot,
    SnapshotRecord,
    Store,
    TriggerRequest,
    hookimpl,
)

from . import metrics

__all__ = [
    "wfaudit_audit_error",
    "wfaudit_event",
    "wfaudit_mask",
    "wfaudit_on_failure",
    "wfaudit_persist",
    "wfaudit_pre_trigger",
    "wfaudit_register_commands",
    "wfaudit_restore_secrets",
]

RETENTION_KINDS = frozenset(
    {
        EventKind.ARCHIVED,
        EventKind.RESTORED,
        EventKind.DELETED,
        EventKind.HOLD_SET,
        EventKind.HOLD_RELEASED,
    }
)


def _timed(stage: str) -> Generator[None, Any, Any]:
    """The body of a timing wrapper: observe the stage's duration, pass its result on."""
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        metrics.STAGE_SECONDS.labels(stage).observe(time.perf_counter() - start)


@hookimpl(wrapper=True, tryfirst=True)
def wfaudit_pre_trigger(request: TriggerRequest) -> Generator[None, Any, Any]:
    """Time the adapters."""
    return (yield from _timed("pre_trigger"))


@hookimpl(wrapper=True, tryfirst=True)
def wfaudit_mask(context: MaskContext) -> Generator[None, Any, Any]:
    """Time the maskers."""
    return (yield from _timed("mask"))


@hookimpl(wrapper=True, tryfirst=True)
def wfaudit_persist(
    snapshot: SnapshotRecord, payload: Blob, store: Store
) -> Generator[None, Any, Any]:
    """Time the persist stage; count snapshots by outcome and their bytes."""
    saved = yield from _timed("persist")
    if isinstance(saved, SaveResult):
        kind = snapshot.workflow_type
        if saved.spooled:
            metrics.SNAPSHOTS.labels(kind, "spooled").inc()
        elif saved.created:
            metrics.SNAPSHOTS.labels(kind, "created").inc()
            metrics.AUDITED_RAW_BYTES.labels(kind).inc(snapshot.config_size)
            metrics.AUDITED_COMPRESSED_BYTES.labels(kind).inc(len(payload.data))
            if snapshot.attempt > 1:
                metrics.RETRIGGER_ATTEMPTS.labels(kind).inc()
        else:
            metrics.SNAPSHOTS.labels(kind, "repeated").inc()
    return saved


@hookimpl(wrapper=True, tryfirst=True)
def wfaudit_on_failure(
    snapshot: SnapshotRecord, failure: Failure, attempt: int
) -> Generator[None, Any, Any]:
    """Time the retry policies; count their combined decision (any veto wins)."""
    votes = yield from _timed("on_failure")
    cast = [vote for vote in votes or () if isinstance(vote, RetryDecision)]
    if any(not vote.retry for vote in cast):
        decision = "no_retry"
    elif cast:
        decision = "retry"
    else:
        decision = "no_vote"
    metrics.RETRY_DECISIONS.labels(decision).inc()
    return votes


@hookimpl(wrapper=True, tryfirst=True)
def wfaudit_restore_secrets(
    snapshot: Snapshot, requests: Sequence[SecretRequest], settings: Mapping[str, Any]
) -> Generator[None, Any, Any]:
    """Time the restorers (the values they return are never looked at)."""
    return (yield from _timed("restore_secrets"))


@hookimpl
def wfaudit_audit_error(request: TriggerRequest, error: BaseException) -> None:
    """Count a failed audit by workflow type and error class."""
    metrics.SNAPSHOTS.labels(request.workflow_type, "failed").inc()
    metrics.AUDIT_FAILURES.labels(request.workflow_type, type(error).__name__).inc()


@hookimpl
def wfaudit_event(
    kind: str, snapshot: SnapshotRecord, data: Mapping[str, Any], settings: Mapping[str, Any]
) -> None:
    """Count outcomes (of retriggered runs apart) and retention actions."""
    metrics.EVENTS.labels(kind).inc()
    if kind == EventKind.OUTCOME:
        status = str(data.get("status", snapshot.status))
        metrics.OUTCOMES.labels(snapshot.workflow_type, status).inc()
        if snapshot.attempt > 1:
            metrics.RETRIGGER_OUTCOMES.labels(snapshot.workflow_type, status).inc()
    elif kind in RETENTION_KINDS:
        metrics.RETENTION_ACTIONS.labels(kind).inc()


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add ``wfaudit metrics serve``."""
    from .cli import metrics as metrics_group

    cli.add_command(metrics_group)
