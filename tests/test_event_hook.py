"""The ``wfaudit_event`` hook: observers hear of audits and outcomes once the
trail holds them, and an observer that fails never fails the operation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from wfaudit import Auditor, hookimpl
from wfaudit_hookspecs import EventKind, SnapshotRecord, TriggerRequest

from .conftest import KeyNameMasker


class EventRecorder:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.events: list[tuple[str, str, dict[str, Any], Mapping[str, Any]]] = []

    @hookimpl
    def wfaudit_event(
        self,
        kind: str,
        snapshot: SnapshotRecord,
        data: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> None:
        self.events.append((kind, snapshot.id, dict(data), settings))
        if self.fail:
            raise RuntimeError("observer broke")


def _request(workflow_id: str = "7") -> TriggerRequest:
    return TriggerRequest(
        workflow_id=workflow_id,
        workflow_type="CI",
        pipeline_id="p",
        config={"image": "app:1", "password": "hunter2-hunter2"},
    )


def test_hook_wfaudit_event(make_auditor: Callable[..., Auditor]) -> None:
    recorder = EventRecorder()
    auditor = make_auditor(KeyNameMasker(), recorder)
    first = auditor.audit_trigger(_request())
    assert first.ok and first.ref is not None
    auditor.audit_trigger(_request())  # a repeated, identical audit: no new event
    auditor.record_outcome("7", "CI", "failed", "exit 1")
    assert [(kind, subject, data) for kind, subject, data, _ in recorder.events] == [
        (EventKind.AUDITED, first.ref.id, {}),
        (EventKind.OUTCOME, first.ref.id, {"status": "failed"}),
    ]
    assert all(isinstance(settings, Mapping) for *_, settings in recorder.events)
    assert "hunter2" not in repr(recorder.events)


def test_a_failing_event_observer_never_fails_the_operation(
    make_auditor: Callable[..., Auditor],
) -> None:
    recorder = EventRecorder(fail=True)
    auditor = make_auditor(KeyNameMasker(), recorder, strict=True)
    result = auditor.audit_trigger(_request("8"))
    assert result.ok and result.created
    outcome = auditor.record_outcome("8", "CI", "succeeded")
    assert outcome.record.status == "succeeded"
    assert [kind for kind, *_ in recorder.events] == [EventKind.AUDITED, EventKind.OUTCOME]


class AuditErrorRecorder:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.errors: list[str] = []

    @hookimpl
    def wfaudit_audit_error(self, request: TriggerRequest, error: BaseException) -> None:
        self.errors.append(type(error).__name__)
        if self.fail:
            raise RuntimeError("observer broke")


def test_a_failing_observer_does_not_silence_the_others(
    make_auditor: Callable[..., Auditor],
) -> None:
    """pluggy stops a hook call at the first implementation that raises; the
    engine calls each observer on its own, so metrics and webhooks keep hearing."""
    for n, broken_first in enumerate((True, False)):
        good, broken = EventRecorder(), EventRecorder(fail=True)
        heard, broken_errors = AuditErrorRecorder(), AuditErrorRecorder(fail=True)
        observers = (broken, good, broken_errors, heard)
        if not broken_first:
            observers = (good, broken, heard, broken_errors)
        auditor = make_auditor(KeyNameMasker(), *observers)
        result = auditor.audit_trigger(_request(f"9{n}"))
        assert result.ok
        auditor.record_outcome(f"9{n}", "CI", "failed", "exit 1")
        assert [kind for kind, *_ in good.events] == [EventKind.AUDITED, EventKind.OUTCOME]
        assert [kind for kind, *_ in broken.events] == [EventKind.AUDITED, EventKind.OUTCOME]
        bad = auditor.audit_trigger(
            TriggerRequest(workflow_id=f"10{n}", workflow_type="NOPE", pipeline_id="p", config={})
        )
        assert not bad.ok
        assert heard.errors == ["UnknownWorkflowType"] == broken_errors.errors
