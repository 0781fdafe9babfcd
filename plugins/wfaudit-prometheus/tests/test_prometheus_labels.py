"""Every label is bounded to known values (issue #16): bad requests add no series.

A failed audit's workflow type is the caller's text; before, each distinct bad
type made a new series of two counters (5,001 bad requests, 5,001 series).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import generate_latest

from wfaudit import Auditor
from wfaudit_hookspecs import EventKind, TriggerRequest, hookimpl
from wfaudit_prometheus import metrics

from .conftest import parse, value

BAD_REQUESTS = 1500


def _series(text: str, *names: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {key for key in parse(text) if key[0] in names}


def _scrape() -> str:
    return generate_latest(metrics.REGISTRY).decode()


class NightlyTypes:
    """An adapter-like plugin declaring one more workflow type."""

    @hookimpl
    def wfaudit_workflow_types(self, register: Callable[[str, str], None]) -> None:
        register("NIGHTLY", "a nightly build")


def request(
    workflow_id: str, workflow_type: str, payload_format: str | None = None
) -> TriggerRequest:
    return TriggerRequest(
        workflow_id=workflow_id,
        workflow_type=workflow_type,
        pipeline_id="pipe-1",
        config={"steps": [{"name": "build"}]},
        format=payload_format,
    )


def test_many_bad_workflow_types_add_one_series(make_auditor: Callable[..., Auditor]) -> None:
    auditor = make_auditor()
    counted = ("wfaudit_snapshots_total", "wfaudit_audit_failures_total")
    # One bad request first, so that its "other" series exist before the count.
    assert not auditor.audit_trigger(request("w0", "BAD-0")).ok
    before_text = _scrape()
    before = _series(before_text, *counted)
    for number in range(1, BAD_REQUESTS + 1):
        # Types no plugin declares, identities that are invalid: each fails.
        assert not auditor.audit_trigger(request(f"w{number}", f"BAD-{number} {'x' * 40}")).ok
    after_text = _scrape()
    after = _series(after_text, *counted)
    new = after - before
    assert new == set()
    for _, labels in after:
        assert not dict(labels)["workflow_type"].startswith("BAD")
    failed = value(
        parse(after_text), "wfaudit_snapshots_total", workflow_type="other", outcome="failed"
    )
    assert (
        failed
        - value(
            parse(before_text), "wfaudit_snapshots_total", workflow_type="other", outcome="failed"
        )
        == BAD_REQUESTS
    )


def test_a_declared_type_is_learnt_once_the_engine_checked_it(
    make_auditor: Callable[..., Auditor],
) -> None:
    auditor = make_auditor(plugins=[NightlyTypes()])
    assert auditor.audit_trigger(request("n1", "nightly")).ok
    text = _scrape()
    assert (
        value(parse(text), "wfaudit_snapshots_total", workflow_type="NIGHTLY", outcome="created")
        >= 1
    )
    # A failure of that (now known) type keeps its label.
    before = value(
        parse(text), "wfaudit_snapshots_total", workflow_type="NIGHTLY", outcome="failed"
    )
    assert not auditor.audit_trigger(request("n2", "nightly", "no-such-format")).ok
    after = value(
        parse(_scrape()), "wfaudit_snapshots_total", workflow_type="NIGHTLY", outcome="failed"
    )
    assert after - before == 1


def test_label_values_are_bounded() -> None:
    values = metrics.LabelValues(["a"], learn=2)
    assert values("a") == "a" and values("b") == metrics.OTHER and values(3) == metrics.OTHER
    for name in ("b", "c", "d", "e"):
        values.learn(name)
    assert [values(name) for name in "abcde"] == ["a", "b", "c", "other", "other"]
    assert metrics.EVENT_KINDS(EventKind.ARCHIVED) == EventKind.ARCHIVED
    assert metrics.EVENT_KINDS("made.up") == metrics.OTHER
    assert metrics.STATUSES("failed") == "failed"
    assert metrics.STATUSES("exploded") == metrics.OTHER
