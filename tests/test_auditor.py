"""The engine end to end, on real stores (SQLite file and PostgreSQL)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from tests.conftest import KeyNameMasker
from wfaudit import AuditFailed, Auditor, hookimpl
from wfaudit.masking import placeholder
from wfaudit_hookspecs import (
    AmbiguousPayload,
    Blob,
    Failure,
    InvalidRequest,
    MaskingRequired,
    RetryDecision,
    SaveResult,
    SecretReference,
    SecretRequest,
    SecretsUnavailable,
    Snapshot,
    SnapshotConflict,
    SnapshotNotFound,
    SnapshotRecord,
    Status,
    Store,
    StoreError,
    TriggerRequest,
    UnrecognisedPayload,
    canonical_json,
    content_hash,
)

SECRET = "s3cr3t-Very-Private-Value"


def ci_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "pipelineName": "ci-7-payments",
        "ciProjectDetails": [
            {"commitHash": "3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f", "branch": "main"}
        ],
        "docker": {"registry": "registry.example.org", "password": SECRET},
        "env": {"LOG_LEVEL": "info", "token": "tok-" + SECRET},
        "steps": [{"name": "test", "script": "make test"}],
        "retries": 2,
        "ratio": 0.25,
    }
    config.update(changes)
    return config


def request(
    workflow_id: int | str = 1001, workflow_type: str = "CI", **changes: Any
) -> TriggerRequest:
    fields: dict[str, Any] = {
        "workflow_id": workflow_id,
        "workflow_type": workflow_type,
        "pipeline_id": 7,
        "config": ci_config(),
        "triggered_by": "ana",
    }
    fields.update(changes)
    return TriggerRequest(**fields)


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def count(url: str, table: str) -> int:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
    finally:
        engine.dispose()


# -- the round trip ---------------------------------------------------------------


def test_trigger_then_show_returns_the_masked_config_exactly(auditor: Auditor) -> None:
    req = request()
    result = auditor.audit_trigger(req)
    assert result.ok, result.error
    assert result.created and result.masked == 2

    snapshot = auditor.get_snapshot(1001, "CI")
    fields = {f.path: f for f in snapshot.manifest.fields}
    expected = ci_config()
    expected["docker"]["password"] = placeholder(fields["/docker/password"].fingerprint)
    expected["env"]["token"] = placeholder(fields["/env/token"].fingerprint)
    assert snapshot.config == expected
    assert (
        snapshot.content_hash == content_hash(canonical_json(expected)) == result.ref.content_hash
    )
    assert snapshot.schema_version == 1
    assert (snapshot.workflow_id, snapshot.workflow_type, snapshot.pipeline_id) == (
        "1001",
        "CI",
        "7",
    )
    assert snapshot.triggered_by == "ana"
    assert snapshot.status is Status.TRIGGERED
    assert snapshot.id == result.snapshot_id
    assert auditor.get_snapshot_by_id(snapshot.id) == snapshot
    assert SECRET not in repr(snapshot) and SECRET not in json.dumps(snapshot.config)


def test_the_callers_request_is_never_modified(auditor: Auditor) -> None:
    req = request()
    before = copy.deepcopy(req.config)
    assert auditor.audit_trigger(req).ok
    assert req.config == before
    assert req.config["docker"]["password"] == SECRET


def test_identical_configs_are_stored_once(auditor: Auditor, store_url: str) -> None:
    config = ci_config()
    for workflow_id in range(1000):
        result = auditor.audit_trigger(request(workflow_id, config=config))
        assert result.ok and result.created, result.error
    assert count(store_url, "snapshots") == 1000
    assert count(store_url, "blobs") == 1


def test_repeating_the_same_audit_is_a_no_op(auditor: Auditor, store_url: str) -> None:
    first = auditor.audit_trigger(request())
    again = auditor.audit_trigger(request())
    assert first.ok and again.ok
    assert first.created and not again.created
    assert again.ref == first.ref
    assert count(store_url, "snapshots") == 1


def test_a_conflicting_audit_is_an_error_and_changes_nothing(
    make_auditor: Callable[..., Auditor],
) -> None:
    auditor = make_auditor(KeyNameMasker())
    assert auditor.audit_trigger(request()).ok
    result = auditor.audit_trigger(request(config=ci_config(retries=3)))
    assert not result.ok
    assert result.error_type == "SnapshotConflict"
    assert "1001" in (result.error or "")
    assert auditor.get_snapshot(1001, "CI").config["retries"] == 2

    strict = make_auditor(KeyNameMasker(), strict=True)
    with pytest.raises(SnapshotConflict):
        strict.audit_trigger(request(config=ci_config(retries=3)))


def test_integer_and_string_identities_are_the_same(auditor: Auditor) -> None:
    assert auditor.audit_trigger(request(1001)).created
    assert not auditor.audit_trigger(request("1001")).created
    assert auditor.get_snapshot("1001", "ci").workflow_id == "1001"


def test_keyword_fields_build_the_request(auditor: Auditor) -> None:
    result = auditor.audit_trigger(
        workflow_id=5, workflow_type="POST_CD", pipeline_id=9, config={"a": 1}
    )
    assert result.ok
    bad = auditor.audit_trigger(workflow_id="", workflow_type="CI", pipeline_id=1, config={})
    assert not bad.ok and bad.error_type == "InvalidRequest"


# -- fail closed on secrets -------------------------------------------------------


def test_no_masker_means_no_persistence(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor()
    result = auditor.audit_trigger(request())
    assert not result.ok
    assert result.error_type == "MaskingRequired"
    assert "masker" in (result.error or "") and "WFAUDIT_ALLOW_UNMASKED" in (result.error or "")
    assert count(store_url, "snapshots") == 0
    with pytest.raises(MaskingRequired):
        make_auditor(strict=True).audit_trigger(request())


def test_unmasked_persistence_when_explicitly_allowed(
    make_auditor: Callable[..., Auditor], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert make_auditor(allow_unmasked=True).audit_trigger(request(1)).ok
    monkeypatch.setenv("WFAUDIT_ALLOW_UNMASKED", "1")
    assert make_auditor().audit_trigger(request(2)).ok


# -- the non-blocking policy --------------------------------------------------------


class ExplodingMasker:
    """Raises an error whose message quotes the secret, as careless code does."""

    @hookimpl
    def wfaudit_mask(self, context: Any) -> None:
        raise RuntimeError(f"could not parse {context.config['docker']['password']}")


class ErrorObserver:
    def __init__(self) -> None:
        self.seen: list[tuple[TriggerRequest, BaseException]] = []

    @hookimpl
    def wfaudit_audit_error(self, request: TriggerRequest, error: BaseException) -> None:
        self.seen.append((request, error))


def test_hook_wfaudit_audit_error(
    make_auditor: Callable[..., Auditor], caplog: pytest.LogCaptureFixture
) -> None:
    observer = ErrorObserver()
    auditor = make_auditor(ExplodingMasker(), observer)
    with caplog.at_level(logging.DEBUG):
        result = auditor.audit_trigger(request())
    assert not result.ok
    assert result.error == "RuntimeError in the mask stage"
    assert SECRET not in caplog.text
    assert "audit of CI 1001 failed at mask" in caplog.text
    ((seen_request, seen_error),) = observer.seen
    assert seen_request.workflow_id == "1001"
    assert isinstance(seen_error, RuntimeError)


def test_strict_mode_raises_without_quoting_secrets(make_auditor: Callable[..., Auditor]) -> None:
    auditor = make_auditor(ExplodingMasker(), strict=True)
    with pytest.raises(AuditFailed) as info:
        auditor.audit_trigger(request())
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


class LeakyPersistWrapper:
    """Fails after masking, quoting a secret it should never have seen."""

    @hookimpl(wrapper=True)
    def wfaudit_persist(self, snapshot: SnapshotRecord, payload: Blob, store: Store) -> Any:
        raise OSError(f"disk full while writing {SECRET}")
        yield  # a wrapper must be a generator


def test_errors_after_masking_are_scrubbed_of_secrets(make_auditor: Callable[..., Auditor]) -> None:
    auditor = make_auditor(KeyNameMasker(), LeakyPersistWrapper())
    result = auditor.audit_trigger(request())
    assert not result.ok
    assert result.error == "OSError in the persist stage: disk full while writing [masked]"


class BrokenObserver:
    @hookimpl
    def wfaudit_audit_error(self, request: TriggerRequest, error: BaseException) -> None:
        raise ValueError("observer bug")


def test_a_failing_observer_does_not_break_the_orchestrator(
    make_auditor: Callable[..., Auditor],
) -> None:
    result = make_auditor(BrokenObserver()).audit_trigger(request())
    assert not result.ok and result.error_type == "MaskingRequired"


def test_unknown_workflow_type_is_refused(auditor: Auditor) -> None:
    result = auditor.audit_trigger(request(workflow_type="NIGHTLY"))
    assert not result.ok and result.error_type == "UnknownWorkflowType"
    assert "CI, POST_CD, PRE_CD" in (result.error or "")


def test_non_json_config_is_refused(auditor: Auditor) -> None:
    result = auditor.audit_trigger(request(config={"a": 1, "when": object()}))
    assert not result.ok and result.error_type == "InvalidRequest"
    # The second key, by position: a key is request content and may be a secret.
    assert "/@1 " in (result.error or "") and "when" not in (result.error or "")


# -- the stage hooks ------------------------------------------------------------------


class NightlyAdapter:
    """Declares a workflow type and normalises its payloads."""

    def __init__(self, fmt: str = "nightly-json") -> None:
        self.fmt = fmt

    @hookimpl
    def wfaudit_workflow_types(self, register: Callable[[str, str], None]) -> None:
        register("nightly", "nightly batch")

    @hookimpl
    def wfaudit_payload_formats(self, register: Callable[[str, Sequence[str], str], None]) -> None:
        register(self.fmt, ["NIGHTLY", "CI"], "nightly batch JSON")

    @hookimpl
    def wfaudit_pre_trigger(self, request: TriggerRequest) -> TriggerRequest | None:
        if "nightly" not in request.config:
            return None
        refs = (
            [
                SecretReference(
                    path="/nightly/creds", kind="k8s-secret", name="nightly/creds", rule=self.fmt
                )
            ]
            if "creds" in request.config["nightly"]
            else []
        )
        return attrs.evolve(
            request,
            pipeline_id=request.config["nightly"]["pipeline"],
            format=self.fmt,
            references=refs,
        )


def test_hook_wfaudit_workflow_types(make_auditor: Callable[..., Auditor]) -> None:
    auditor = make_auditor(KeyNameMasker(), NightlyAdapter())
    assert {"CI", "PRE_CD", "POST_CD", "NIGHTLY"} <= set(auditor.workflow_types)
    assert auditor.audit_trigger(
        request(workflow_type="NIGHTLY", config={"nightly": {"pipeline": "n1"}})
    ).ok


def test_hook_wfaudit_pre_trigger(make_auditor: Callable[..., Auditor]) -> None:
    auditor = make_auditor(KeyNameMasker(), NightlyAdapter())
    result = auditor.audit_trigger(
        request(workflow_type="NIGHTLY", config={"nightly": {"pipeline": "n1"}})
    )
    assert result.ok, result.error
    snapshot = auditor.get_snapshot(1001, "NIGHTLY")
    assert snapshot.pipeline_id == "n1"
    assert snapshot.manifest.adapter == "nightly-json"


def test_two_adapters_claiming_a_payload_is_ambiguous(make_auditor: Callable[..., Auditor]) -> None:
    auditor = make_auditor(KeyNameMasker(), NightlyAdapter("a"), NightlyAdapter("b"), strict=True)
    with pytest.raises(AmbiguousPayload, match="a, b"):
        auditor.audit_trigger(request(config={"nightly": {"pipeline": "n1"}}))
    forced = auditor.audit_trigger(request(config={"nightly": {"pipeline": "n1"}}, format="b"))
    assert forced.ok
    with pytest.raises(
        UnrecognisedPayload, match="unknown payload format 'c'; known formats: a, b, generic"
    ):
        auditor.audit_trigger(request(2, config={"nightly": {"pipeline": "n1"}}, format="c"))
    with pytest.raises(UnrecognisedPayload, match=r"not a valid a payload \(formats tried: a\)"):
        auditor.audit_trigger(request(3, config={"daily": {}}, format="a"))
    assert auditor.audit_trigger(request(4, config={"daily": {}}, format="generic")).ok


def test_hook_wfaudit_payload_formats(make_auditor: Callable[..., Auditor]) -> None:
    auditor = make_auditor(KeyNameMasker(), NightlyAdapter())
    assert auditor.plugin_manager.payload_formats == {
        "nightly-json": (("NIGHTLY", "CI"), "nightly batch JSON")
    }


def test_references_found_by_an_adapter_reach_the_manifest(
    make_auditor: Callable[..., Auditor],
) -> None:
    auditor = make_auditor(KeyNameMasker(), NightlyAdapter())
    config = {"nightly": {"pipeline": "n1", "creds": {"secretName": "nightly"}}}
    assert auditor.audit_trigger(request(workflow_type="NIGHTLY", config=config)).ok
    (ref,) = auditor.get_snapshot(1001, "NIGHTLY").manifest.references
    assert (ref.path, ref.kind, ref.name, ref.rule) == (
        "/nightly/creds",
        "k8s-secret",
        "nightly/creds",
        "nightly-json",
    )


def test_hook_wfaudit_mask(auditor: Auditor) -> None:
    masker = next(p for p in auditor.plugin_manager.get_plugins() if isinstance(p, KeyNameMasker))
    auditor.audit_trigger(request())
    assert masker.calls == 1
    snapshot = auditor.get_snapshot(1001, "CI")
    assert [f.rule for f in snapshot.manifest.fields] == ["test.key-name", "test.key-name"]
    assert snapshot.manifest.maskers and "KeyNameMasker" in snapshot.manifest.maskers[0]


class RecordingPersist:
    def __init__(self) -> None:
        self.results: list[SaveResult] = []

    @hookimpl(wrapper=True)
    def wfaudit_persist(self, snapshot: SnapshotRecord, payload: Blob, store: Store) -> Any:
        result = yield
        self.results.append(result)
        return result


def test_hook_wfaudit_persist(make_auditor: Callable[..., Auditor]) -> None:
    recorder = RecordingPersist()
    auditor = make_auditor(KeyNameMasker(), recorder)
    result = auditor.audit_trigger(request())
    assert recorder.results == [SaveResult(ref=result.ref, created=True)]


class Vote:
    def __init__(self, decision: RetryDecision | None) -> None:
        self.decision = decision
        self.calls: list[tuple[str, Failure, int]] = []

    @hookimpl
    def wfaudit_on_failure(
        self, snapshot: SnapshotRecord, failure: Failure, attempt: int
    ) -> RetryDecision | None:
        self.calls.append((snapshot.workflow_id, failure, attempt))
        return self.decision


def test_hook_wfaudit_on_failure(make_auditor: Callable[..., Auditor]) -> None:
    yes = Vote(RetryDecision(retry=True, reason="infrastructure error", policy="yes"))
    no = Vote(RetryDecision(retry=False, reason="tests failed", policy="no"))
    silent = Vote(None)
    auditor = make_auditor(KeyNameMasker(), yes, no, silent)
    auditor.audit_trigger(request())
    running = auditor.record_outcome(1001, "CI", "running")
    assert running.record.status is Status.RUNNING and running.retry is None
    assert yes.calls == []
    outcome = auditor.record_outcome(1001, "CI", Status.FAILED, "exit 1", by="runner")
    assert outcome.record.status is Status.FAILED
    assert outcome.record.status_reason == "exit 1"
    assert outcome.record.updated_by == "runner"
    assert outcome.retry == no.decision  # any veto wins
    assert yes.calls == [("1001", Failure(status=Status.FAILED, reason="exit 1"), 1)]

    only_yes = make_auditor(KeyNameMasker(), Vote(yes.decision))
    assert only_yes.record_outcome(1001, "CI", "error").retry == yes.decision
    assert auditor.get_snapshot(1001, "CI").status is Status.ERROR


def test_outcome_of_an_unknown_run_or_status(auditor: Auditor) -> None:
    with pytest.raises(SnapshotNotFound):
        auditor.record_outcome(404, "CI", "failed")
    auditor.audit_trigger(request())
    with pytest.raises(InvalidRequest, match="unknown status"):
        auditor.record_outcome(1001, "CI", "exploded")


class DictRestorer:
    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    @hookimpl
    def wfaudit_restore_secrets(
        self, snapshot: Snapshot, requests: Sequence[SecretRequest]
    ) -> dict[str, str]:
        return {r.key: self.values[r.path] for r in requests if r.path in self.values}


def test_hook_wfaudit_restore_secrets(make_auditor: Callable[..., Auditor]) -> None:
    restorer = DictRestorer({"/docker/password": SECRET, "/env/token": "tok-" + SECRET})
    auditor = make_auditor(KeyNameMasker(), restorer)
    original = request()
    auditor.audit_trigger(original)
    restored = auditor.retrigger_request(1001, "CI")
    assert canonical_json(restored.config) == canonical_json(original.config)
    assert (restored.workflow_id, restored.pipeline_id, restored.triggered_by) == (
        "1001",
        "7",
        "ana",
    )

    partial = make_auditor(KeyNameMasker(), DictRestorer({"/docker/password": SECRET}))
    with pytest.raises(SecretsUnavailable) as info:
        partial.retrigger_request(1001, "CI")
    assert info.value.paths == ("/env/token",)
    assert SECRET not in str(info.value)


def test_hook_wfaudit_open_store(make_auditor: Callable[..., Auditor], tmp_path: Any) -> None:
    auditor = make_auditor(KeyNameMasker())
    assert isinstance(auditor.store, Store)
    with pytest.raises(StoreError, match="no store plugin owns URLs of scheme 'ftp'"):
        make_auditor(KeyNameMasker(), url="ftp://example.org/x")


def test_default_store_is_sqlite_in_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("WFAUDIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql")
    with Auditor.from_url(plugins=[KeyNameMasker()]) as auditor:
        assert auditor.audit_trigger(request()).ok
        assert auditor.store.url.endswith("home/wfaudit.sqlite3")
    assert (tmp_path / "home" / "wfaudit.sqlite3").is_file()
    assert (tmp_path / "home" / "fingerprint.key").stat().st_mode & 0o777 == 0o600


# -- reading --------------------------------------------------------------------------


def test_history_filters_and_orders_newest_first(auditor: Auditor) -> None:
    for workflow_id in range(1, 6):
        auditor.audit_trigger(request(workflow_id, config=ci_config(retries=workflow_id)))
    auditor.audit_trigger(request(6, workflow_type="PRE_CD", pipeline_id=9))
    auditor.record_outcome(3, "CI", "failed")
    records = auditor.history(pipeline_id=7)
    assert [r.workflow_id for r in records] == ["5", "4", "3", "2", "1"]
    assert [r.workflow_id for r in auditor.history(limit=2)] == ["6", "5"]
    assert [r.workflow_id for r in auditor.history(workflow_type="pre-cd")] == ["6"]
    assert [r.workflow_id for r in auditor.history(status="failed")] == ["3"]
    with pytest.raises(InvalidRequest):
        auditor.history(limit=0)


def test_a_corrupt_blob_is_detected_on_read(auditor: Auditor, store_url: str) -> None:
    result = auditor.audit_trigger(request())
    engine = engine_for(store_url)
    try:
        with engine.begin() as conn:
            blob = conn.execute(sa.text("SELECT codec, data FROM blobs")).one()
            import zstandard

            tampered = zstandard.ZstdCompressor().compress(b'{"tampered":true}')
            conn.execute(sa.text("UPDATE blobs SET data = :d"), {"d": tampered})
    finally:
        engine.dispose()
    assert blob.codec == "zstd"
    with pytest.raises(StoreError, match="does not match its hash"):
        auditor.get_snapshot_by_id(result.snapshot_id or "")


def test_missing_snapshots_are_clear_errors(auditor: Auditor) -> None:
    with pytest.raises(SnapshotNotFound, match="CI workflow '9'"):
        auditor.get_snapshot(9, "CI")
    with pytest.raises(SnapshotNotFound):
        auditor.get_snapshot_by_id("nope")


def test_diff_of_two_snapshots(auditor: Auditor) -> None:
    auditor.audit_trigger(request(1))
    changed = ci_config(retries=5)
    changed["docker"]["password"] = "rotated-" + SECRET
    changed["steps"].append({"name": "lint", "script": "make lint"})
    del changed["ratio"]
    auditor.audit_trigger(request(2, config=changed))
    diff = auditor.diff(auditor.get_snapshot(1, "CI"), auditor.get_snapshot(2, "CI").id)
    by_path = {c.path: c for c in diff.changes}
    assert set(by_path) == {"/docker/password", "/ratio", "/retries", "/steps/1"}
    assert by_path["/docker/password"].secret == "changed"
    assert by_path["/retries"].op == "modified" and (
        by_path["/retries"].old,
        by_path["/retries"].new,
    ) == (2, 5)
    assert by_path["/ratio"].op == "removed"
    assert by_path["/steps/1"].op == "added"
    assert SECRET not in repr(diff)
    same = auditor.diff(auditor.get_snapshot(1, "CI"), auditor.get_snapshot(1, "CI"))
    assert same.identical and same.changes == ()


# -- tenancy --------------------------------------------------------------------------


def test_a_tenant_scoped_auditor_sees_only_its_tenant(make_auditor: Callable[..., Auditor]) -> None:
    team_a = make_auditor(KeyNameMasker(), tenant="team-a")
    team_b = make_auditor(KeyNameMasker(), tenant="team-b")
    assert team_a.audit_trigger(request()).ok
    assert team_b.audit_trigger(request()).ok  # same identity, other tenant: its own snapshot
    assert team_a.get_snapshot(1001, "CI").tenant == "team-a"
    assert [r.tenant for r in team_b.history()] == ["team-b"]
    a_id = team_a.get_snapshot(1001, "CI").id
    with pytest.raises(SnapshotNotFound):
        team_b.get_snapshot_by_id(a_id)
    refused = team_a.audit_trigger(request(2, tenant="team-b"))
    assert not refused.ok and "tenant" in (refused.error or "")
    with pytest.raises(InvalidRequest):
        team_a.history(tenant="team-b")


def test_an_identity_left_to_the_payload_needs_an_adapter(auditor: Auditor) -> None:
    result = auditor.audit_trigger(request(workflow_id="-"))
    assert not result.ok
    assert result.error_type == "InvalidRequest"
    assert "workflow_id is '-'" in (result.error or "")


def test_a_format_forced_for_another_workflow_type_says_so(
    make_auditor: Callable[..., Auditor],
) -> None:
    auditor = make_auditor(KeyNameMasker(), NightlyAdapter())
    result = auditor.audit_trigger(request(workflow_type="PRE_CD", format="nightly-json"))
    assert result.error == "format 'nightly-json' applies to workflow types NIGHTLY, CI, not PRE_CD"
