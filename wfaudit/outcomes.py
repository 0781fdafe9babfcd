"""Outcomes and votes: how a run ended, and whether the retry policies retry it.

:meth:`wfaudit.Auditor.record_outcome` is :meth:`Outcomes.record_outcome` here: the
status is recorded (its free-text reason masked first), the observers are
told, and for a failed or errored run the retry policies vote
(``wfaudit_on_failure``); any veto wins, and the engine's attempt limit caps
the combined decision (:func:`wfaudit.retrigger.cap_decision`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from wfaudit_hookspecs import (
    EventKind,
    Failure,
    InvalidRequest,
    PluginError,
    RetryDecision,
    SnapshotRecord,
    Status,
    TriggerRequest,
    check_json,
    normalize_identity,
    normalize_workflow_type,
)

from . import retrigger as replay
from .masking import Marks, apply_marks

if TYPE_CHECKING:
    from .ports import OutcomeEngine

__all__ = ["Outcome", "Outcomes", "combine_votes", "mask_reason", "parse_status"]

log = logging.getLogger("wfaudit")


@attrs.frozen(kw_only=True)
class Outcome:
    """What :meth:`Auditor.record_outcome` returns.

    :ivar record: the snapshot record with its new status.
    :ivar retry: the retry policies' combined decision, for a failed or errored
        run; None when no policy voted or the run did not fail.
    """

    record: SnapshotRecord
    retry: RetryDecision | None = None


class Outcomes:
    """The outcomes of one auditor (``engine``)."""

    def __init__(self, engine: OutcomeEngine) -> None:
        self.engine = engine

    def record_outcome(
        self,
        workflow_id: str | int,
        workflow_type: str,
        status: Status | str,
        reason: str | None = None,
        *,
        by: str | None = None,
        tenant: str | None = None,
    ) -> Outcome:
        """Record how a run ended (or that it is running).

        A ``failed`` or ``error`` outcome asks the retry policies
        (``wfaudit_on_failure``); their combined decision is in the result.
        The same status recorded again with no ``reason`` keeps the stored one.
        """
        auditor = self.engine
        new_status = parse_status(status)
        if new_status is Status.TRIGGERED:
            raise InvalidRequest(
                "'triggered' is the status an audit gives; record running, succeeded, "
                "failed, error or cancelled"
            )
        kind = normalize_workflow_type(workflow_type)
        auditor.check_key()
        workflow_id = normalize_identity(workflow_id)
        by = None if by is None or by == "" else normalize_identity(by)
        scope = auditor.scoped_tenant(tenant)
        if reason is not None:
            reason = mask_reason(auditor, workflow_id, kind, reason)
        else:
            # The same status again without a reason (a reporter repeating
            # itself) keeps the reason given before; a new status starts afresh.
            current = auditor.store.get_record(
                workflow_id=str(workflow_id), workflow_type=kind, tenant=scope
            )
            if current is not None and current.status is new_status:
                reason = current.status_reason
        record = auditor.store.set_status(
            workflow_id=str(workflow_id),
            workflow_type=kind,
            tenant=scope,
            status=new_status,
            reason=reason,
            by=by,
        )
        auditor.notify(EventKind.OUTCOME, record, {"status": new_status.value})
        if not new_status.is_failure:
            return Outcome(record=record)
        attempt = replay.attempt_of(auditor.store, record)
        try:
            votes = auditor.hooks.on_failure(
                record, Failure(status=new_status, reason=reason), attempt, auditor.settings.options
            )
            combined = combine_votes(votes)
        except Exception as exc:
            # The outcome is recorded already; a broken policy must not hide it,
            # nor let a retry through: it counts as a veto, in the trail too.
            log.error("a retry policy failed: %s", type(exc).__name__)
            combined = RetryDecision(
                retry=False,
                reason=f"a retry policy raised {type(exc).__name__}",
                policy=replay.ENGINE_POLICY,
            )
        decision = replay.cap_decision(auditor, record, combined, attempt)
        return Outcome(record=record, retry=decision)


def mask_reason(auditor: OutcomeEngine, workflow_id: str, workflow_type: str, reason: str) -> str:
    """The orchestrator's free-text reason with any secret in it masked.

    A reason is copied from a log line as often as not (``docker login -p
    ...`` failed): it passes the same maskers as a config before it is stored.
    """
    if not isinstance(reason, str):
        raise InvalidRequest(f"an outcome's reason is text, not {type(reason).__name__}")
    if "\x00" in reason:  # no database text type holds it (PostgreSQL refuses it)
        raise InvalidRequest("an outcome's reason must not contain NUL characters")
    if not auditor.hooks.maskers():
        return reason
    request = TriggerRequest(
        workflow_id=workflow_id,
        workflow_type=workflow_type,
        pipeline_id="-outcome-",
        config={"reason": reason},
    )
    config = check_json(request.config)
    marks = Marks(
        request, config, auditor.settings.options, auditor.plugin_manager.reference_syntax
    )
    # The maskers alone: wrappers of the mask hook (metrics, tracing) time
    # the audit's stages, and a reason is not an audit.
    auditor.hooks.mask_only(marks, host=auditor.host)
    masked = apply_marks(marks, config, auditor.keys.current, adapter=None, maskers=())
    return str(masked.config["reason"])


def combine_votes(votes: Sequence[RetryDecision | None]) -> RetryDecision | None:
    """Any veto wins; otherwise a retry needs at least one vote for it."""
    cast = [vote for vote in votes if vote is not None]
    for vote in cast:
        if not isinstance(vote, RetryDecision):
            raise PluginError(f"a retry policy returned {type(vote).__name__}, not RetryDecision")
    vetoes = [vote for vote in cast if not vote.retry]
    if vetoes:
        return vetoes[0]
    return cast[0] if cast else None


def parse_status(value: Status | str) -> Status:
    """The :class:`Status` named by ``value`` (case and spaces ignored)."""
    try:
        return Status(str(value).strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in Status)
        raise InvalidRequest(f"unknown status {value!r}; use one of {known}") from None
