"""What the sweeper and the archive keeper share: the store they need, the
callbacks they tell, and how a failure is reported."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from wfaudit_hookspecs import (
    SnapshotRecord,
    Store,
    StoreError,
    WfauditError,
)
from wfaudit_hookspecs.retention import (
    RetentionCandidate,
    StoreRetention,
)

__all__ = [
    "MAX_REPORTED_FAILURES",
    "Notify",
    "RetentionStore",
    "StepCallback",
    "SweepFailure",
    "retention_store",
]

if TYPE_CHECKING:
    pass

log = logging.getLogger("wfaudit.retention")


@attrs.frozen(kw_only=True)
class SweepFailure:
    """A snapshot a sweep could not archive: reported, left in the store, and
    skipped (the sweep goes on with the others; the next sweep tries it again).

    :ivar error: what failed (names the snapshot, the blob or the object key,
        never data).
    """

    snapshot_id: str
    tenant: str | None
    pipeline_id: str
    error: str


MAX_REPORTED_FAILURES = 100
"""Failures listed in a :class:`SweepReport` (``failed`` counts them all)."""


@runtime_checkable
class RetentionStore(Store, StoreRetention, Protocol):
    """A store with the retention methods (``wfaudit-sql``'s ``SqlStore``)."""


Notify = Callable[[str, SnapshotRecord, Mapping[str, Any]], None]
"""Told of an operation on a snapshot: (event kind, record, JSON data)."""

StepCallback = Callable[[str, RetentionCandidate], None]
"""Told of each step of a sweep: ``object-written``, ``archived``, ``deleted``."""


def retention_store(store: Store) -> RetentionStore:
    """The store, if it supports retention; else a StoreError saying so."""
    if not isinstance(store, RetentionStore):
        raise StoreError(f"the store at {store.url} does not support retention")
    return store


def _run_id() -> str:
    return f"run-{os.urandom(10).hex()}"


def _unexpected(exc: BaseException) -> str:
    # The message of an unexpected error could quote data: name the type only.
    return f"unexpected {type(exc).__name__} (run `wfaudit retention apply` to see it)"


class _logged:
    """Log (and swallow) a store error: recording a run must not hide the run's own
    outcome, which the observers still hear of."""

    def __init__(self, message: str, *args: object) -> None:
        self.message, self.args = message, args

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any
    ) -> bool:
        if exc is None or not isinstance(exc, WfauditError):
            return False
        log.error(self.message + ": %s", *self.args, exc)
        return True


def _failure(candidate: RetentionCandidate, error: Exception) -> SweepFailure:
    return SweepFailure(
        snapshot_id=candidate.id,
        tenant=candidate.tenant,
        pipeline_id=candidate.pipeline_id,
        error=str(error),
    )


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
