"""The metrics the plugin's hooks update, in their own registry.

Every name starts with ``wfaudit_``. Labels are bounded: workflow types, stage
names, statuses, error class names and event kinds, never an id. In
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before the first import)
each process writes its values to that directory and ``wfaudit metrics serve``
adds them up.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "AUDITED_COMPRESSED_BYTES",
    "AUDITED_RAW_BYTES",
    "AUDIT_FAILURES",
    "EVENTS",
    "OUTCOMES",
    "REGISTRY",
    "RETENTION_ACTIONS",
    "RETRIGGER_ATTEMPTS",
    "RETRIGGER_OUTCOMES",
    "RETRY_DECISIONS",
    "SNAPSHOTS",
    "STAGE_BUCKETS",
    "STAGE_SECONDS",
]

REGISTRY = CollectorRegistry(auto_describe=True)
"""The registry of the in-process metrics (not prometheus_client's global one)."""

STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Stages take milliseconds; a persist that waits on a locked database takes seconds."""

SNAPSHOTS = Counter(
    "wfaudit_snapshots",
    "Audits by workflow type and outcome: created (a new snapshot), repeated (an "
    "identical audit already stored), spooled (the store was down), failed.",
    ["workflow_type", "outcome"],
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "wfaudit_stage_duration_seconds",
    "Time spent in each stage hook (all its plugins), in seconds.",
    ["stage"],
    buckets=STAGE_BUCKETS,
    registry=REGISTRY,
)
AUDIT_FAILURES = Counter(
    "wfaudit_audit_failures",
    "Audits that failed, by workflow type and error class.",
    ["workflow_type", "error_type"],
    registry=REGISTRY,
)
AUDITED_RAW_BYTES = Counter(
    "wfaudit_audited_raw_bytes",
    "Canonical JSON bytes of the masked configs of new snapshots.",
    ["workflow_type"],
    registry=REGISTRY,
)
AUDITED_COMPRESSED_BYTES = Counter(
    "wfaudit_audited_compressed_bytes",
    "Compressed bytes of the blobs handed to the store for new snapshots (before "
    "the store's dedup of identical configs).",
    ["workflow_type"],
    registry=REGISTRY,
)
OUTCOMES = Counter(
    "wfaudit_outcomes",
    "Outcomes recorded, by workflow type and status.",
    ["workflow_type", "status"],
    registry=REGISTRY,
)
RETRIGGER_ATTEMPTS = Counter(
    "wfaudit_retrigger_attempts",
    "New snapshots of retriggered runs (attempt 2 and later).",
    ["workflow_type"],
    registry=REGISTRY,
)
RETRIGGER_OUTCOMES = Counter(
    "wfaudit_retrigger_outcomes",
    "Outcomes of retriggered runs (attempt 2 and later) by status; the success rate "
    'is status="succeeded" over all of them.',
    ["workflow_type", "status"],
    registry=REGISTRY,
)
RETRY_DECISIONS = Counter(
    "wfaudit_retry_decisions",
    "The retry policies' combined decisions on failed runs: retry, no_retry, no_vote.",
    ["decision"],
    registry=REGISTRY,
)
RETENTION_ACTIONS = Counter(
    "wfaudit_retention_actions",
    "Retention and archival actions: snapshot.archived, snapshot.restored, "
    "snapshot.deleted, legal_hold.set, legal_hold.released.",
    ["action"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "wfaudit_events",
    "Operations on snapshots reported to the wfaudit_event hook, by kind.",
    ["kind"],
    registry=REGISTRY,
)
