"""The built-in retry policy: votes on failed and errored runs (``wfaudit_on_failure``).

Disabled by default. When enabled it votes for a retry when the failure's
reason is one of the retryable kinds (infrastructure trouble, timeouts, lost
nodes ...) and the run has retries left, and against one when the reason is a
failure of the workflow itself (a failing test, a compile error) or the retries
are exhausted. Disabled, it abstains: other policy plugins vote on their own.

Whatever the policies vote, the engine holds the same per-type limit along the
parent chain of snapshots (:mod:`wfaudit.retrigger`), so no loop of failures
can retry forever. The settings are parsed by :mod:`wfaudit.retry` (the one
parser of the policy and the engine), and checked at start in ``wfaudit_configure``.

Settings: see :mod:`wfaudit.retry` and ``docs/retrigger.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wfaudit.retry import (
    ABSOLUTE_MAX_RETRIES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_NOT_RETRYABLE,
    DEFAULT_RETRYABLE,
    POLICY,
    TABLE,
    RetrySettings,
)
from wfaudit_hookspecs import Failure, Host, RetryDecision, SnapshotRecord, hookimpl

__all__ = [
    "ABSOLUTE_MAX_RETRIES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_NOT_RETRYABLE",
    "DEFAULT_RETRYABLE",
    "POLICY",
    "TABLE",
    "RetrySettings",
    "wfaudit_configure",
    "wfaudit_on_failure",
]


@hookimpl
def wfaudit_configure(host: Host) -> None:
    """Check the retry settings: a bad value (a typo in ``WORKFLOW_RETRIES_ENABLED``)
    fails here, at start, not as a silent veto. They are read again at each
    failure: the environment of a long-lived process may change them."""
    RetrySettings.load(host.settings)


@hookimpl
def wfaudit_on_failure(
    snapshot: SnapshotRecord, failure: Failure, attempt: int, settings: Mapping[str, Any]
) -> RetryDecision | None:
    """Vote as the settings say; abstain while retries are disabled."""
    policy = RetrySettings.load(settings)
    if not policy.enabled:
        return None
    retryable, why = policy.classify(failure)
    if not retryable:
        return RetryDecision(retry=False, reason=why, policy=POLICY)
    limit, source = policy.limit(snapshot.workflow_type)
    retries = attempt - 1
    if retries >= limit:
        return RetryDecision(
            retry=False,
            reason=f"retries exhausted: {retries} of {limit} ({source}) used",
            policy=POLICY,
        )
    return RetryDecision(
        retry=True,
        reason=f"{why}; retry {retries + 1} of {limit}",
        policy=POLICY,
        delay_seconds=policy.delay_seconds,
    )
