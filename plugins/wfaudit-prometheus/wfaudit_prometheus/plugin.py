"""The ``prometheus`` entry point: hook wrappers that time and count each stage.

The wrappers run outermost (``tryfirst``) so they see what the whole stage
did, spooling included; they never change a result, and an error inside a
stage passes through them untouched. Nothing here reads a config or a secret:
labels are workflow types, stage names, statuses and class names, each bounded
to known values (:class:`~wfaudit_prometheus.metrics.LabelValues`): a caller's
text never becomes a label as given.

A metric that cannot be updated (``PROMETHEUS_MULTIPROC_DIR`` names a missing
or unwritable directory, a bug in a collector) never reaches the engine: every
update runs under :func:`_guarded`, which logs the first error of each type
and then stays quiet. The audit goes on, and is stored, without that figure.

No ``wfaudit_configure``/``wfaudit_unconfigure``, and no state in a host's
stash, on purpose: the plugin reads no settings, and its state is the
process's metrics registry (``prometheus_client``'s, or the
``PROMETHEUS_MULTIPROC_DIR`` files), which one scrape of the process reads
whole. Every auditor of the process counts into the same metrics, as they
should (a per-auditor registry would not be scraped), and closing an auditor
must not reset them; so there is nothing to build per host or to release.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import Any

import click

from wfaudit_hookspecs import (
    Blob,
    EventKind,
    Failure,
    Host,
    MaskContext,
    MetricsPage,
    RetryDecision,
    SaveResult,
    SecretRequest,
    Snapshot,
    SnapshotRecord,
    Store,
    TriggerRequest,
    hookimpl,
)
from wfaudit_hookspecs.retention import RetentionRun

from . import metrics

__all__ = [
    "wfaudit_audit_error",
    "wfaudit_event",
    "wfaudit_mask",
    "wfaudit_metrics",
    "wfaudit_on_failure",
    "wfaudit_persist",
    "wfaudit_pre_trigger",
    "wfaudit_register_commands",
    "wfaudit_restore_secrets",
    "wfaudit_retention_run",
]

log = logging.getLogger("wfaudit.prometheus")

_reported: set[str] = set()
"""The error types already logged by :func:`_guarded` (once per process and type)."""
_reported_lock = threading.Lock()

RETENTION_KINDS = frozenset(
    {
        EventKind.ARCHIVED,
        EventKind.RESTORED,
        EventKind.DELETED,
        EventKind.HOLD_SET,
        EventKind.HOLD_RELEASED,
    }
)


@contextlib.contextmanager
def _guarded() -> Iterator[None]:
    """Run metric updates that must never raise into the engine.

    An error is swallowed; the first one of each type is logged (with an
    ``OSError``'s message, which names the file; other messages are left out).
    """
    try:
        yield
    except Exception as exc:
        name = type(exc).__name__
        with _reported_lock:
            first = name not in _reported
            _reported.add(name)
        if first:
            detail = f": {exc}" if isinstance(exc, OSError) else ""
            log.error(
                "wfaudit metrics are not updated (%s%s); audits go on without them, and "
                "further %s errors are not logged (is PROMETHEUS_MULTIPROC_DIR a writable "
                "directory?)",
                name,
                detail,
                name,
            )


def _timed(stage: str) -> Generator[None, Any, Any]:
    """The body of a timing wrapper: observe the stage's duration, pass its result on."""
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        with _guarded():
            metrics.STAGE_SECONDS.labels(stage).observe(time.perf_counter() - start)


@hookimpl(wrapper=True, tryfirst=True)
def wfaudit_pre_trigger(request: TriggerRequest) -> Generator[None, Any, Any]:
    """Time the adapters."""
    return (yield from _timed("pre_trigger"))


@hookimpl(wrapper=True, tryfirst=True)
def wfaudit_mask(context: MaskContext) -> Generator[None, Any, Any]:
    """Time the maskers."""
    with _guarded():  # masking runs after the engine checked the workflow type
        metrics.WORKFLOW_TYPES.learn(context.request.workflow_type)
    return (yield from _timed("mask"))


@hookimpl(wrapper=True, tryfirst=True)
def wfaudit_persist(
    snapshot: SnapshotRecord, payload: Blob, store: Store
) -> Generator[None, Any, Any]:
    """Time the persist stage; count snapshots by outcome and their bytes."""
    with _guarded():
        metrics.WORKFLOW_TYPES.learn(snapshot.workflow_type)
    saved = yield from _timed("persist")
    if isinstance(saved, SaveResult):
        with _guarded():
            _count_saved(snapshot, payload, saved)
    return saved


def _count_saved(snapshot: SnapshotRecord, payload: Blob, saved: SaveResult) -> None:
    kind = metrics.WORKFLOW_TYPES(snapshot.workflow_type)
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
    with _guarded():
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
    """Count a failed audit by workflow type and error class.

    The request's type is the caller's text: it is a label only when known
    (an unknown or mistyped one is ``other``).
    """
    with _guarded():
        kind = metrics.WORKFLOW_TYPES(_normalized(request.workflow_type))
        error_type = type(error).__name__
        metrics.ERROR_TYPES.learn(error_type)
        metrics.SNAPSHOTS.labels(kind, "failed").inc()
        metrics.AUDIT_FAILURES.labels(kind, metrics.ERROR_TYPES(error_type)).inc()


def _normalized(workflow_type: object) -> str:
    return str(workflow_type).strip().upper().replace("-", "_")


@hookimpl
def wfaudit_event(
    kind: str, snapshot: SnapshotRecord, data: Mapping[str, Any], settings: Mapping[str, Any]
) -> None:
    """Count outcomes (of retriggered runs apart) and retention actions.

    Guarded too: an error here would also keep the other observers (webhooks)
    from hearing of the event.
    """
    with _guarded():
        _count_event(kind, snapshot, data)


def _count_event(kind: str, snapshot: SnapshotRecord, data: Mapping[str, Any]) -> None:
    metrics.EVENTS.labels(metrics.EVENT_KINDS(kind)).inc()
    workflow_type = metrics.WORKFLOW_TYPES(snapshot.workflow_type)
    if kind == EventKind.OUTCOME:
        status = metrics.STATUSES(str(data.get("status", snapshot.status)))
        metrics.OUTCOMES.labels(workflow_type, status).inc()
        if snapshot.attempt > 1:
            metrics.RETRIGGER_OUTCOMES.labels(workflow_type, status).inc()
    elif kind in RETENTION_KINDS:
        metrics.RETENTION_ACTIONS.labels(metrics.ACTIONS(kind)).inc()


@hookimpl
def wfaudit_retention_run(run: RetentionRun, settings: Mapping[str, Any]) -> None:
    """Count retention cycles by outcome, and the archive objects and bytes they expired."""
    with _guarded():
        metrics.RETENTION_RUNS.labels("ok" if run.ok else "failed").inc()
        expired, freed = metrics.archive_expiry()
        expired.inc(int(run.counts.get("expired", 0)))
        freed.inc(int(run.counts.get("bytes_freed", 0)))


@hookimpl
def wfaudit_metrics(host: Host) -> MetricsPage:
    """The scrape the web app serves at ``/metrics``: this process's audit metrics
    (every process's, in multiprocess mode) and the host's store and spool."""
    from .exporter import page  # the HTTP exporter is not loaded with the entry point

    return page(host)


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add ``wfaudit metrics serve``."""
    from .cli import metrics as metrics_group

    cli.add_command(metrics_group)
