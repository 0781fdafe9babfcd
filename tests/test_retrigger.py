"""Retrigger end to end: a real orchestrator fails, the policy votes, the snapshot replays.

The orchestrator (``tests/orchestrator.py``) runs as a subprocess: it reads the
request on standard input, logs in with the request's secrets (a wrong or
placeholder secret fails the login), runs the pipeline's steps as processes
and fails on purpose the first time. The test plays the orchestrator's
controller: it audits the trigger, launches, records outcomes and retriggers
through :class:`wfaudit.Auditor`, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from wfaudit import Auditor, RetryDecision, SnapshotRecord, Status, TriggerKind, hookimpl
from wfaudit.retrigger import (
    DECIDED,
    ExecLauncher,
    LaunchFailed,
    MissingPlugins,
    NotRetriggerable,
    RetriesExhausted,
)
from wfaudit.testing import MemoryKeyring, find_secrets
from wfaudit_hookspecs import (
    EventKind,
    Failure,
    InvalidRequest,
    MaskContext,
    MaskingRequired,
    SecretsUnavailable,
    TriggerRequest,
    UnsupportedSchemaVersion,
    canonical_json,
)

ORCHESTRATOR = pathlib.Path(__file__).with_name("orchestrator.py")
PLUGINS = "sql,maskers,keyring"
REGISTRY_PASSWORD = "Rg7!e2e-registry-Pa55"
DEPLOY_TOKEN = "dpl-4f9Qz8Lm2Xw7Rt5Kb1Nc"
TOKEN_DIGEST = hashlib.sha256(DEPLOY_TOKEN.encode()).hexdigest()[:16]

DEFINITION_V1 = {
    "name": "payments-api",
    "steps": [
        {"name": "build", "run": ["python", "-c", "print('built payments-api v1')"]},
        {
            "name": "deploy",
            "run": [
                "python",
                "-c",
                "import hashlib, os; "
                "print(hashlib.sha256(os.environ['DEPLOY_TOKEN'].encode()).hexdigest()[:16])",
            ],
        },
    ],
}
DEFINITION_V2 = {
    "name": "payments-api",
    "steps": [{"name": "build-v2", "run": ["python", "-c", "print('built payments-api v2')"]}],
}


@pytest.fixture
def settings_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    path = tmp_path / "wfaudit.toml"
    path.write_text(
        "[restore.env]\n"
        '"/registry/password" = "E2E_REGISTRY_PASSWORD"\n'
        "[restore.keyring]\n"
        '"/env/DEPLOY_TOKEN" = "deploy/ci-token"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("WFAUDIT_CONFIG", str(path))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    monkeypatch.setenv("WFAUDIT_RETRIES_ENABLED", "1")
    for name in ("WORKFLOW_RETRIES_ENABLED", "MAX_CI_WORKFLOW_RETRIES", "WFAUDIT_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    secret = REGISTRY_PASSWORD + "\n" + DEPLOY_TOKEN
    monkeypatch.setenv("EXPECTED_SECRETS_SHA256", hashlib.sha256(secret.encode()).hexdigest())
    return path


@pytest.fixture
def secrets_today(monkeypatch: pytest.MonkeyPatch, wfaudit_keyring: MemoryKeyring) -> None:
    """Today's secret store: one secret in the keyring, one in the environment."""
    monkeypatch.setenv("E2E_REGISTRY_PASSWORD", REGISTRY_PASSWORD)
    wfaudit_keyring.set_password("deploy", "ci-token", DEPLOY_TOKEN)


@pytest.fixture
def auditor(store_url: str, settings_file: pathlib.Path) -> Iterator[Auditor]:
    with Auditor.from_url(store_url, strict=True) as opened:
        yield opened


@pytest.fixture
def state(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "orchestrator"
    path.mkdir()
    return path


class Controller:
    """The orchestrator's side of wfaudit: trigger, launch, report outcomes, retry."""

    def __init__(self, auditor: Auditor, state: pathlib.Path, *flags: str) -> None:
        self.auditor = auditor
        self.state = state
        self.launcher = ExecLauncher(
            (sys.executable, str(ORCHESTRATOR), "--state", str(state), *flags)
        )

    def request(self, workflow_id: str, definition: dict[str, Any]) -> TriggerRequest:
        config = {
            "pipeline": definition["name"],
            "steps": definition["steps"],
            "registry": {"server": "registry.acme.example", "password": REGISTRY_PASSWORD},
            "env": {"DEPLOY_TOKEN": DEPLOY_TOKEN, "LOG_LEVEL": "info"},
        }
        return TriggerRequest(
            workflow_id=workflow_id,
            workflow_type="CI",
            pipeline_id=definition["name"],
            config=config,
            triggered_by="ana",
        )

    def trigger(self, workflow_id: str, definition: dict[str, Any]) -> int:
        request = self.request(workflow_id, definition)
        assert self.auditor.audit_trigger(request).ok
        return self.launcher(request)

    def run(self, workflow_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.state / "runs" / f"{workflow_id}.json").read_text(encoding="utf-8")
        )
        return data

    def report(self, workflow_id: str, code: int) -> Any:
        if code == 0:
            return self.auditor.record_outcome(workflow_id, "CI", "succeeded", by="runner")
        return self.auditor.record_outcome(
            workflow_id, "CI", "failed", self.run(workflow_id)["reason"], by="runner"
        )

    def launches(self) -> int:
        return len(list((self.state / "runs").glob("*.json")))


def test_trigger_fail_policy_retrigger_succeed(
    auditor: Auditor, state: pathlib.Path, secrets_today: None, store_url: str
) -> None:
    controller = Controller(auditor, state, "--fail-first")
    code = controller.trigger("1001", DEFINITION_V1)
    assert code == 75
    first = controller.report("1001", code)
    assert first.record.status is Status.FAILED
    assert first.retry == RetryDecision(
        retry=True,
        reason="the reason matches the retryable pattern 'infrastructure*'; retry 1 of 3",
        policy="wfaudit.builtin.retry",
    )

    failed = auditor.find_latest_failed(pipeline_id="payments-api", workflow_type="CI")
    assert failed is not None and failed.workflow_id == "1001"
    result = auditor.retrigger(failed.workflow_id, "CI", "1002", controller.launcher)
    assert result.launched == 0
    done = controller.report("1002", result.launched)
    assert done.record.status is Status.SUCCEEDED and done.retry is None

    run = controller.run("1002")
    assert run["steps"] == ["build", "deploy"]
    assert run["outputs"] == ["built payments-api v1", TOKEN_DIGEST]  # secrets restored
    assert (run["trigger_kind"], run["attempt"]) == ("retry", 2)

    parent = auditor.get_snapshot("1001", "CI")
    child = auditor.get_snapshot("1002", "CI")
    assert child.parent == parent.id
    assert (child.attempt, child.trigger_kind) == (2, TriggerKind.RETRY)
    assert child.content_hash == parent.content_hash  # the very same masked config
    assert child.manifest == parent.manifest
    assert any(p.startswith("maskers==") for p in parent.manifest.plugins)
    assert sorted(f.key for f in parent.manifest.fields) == [
        "/env/DEPLOY_TOKEN",
        "/registry/password",
    ]

    kinds = [e.kind for e in auditor.store.list_events(subject=parent.id)]
    assert kinds == [EventKind.AUDITED, EventKind.OUTCOME, DECIDED, EventKind.RETRIGGERED]
    retriggered = auditor.store.list_events(subject=parent.id)[-1]
    assert retriggered.data == {"child": child.id, "workflow_id": "1002", "attempt": 2}
    assert [e.kind for e in auditor.store.list_events(subject=child.id)] == [
        EventKind.AUDITED,
        EventKind.OUTCOME,
    ]
    assert find_secrets([REGISTRY_PASSWORD, DEPLOY_TOKEN], database_url=store_url) == []


def test_the_retrigger_runs_the_snapshots_definition_not_todays(
    auditor: Auditor, state: pathlib.Path, secrets_today: None, tmp_path: pathlib.Path
) -> None:
    pipeline = tmp_path / "pipeline.json"
    pipeline.write_text(json.dumps(DEFINITION_V1), encoding="utf-8")
    controller = Controller(auditor, state, "--fail-first")
    code = controller.trigger("1001", json.loads(pipeline.read_text(encoding="utf-8")))
    controller.report("1001", code)

    pipeline.write_text(json.dumps(DEFINITION_V2), encoding="utf-8")  # the pipeline changes
    result = auditor.retrigger("1001", "CI", None, controller.launcher)
    assert result.record.workflow_id == "1001-retry1"
    assert result.launched == 0
    assert controller.run("1001-retry1")["outputs"] == ["built payments-api v1", TOKEN_DIGEST]

    # A new trigger runs today's definition: the two are different configs.
    assert controller.trigger("1003", json.loads(pipeline.read_text(encoding="utf-8"))) == 0
    assert controller.run("1003")["outputs"] == ["built payments-api v2"]
    assert auditor.get_snapshot("1003", "CI").content_hash != result.record.content_hash


class LivePipelines:
    """An adapter that resolves a request's pipeline from the pipeline store *now*
    (as an orchestrator resolving ``pipeline: payments-api`` would): a retrigger
    that went through the adapters again would run today's definition."""

    def __init__(self, store: pathlib.Path) -> None:
        self.store = store
        self.resolved = 0

    @hookimpl
    def wfaudit_payload_formats(self, register: Callable[..., None]) -> None:
        register("live-pipeline", ["CI"], "a pipeline name, resolved from the pipeline store")

    @hookimpl
    def wfaudit_pre_trigger(self, request: TriggerRequest) -> TriggerRequest | None:
        config = request.config
        if not isinstance(config, dict) or "pipeline_ref" not in config:
            return None
        self.resolved += 1
        definition = json.loads((self.store / f"{config['pipeline_ref']}.json").read_text())
        resolved = {k: v for k, v in config.items() if k != "pipeline_ref"}
        resolved.update(pipeline=definition["name"], steps=definition["steps"])
        return attrs.evolve(request, config=resolved, format="live-pipeline")


def test_a_retrigger_does_not_resolve_the_pipeline_again(
    store_url: str,
    settings_file: pathlib.Path,
    state: pathlib.Path,
    secrets_today: None,
    tmp_path: pathlib.Path,
) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "payments-api.json").write_text(json.dumps(DEFINITION_V1), encoding="utf-8")
    live = LivePipelines(pipelines)
    with Auditor.from_url(store_url, strict=True, plugins=[live]) as auditor:
        controller = Controller(auditor, state, "--fail-first")
        request = controller.request("1001", DEFINITION_V1)
        config = {k: v for k, v in request.config.items() if k not in ("pipeline", "steps")}
        request = attrs.evolve(request, config={**config, "pipeline_ref": "payments-api"})
        result = auditor.audit_trigger(request)
        assert result.ok and live.resolved == 1
        snapshot = auditor.get_snapshot("1001", "CI")
        assert [s["name"] for s in snapshot.config["steps"]] == ["build", "deploy"]
        # The orchestrator runs what was resolved (the audited request, restored).
        code = controller.launcher(auditor.retrigger_request("1001", "CI"))
        controller.report("1001", code)

        (pipelines / "payments-api.json").write_text(json.dumps(DEFINITION_V2), encoding="utf-8")
        retried = auditor.retrigger("1001", "CI", "1002", controller.launcher)
        assert retried.launched == 0
        assert live.resolved == 1  # the adapters were not asked again
        assert controller.run("1002")["outputs"] == ["built payments-api v1", TOKEN_DIGEST]
        assert retried.request.config["steps"] == DEFINITION_V1["steps"]

        # A new trigger resolves today's definition.
        assert auditor.audit_trigger(attrs.evolve(request, workflow_id="1003")).ok
        assert live.resolved == 2
        today = auditor.get_snapshot("1003", "CI")
        assert [s["name"] for s in today.config["steps"]] == ["build-v2"]


def test_a_loop_of_failures_stops_at_the_limit(
    auditor: Auditor,
    state: pathlib.Path,
    secrets_today: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_CI_WORKFLOW_RETRIES", "2")
    controller = Controller(auditor, state, "--fail-always")
    workflow = "2001"
    outcome = controller.report(workflow, controller.trigger(workflow, DEFINITION_V1))
    while outcome.retry is not None and outcome.retry.retry:
        assert controller.launches() < 10, "the retries never stopped"
        result = auditor.retrigger(workflow, "CI", None, controller.launcher)
        workflow = result.record.workflow_id
        outcome = controller.report(workflow, result.launched)
    assert controller.launches() == 3  # the first run and 2 retries
    assert workflow == "2001-retry2"
    assert outcome.retry is not None and not outcome.retry.retry
    assert "retries exhausted: 2 of 2 (MAX_CI_WORKFLOW_RETRIES)" in outcome.retry.reason
    with pytest.raises(RetriesExhausted, match="used 2 of 2 retries"):
        auditor.retrigger(workflow, "CI", None, controller.launcher)
    assert controller.launches() == 3
    assert auditor.history(pipeline_id="payments-api", limit=10)[0].workflow_id == "2001-retry2"


class AlwaysRetry:
    """A policy plugin that always votes to retry: the engine's cap must hold anyway."""

    @hookimpl
    def wfaudit_on_failure(self, snapshot: SnapshotRecord, failure: Failure) -> RetryDecision:
        return RetryDecision(retry=True, reason="always", policy="always")


def test_the_engine_caps_a_policy_that_always_votes_to_retry(
    store_url: str,
    settings_file: pathlib.Path,
    state: pathlib.Path,
    secrets_today: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WFAUDIT_RETRIES_ENABLED", "0")  # only AlwaysRetry votes
    monkeypatch.setenv("WFAUDIT_MAX_RETRIES", "1")
    with Auditor.from_url(store_url, strict=True, plugins=[AlwaysRetry()]) as auditor:
        controller = Controller(auditor, state, "--fail-always")
        first = controller.report("3001", controller.trigger("3001", DEFINITION_V1))
        assert first.retry == RetryDecision(retry=True, reason="always", policy="always")
        result = auditor.retrigger("3001", "CI", None, controller.launcher)
        second = controller.report(result.record.workflow_id, result.launched)
        assert second.retry is not None and not second.retry.retry
        assert second.retry.policy == "wfaudit.engine"
        assert "(WFAUDIT_MAX_RETRIES)" in second.retry.reason
        decided = auditor.store.list_events(subject=result.record.id)[-1]
        assert decided.kind == DECIDED and decided.data["retry"] is False


# -- each refusal is clear and launches nothing ------------------------------------------


class Launches:
    def __init__(self) -> None:
        self.requests: list[TriggerRequest] = []

    def __call__(self, request: TriggerRequest) -> int:
        self.requests.append(request)
        return 0


@pytest.fixture
def failed(auditor: Auditor, secrets_today: None) -> Auditor:
    """Run 1001 audited and failed with an infrastructure error."""
    assert auditor.audit_trigger(
        Controller(auditor, pathlib.Path()).request("1001", DEFINITION_V1)
    ).ok
    auditor.record_outcome("1001", "CI", "failed", "infrastructure: runner node lost")
    return auditor


def assert_nothing_launched(auditor: Auditor, launches: Launches) -> None:
    assert launches.requests == []
    assert [r.workflow_id for r in auditor.history(limit=10)] == ["1001"]


class AcmeMasker:
    @hookimpl
    def wfaudit_mask(self, context: MaskContext) -> None:
        return None


def test_a_missing_plugin_is_refused_or_warned(
    store_url: str, settings_file: pathlib.Path, secrets_today: None
) -> None:
    with Auditor.from_url(store_url, strict=True, plugins=[AcmeMasker()]) as before:
        request = Controller(before, pathlib.Path()).request("1001", DEFINITION_V1)
        assert before.audit_trigger(request).ok
        before.record_outcome("1001", "CI", "failed", "infrastructure: runner node lost")
        assert any("AcmeMasker" in p for p in before.get_snapshot("1001", "CI").manifest.plugins)
    launches = Launches()
    with Auditor.from_url(store_url, strict=True) as now:
        with pytest.raises(MissingPlugins, match=r"test_retrigger\.AcmeMasker"):
            now.retrigger("1001", "CI", None, launches)
        assert_nothing_launched(now, launches)
        plan = now.plan_retrigger("1001", "CI", allow_missing_plugins=True)
        assert plan.missing_plugins and "AcmeMasker" in plan.warnings[0]
        now.retrigger("1001", "CI", None, launches, allow_missing_plugins=True)
        assert len(launches.requests) == 1


def test_an_unrestorable_secret_is_refused(
    failed: Auditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("E2E_REGISTRY_PASSWORD")
    launches = Launches()
    with pytest.raises(SecretsUnavailable) as raised:
        failed.retrigger("1001", "CI", None, launches)
    assert raised.value.paths == ("/registry/password",)
    assert REGISTRY_PASSWORD not in str(raised.value)
    assert_nothing_launched(failed, launches)


def test_an_unknown_schema_version_is_refused(failed: Auditor, store_url: str) -> None:
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE snapshots SET schema_version = 99"))
    finally:
        engine.dispose()
    launches = Launches()
    with pytest.raises(UnsupportedSchemaVersion, match="schema version 99"):
        failed.retrigger("1001", "CI", None, launches)
    assert launches.requests == []


def test_exhausted_retries_are_refused(failed: Auditor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_CI_WORKFLOW_RETRIES", "0")
    launches = Launches()
    with pytest.raises(RetriesExhausted, match=r"used 0 of 0 retries \(MAX_CI_WORKFLOW_RETRIES\)"):
        failed.retrigger("1001", "CI", None, launches)
    assert_nothing_launched(failed, launches)


def test_what_cannot_be_retriggered(failed: Auditor) -> None:
    launches = Launches()
    with pytest.raises(NotRetriggerable, match="audited already"):
        failed.retrigger("1001", "CI", "1001", launches)
    failed.retrigger("1001", "CI", "1002", launches)
    with pytest.raises(NotRetriggerable, match="retriggered already, as workflow '1002'"):
        failed.retrigger("1001", "CI", "1003", launches)
    with pytest.raises(NotRetriggerable, match="is triggered; only failed or errored"):
        failed.retrigger("1002", "CI", None, launches)
    assert len(launches.requests) == 1


class RacingRetrigger:
    """A restorer that, the first time it is asked, lets another retrigger of the
    same run go first (two operators or controllers racing)."""

    def __init__(self) -> None:
        self.auditor: Auditor | None = None
        self.launches = Launches()
        self.raced = False

    @hookimpl
    def wfaudit_restore_secrets(self, snapshot: Any, requests: Any) -> None:
        if self.auditor is not None and not self.raced:
            self.raced = True
            self.auditor.retrigger("1001", "CI", "1001-b", self.launches)


def test_two_racing_retriggers_of_one_run_launch_once(
    store_url: str, settings_file: pathlib.Path, secrets_today: None
) -> None:
    racer = RacingRetrigger()
    with Auditor.from_url(store_url, strict=True, plugins=[racer]) as auditor:
        request = Controller(auditor, pathlib.Path()).request("1001", DEFINITION_V1)
        assert auditor.audit_trigger(request).ok
        auditor.record_outcome("1001", "CI", "failed", "infrastructure: runner node lost")
        racer.auditor = auditor
        launches = Launches()
        with pytest.raises(NotRetriggerable, match=r"retriggered already.*nothing was launched"):
            auditor.retrigger("1001", "CI", "1001-a", launches)
        assert launches.requests == []
        assert [r.workflow_id for r in racer.launches.requests] == ["1001-b"]
        children = [r.workflow_id for r in auditor.history(limit=10) if r.parent is not None]
        assert children == ["1001-b"]


def test_a_launcher_that_raises_is_recorded_as_an_error(failed: Auditor) -> None:
    def broken(request: TriggerRequest) -> None:
        raise ConnectionError(f"cannot reach the cluster with {request.config}")

    with pytest.raises(LaunchFailed) as raised:
        failed.retrigger("1001", "CI", "1002", broken)
    assert REGISTRY_PASSWORD not in str(raised.value)
    assert isinstance(raised.value.error, ConnectionError)
    record = failed.get_snapshot("1002", "CI")
    assert (record.status, record.status_reason) == (Status.ERROR, "launch failed: ConnectionError")
    assert raised.value.outcome.retry.retry  # 'launch failed*' is retryable


def test_the_launcher_gets_the_restored_request(failed: Auditor) -> None:
    launches = Launches()
    result = failed.retrigger("1001", "CI", None, launches, by="ops")
    (request,) = launches.requests
    original = Controller(failed, pathlib.Path()).request("1001", DEFINITION_V1)
    assert canonical_json(request.config) == canonical_json(original.config)
    assert (request.workflow_id, request.attempt, request.trigger_kind) == (
        "1001-retry1",
        2,
        TriggerKind.RETRY,
    )
    assert request.parent == failed.get_snapshot("1001", "CI").id
    assert request.triggered_by == "ops" and result.record.created_by == "ops"
    assert REGISTRY_PASSWORD not in repr(result)


GITHUB_TOKEN = "ghp_" + "R8vN2qLx7Kp4Tz9Wm3Yc6Bd1Hf5Js0Ga2Ue8"


def test_a_secret_in_a_failure_reason_is_masked_before_it_is_stored(
    failed: Auditor, store_url: str
) -> None:
    reason = f"infrastructure: fetch https://ci:{GITHUB_TOKEN}@github.com/acme/app.git failed"
    outcome = failed.record_outcome("1001", "CI", "error", reason)
    assert GITHUB_TOKEN not in (outcome.record.status_reason or "")
    assert (outcome.record.status_reason or "").startswith("infrastructure: fetch https://")
    assert "github.com/acme/app.git failed" in (outcome.record.status_reason or "")
    assert find_secrets([GITHUB_TOKEN], database_url=store_url) == []
    plan = failed.plan_retrigger("1001", "CI")
    assert GITHUB_TOKEN not in repr(plan)


class BrokenPolicy:
    @hookimpl
    def wfaudit_on_failure(self, snapshot: SnapshotRecord) -> RetryDecision:
        raise RuntimeError("policy bug")


def test_a_retry_policy_that_raises_is_a_veto_and_the_outcome_stays(
    store_url: str, settings_file: pathlib.Path, secrets_today: None
) -> None:
    with Auditor.from_url(store_url, strict=True, plugins=[BrokenPolicy()]) as auditor:
        request = Controller(auditor, pathlib.Path()).request("1001", DEFINITION_V1)
        assert auditor.audit_trigger(request).ok
        outcome = auditor.record_outcome("1001", "CI", "failed", "infrastructure: node lost")
        assert outcome.record.status is Status.FAILED
        assert outcome.retry == RetryDecision(
            retry=False, reason="a retry policy raised RuntimeError", policy="wfaudit.engine"
        )
        decided = auditor.store.list_events(subject=outcome.record.id)[-1]
        assert decided.kind == DECIDED and decided.data["retry"] is False
        assert auditor.get_snapshot("1001", "CI").status is Status.FAILED


def test_outcomes_are_recorded_in_the_audit_trail(auditor: Auditor) -> None:
    request = Controller(auditor, pathlib.Path()).request("4001", DEFINITION_V1)
    assert auditor.audit_trigger(request).ok
    for status, reason in [
        ("running", None),
        ("cancelled", "stopped by ana"),
        ("error", "infrastructure: node lost"),
    ]:
        outcome = auditor.record_outcome("4001", "CI", status, reason, by="runner")
        assert (outcome.record.status.value, outcome.record.status_reason) == (status, reason)
    snapshot = auditor.get_snapshot("4001", "CI")
    events = auditor.store.list_events(subject=snapshot.id)
    outcomes = [(e.data["status"], e.data["reason"]) for e in events if e.kind == EventKind.OUTCOME]
    assert outcomes == [
        ("running", None),
        ("cancelled", "stopped by ana"),
        ("error", "infrastructure: node lost"),
    ]
    assert events[-1].kind == DECIDED and events[-1].data["retry"] is True
    with pytest.raises(InvalidRequest, match="'triggered' is the status an audit gives"):
        auditor.record_outcome("4001", "CI", "triggered")


class TimingWrapper:
    """A metrics-style wrapper of the mask hook: it marks nothing."""

    @hookimpl(wrapper=True)
    def wfaudit_mask(self, context: MaskContext) -> Iterator[None]:
        return (yield)


def test_a_wrapper_of_the_mask_hook_is_neither_a_masker_nor_a_producer(
    store_url: str, settings_file: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql")
    request = TriggerRequest(workflow_id=1, workflow_type="CI", pipeline_id=7, config={})
    with (
        Auditor.from_url(store_url, strict=True, plugins=[TimingWrapper()]) as alone,
        pytest.raises(MaskingRequired),
    ):
        alone.audit_trigger(request)
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers")
    with Auditor.from_url(store_url, strict=True, plugins=[TimingWrapper()]) as auditor:
        assert auditor.audit_trigger(request).ok
        manifest = auditor.get_snapshot(1, "CI").manifest
    assert manifest.maskers == ("maskers",)
    assert [p.split("==")[0] for p in manifest.plugins] == ["maskers", "wfaudit"]


def test_the_adapter_that_read_the_payload_is_a_producer(
    make_auditor: Callable[..., Auditor],
) -> None:
    examples = pathlib.Path(__file__).resolve().parent.parent / "docs" / "adapters" / "examples"
    payload = json.loads((examples / "devtron-ci.json").read_text(encoding="utf-8"))
    with_ci = make_auditor(entry_points="sql,maskers,ci", strict=True)
    request = TriggerRequest(workflow_id="w1", workflow_type="CI", pipeline_id="-", config=payload)
    assert with_ci.audit_trigger(request).ok
    with_ci.record_outcome("w1", "CI", "failed", "infrastructure: node lost")
    manifest = with_ci.get_snapshot("w1", "CI").manifest
    assert manifest.adapter == "devtron"
    assert [p.split("==")[0] for p in manifest.plugins] == ["ci", "maskers", "wfaudit"]
    without_ci = make_auditor(entry_points="sql,maskers", strict=True)
    with pytest.raises(MissingPlugins) as raised:
        without_ci.plan_retrigger("w1", "CI")
    assert raised.value.missing == ("ci==0.1.0", "an adapter of payload format 'devtron'")
