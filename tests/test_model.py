"""The data model and its converter: identities, reprs, schema versions."""

from __future__ import annotations

import datetime as dt

import pytest

from wfaudit_hookspecs import (
    SCHEMA_VERSION,
    InvalidRequest,
    Manifest,
    MaskedField,
    RestoreRef,
    SnapshotRecord,
    Status,
    TriggerKind,
    TriggerRequest,
    UnsupportedSchemaVersion,
)
from wfaudit_hookspecs.converter import UPGRADES, structure_record, unstructure


def test_identities_are_strings_and_integers_are_converted() -> None:
    request = TriggerRequest(workflow_id=42, workflow_type="pre-cd", pipeline_id=7, config={})
    assert request.workflow_id == "42"
    assert request.pipeline_id == "7"
    assert request.workflow_type == "PRE_CD"


@pytest.mark.parametrize("bad", ["", "   ", True, 1.5, None, "x" * 256])
def test_bad_identities_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        TriggerRequest(workflow_id=bad, workflow_type="CI", pipeline_id=1, config={})


def test_repr_never_shows_the_config() -> None:
    request = TriggerRequest(
        workflow_id=1, workflow_type="CI", pipeline_id=1, config={"password": "hunter2-secret"}
    )
    assert "hunter2" not in repr(request)
    assert "<config: 1 keys>" in repr(request)


def test_bad_labels_attempt_and_kind_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        TriggerRequest(
            workflow_id=1, workflow_type="CI", pipeline_id=1, config={}, labels={"": "x"}
        )
    with pytest.raises(InvalidRequest):
        TriggerRequest(workflow_id=1, workflow_type="CI", pipeline_id=1, config={}, attempt=0)
    with pytest.raises(ValueError, match="nope"):
        TriggerRequest(
            workflow_id=1, workflow_type="CI", pipeline_id=1, config={}, trigger_kind="nope"
        )


def _record(**changes: object) -> SnapshotRecord:
    fields: dict[str, object] = {
        "id": "01J00000000000000000000000",
        "workflow_id": "1001",
        "workflow_type": "CI",
        "pipeline_id": "7",
        "content_hash": "a" * 64,
        "manifest": Manifest(
            fields=(
                MaskedField(path="/dockerPassword", rule="known-field", fingerprint="f" * 64),
                MaskedField(
                    path="/url",
                    rule="url-password",
                    fingerprint="e" * 64,
                    span=(12, 37),
                    restore=RestoreRef(kind="env", target="DB_PASSWORD"),
                ),
            ),
            adapter="devtron",
            maskers=("maskers",),
        ),
        "labels": {"app": "payments"},
        "status": Status.FAILED,
        "trigger_kind": TriggerKind.RETRY,
        "created_on": dt.datetime(2026, 11, 20, 9, 14, 5, 123456, tzinfo=dt.UTC),
    }
    fields.update(changes)
    return SnapshotRecord(**fields)  # type: ignore[arg-type]


def test_record_round_trips_through_json_data() -> None:
    record = _record()
    data = unstructure(record)
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["status"] == "failed"
    assert structure_record(data) == record


def test_devtron_style_version_strings_are_read() -> None:
    data = unstructure(_record())
    data["schema_version"] = "V1"
    assert structure_record(data).schema_version == 1


@pytest.mark.parametrize("future", [SCHEMA_VERSION + 1, "V99", "banana", True])
def test_unknown_future_versions_are_refused_clearly(future: object) -> None:
    data = unstructure(_record())
    data["schema_version"] = future
    with pytest.raises(UnsupportedSchemaVersion) as info:
        structure_record(data)
    assert "upgrade wfaudit" in str(info.value)


def test_version_0_records_are_upgraded_on_read() -> None:
    legacy = {
        "schema_version": "V0",
        "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "workflowId": 991,
        "workflowType": "CI",
        "pipelineId": 12,
        "triggeredBy": 3,
        "contentHash": "b" * 64,
        "maskedPaths": ["/dockerPassword", "/blobStorageS3Config/passkey"],
        "createdOn": 1700000000,
    }
    record = structure_record(legacy)
    assert record.schema_version == SCHEMA_VERSION
    assert record.workflow_id == "991"
    assert record.pipeline_id == "12"
    assert record.triggered_by == "3"
    assert [f.path for f in record.manifest.fields] == [
        "/dockerPassword",
        "/blobStorageS3Config/passkey",
    ]
    assert {f.rule for f in record.manifest.fields} == {"legacy"}
    assert record.created_on == dt.datetime.fromtimestamp(1700000000, dt.UTC)


def test_every_version_below_the_current_has_an_upgrade() -> None:
    assert sorted(UPGRADES) == list(range(SCHEMA_VERSION))


def test_malformed_record_is_a_clear_error() -> None:
    data = unstructure(_record())
    del data["content_hash"]
    with pytest.raises(InvalidRequest, match="malformed"):
        structure_record(data)
