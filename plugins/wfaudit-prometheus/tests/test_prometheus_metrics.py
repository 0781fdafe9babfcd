"""The metrics, scraped over HTTP from a real exporter after a series of audits.

Counters live in one registry per process, which other tests also move:
every check compares a scrape after the series with one before it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wfaudit import Auditor
from wfaudit_hookspecs import EventKind, MaskingRequired, TriggerRequest
from wfaudit_prometheus import make_registry, serve

from .conftest import parse, value

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def ci(workflow_id: str, image: str = "app:1", **changes: object) -> TriggerRequest:
    fields: dict[str, object] = {
        "workflow_id": workflow_id,
        "workflow_type": "CI",
        "pipeline_id": "pipe-1",
        "config": {
            "image": image,
            "steps": [{"name": "build", "script": "make"}],
            "env": {"GITHUB_TOKEN": SECRET},
        },
        "triggered_by": "ana",
    }
    fields.update(changes)
    return TriggerRequest(**fields)  # type: ignore[arg-type]


def test_counters_and_histograms_after_a_series_of_audits(
    make_auditor: Callable[..., Auditor], scrape_text: Callable[[str], str]
) -> None:
    auditor = make_auditor()
    exporter = serve(make_registry(auditor), port=0)
    try:
        before = parse(scrape_text(exporter.url))

        first = auditor.audit_trigger(ci("w1"))
        auditor.audit_trigger(ci("w2", image="app:2"))
        auditor.audit_trigger(ci("w3", image="app:3"))
        assert auditor.audit_trigger(ci("w1")).created is False  # repeated
        failed = auditor.audit_trigger(ci("w4", workflow_type="NOPE"))
        assert not failed.ok
        auditor.record_outcome("w1", "CI", "failed", "exit 1")
        auditor.record_outcome("w2", "CI", "succeeded")
        assert first.ref is not None
        retry = auditor.audit_trigger(
            ci("w1-retry", parent=first.ref.id, attempt=2, trigger_kind="retry")
        )
        assert retry.ok and retry.created
        auditor.record_outcome("w1-retry", "CI", "succeeded")
        record = auditor.get_snapshot("w3", "CI")
        auditor.notify(EventKind.ARCHIVED, record)  # what retention reports

        text = scrape_text(exporter.url)
        after = parse(text)
    finally:
        exporter.stop()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("wfaudit_snapshots_total", workflow_type="CI", outcome="created") == 4
    assert delta("wfaudit_snapshots_total", workflow_type="CI", outcome="repeated") == 1
    assert delta("wfaudit_snapshots_total", workflow_type="other", outcome="failed") == 1
    assert (
        delta(
            "wfaudit_audit_failures_total", workflow_type="other", error_type="UnknownWorkflowType"
        )
        == 1
    )
    # Histogram counts: every audit passed the pre-trigger stage; the failed one
    # stopped before masking; five reached the store.
    assert delta("wfaudit_stage_duration_seconds_count", stage="pre_trigger") == 6
    assert delta("wfaudit_stage_duration_seconds_count", stage="mask") == 5
    assert delta("wfaudit_stage_duration_seconds_count", stage="persist") == 5
    assert delta("wfaudit_stage_duration_seconds_bucket", stage="persist", le="+Inf") == 5
    assert delta("wfaudit_stage_duration_seconds_sum", stage="persist") > 0
    assert delta("wfaudit_stage_duration_seconds_count", stage="on_failure") == 1
    assert delta("wfaudit_retry_decisions_total", decision="no_vote") == 1
    assert delta("wfaudit_outcomes_total", workflow_type="CI", status="succeeded") == 2
    assert delta("wfaudit_outcomes_total", workflow_type="CI", status="failed") == 1
    assert delta("wfaudit_retrigger_attempts_total", workflow_type="CI") == 1
    assert delta("wfaudit_retrigger_outcomes_total", workflow_type="CI", status="succeeded") == 1
    assert delta("wfaudit_retention_actions_total", action="snapshot.archived") == 1
    raw = delta("wfaudit_audited_raw_bytes_total", workflow_type="CI")
    compressed = delta("wfaudit_audited_compressed_bytes_total", workflow_type="CI")
    assert raw > 0 and compressed > 0

    # Read from the store at the scrape: this test's store only.
    assert value(after, "wfaudit_store_up") == 1
    assert value(after, "wfaudit_store_snapshots", status="succeeded") == 2
    assert value(after, "wfaudit_store_snapshots", status="failed") == 1
    assert value(after, "wfaudit_store_snapshots", status="triggered") == 1
    assert value(after, "wfaudit_spool_depth") == 0
    assert value(after, "wfaudit_store_raw_bytes") == raw
    assert 0 < value(after, "wfaudit_store_stored_bytes") < raw
    assert value(after, "wfaudit_store_compression_ratio") > 1
    assert value(after, "wfaudit_store_dedup_ratio") >= 1
    assert SECRET not in text and "hunter" not in text


def test_the_wrappers_are_not_maskers(make_auditor: Callable[..., Auditor]) -> None:
    """The mask-stage wrapper marks nothing: without a masker the engine still
    refuses to persist, and a snapshot's manifest names only the real maskers."""
    bare = make_auditor(entry_points="sql,prometheus", strict=True)
    with pytest.raises(MaskingRequired):
        bare.audit_trigger(ci("w1"))
    auditor = make_auditor()
    result = auditor.audit_trigger(ci("w1"))
    assert result.ok and result.masked == 1
    assert auditor.get_snapshot("w1", "CI").manifest.maskers == ("maskers",)
