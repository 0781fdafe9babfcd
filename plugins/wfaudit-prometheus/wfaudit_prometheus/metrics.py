"""The metrics the plugin's hooks update, in their own registry.

Every name starts with ``wfaudit_``. Every label is bounded to known values
(:class:`LabelValues`): workflow types the engine validated, stage names,
statuses, error class names and event kinds, never an id and never a caller's
text as given; anything else is counted as ``other``. A stream of bad requests
adds no series. In
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before the first import)
each process writes its values to that directory and ``wfaudit metrics serve``
adds them up.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

from wfaudit_hookspecs import EventKind, Status, WorkflowType

__all__ = [
    "ACTIONS",
    "AUDITED_COMPRESSED_BYTES",
    "AUDITED_RAW_BYTES",
    "AUDIT_FAILURES",
    "ERROR_TYPES",
    "EVENTS",
    "EVENT_KINDS",
    "OTHER",
    "OUTCOMES",
    "REGISTRY",
    "RETENTION_ACTIONS",
    "RETENTION_RUNS",
    "RETRIGGER_ATTEMPTS",
    "RETRIGGER_OUTCOMES",
    "RETRY_DECISIONS",
    "SNAPSHOTS",
    "STAGE_BUCKETS",
    "STAGE_SECONDS",
    "STATUSES",
    "WORKFLOW_TYPES",
    "LabelValues",
    "archive_expiry",
]

OTHER = "other"
"""The label value of anything not known."""


class LabelValues:
    """The values one label may take: a fixed set, plus up to ``learn`` values
    taught by code that has validated them (workflow types an adapter declared,
    error class names). Anything else, and anything past the limit, is
    :data:`OTHER`, so the number of series stays bounded whatever callers send.
    """

    def __init__(self, known: Iterable[str], *, learn: int = 0) -> None:
        self._known = set(known)
        self._learnable = learn
        self._lock = threading.Lock()

    def learn(self, value: str) -> None:
        """Accept ``value`` from now on (a value the engine checked), while room is left."""
        if value in self._known or self._learnable <= 0:
            return
        with self._lock:
            if value not in self._known and self._learnable > 0:
                self._known.add(value)
                self._learnable -= 1

    def __call__(self, value: object) -> str:
        """``value`` if known, else :data:`OTHER`."""
        return value if isinstance(value, str) and value in self._known else OTHER


WORKFLOW_TYPES = LabelValues((WorkflowType.CI, WorkflowType.PRE_CD, WorkflowType.POST_CD), learn=64)
"""The standard types; an adapter's type is learnt when an audit of it passed the
engine's check (it reached masking or the store), never from a failed request."""
STATUSES = LabelValues(s.value for s in Status)
EVENT_KINDS = LabelValues(
    value for name, value in vars(EventKind).items() if name.isupper() and isinstance(value, str)
)
ACTIONS = EVENT_KINDS
ERROR_TYPES = LabelValues((), learn=64)
"""Error class names: code, not data, but bounded all the same."""

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
RETENTION_RUNS = Counter(
    "wfaudit_retention_runs",
    "Cycles of `wfaudit retention run` that ended, by outcome: ok, failed.",
    ["outcome"],
    registry=REGISTRY,
)
_expiry: tuple[Counter, Counter] | None = None
_expiry_lock = threading.Lock()


def archive_expiry() -> tuple[Counter, Counter]:
    """``wfaudit_archive_expired_objects_total`` and ``wfaudit_archive_freed_bytes_total``,
    made on first use: a counter without labels writes its value file in
    multiprocess mode as soon as it is made, and a process that never expires an
    archive (every orchestrator) must not need the directory for it."""
    global _expiry
    with _expiry_lock:
        if _expiry is None:
            _expiry = (
                Counter(
                    "wfaudit_archive_expired_objects",
                    "Archive objects deleted at the end of their retention date by "
                    "retention cycles.",
                    registry=REGISTRY,
                ),
                Counter(
                    "wfaudit_archive_freed_bytes",
                    "Bytes of the archive objects retention cycles expired.",
                    registry=REGISTRY,
                ),
            )
        return _expiry
