"""The built-in retry policy: settings from the environment and files, reasons, votes."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pytest

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, RetryDecision, SnapshotRecord, Status, TriggerRequest, hookimpl
from wfaudit.builtin import retry
from wfaudit.builtin.retry import DEFAULT_MAX_RETRIES, POLICY, RetrySettings
from wfaudit.plugins import DEFAULT_PLUGINS, make_plugin_manager
from wfaudit.settings import Settings
from wfaudit_hookspecs import ConfigurationError, Failure


def load(env: dict[str, str] | None = None, **table: object) -> RetrySettings:
    return RetrySettings.load({"retry": table} if table else {}, env or {})


def record(workflow_type: str = "CI") -> SnapshotRecord:
    return SnapshotRecord(
        id="01J0", workflow_id="1", workflow_type=workflow_type, pipeline_id="7", content_hash="a"
    )


def failed(reason: str | None, status: Status = Status.FAILED) -> Failure:
    return Failure(status=status, reason=reason)


def test_disabled_by_default_with_three_retries_per_type() -> None:
    settings = load()
    assert not settings.enabled
    assert [settings.max_retries(t) for t in ("CI", "PRE_CD", "post-cd", "BATCH")] == [3] * 4
    assert DEFAULT_MAX_RETRIES == 3
    assert "wfaudit.builtin.retry" in DEFAULT_PLUGINS
    assert make_plugin_manager(load_entrypoints=False).has_plugin("wfaudit.builtin.retry")


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({"WFAUDIT_RETRIES_ENABLED": "1"}, True),
        ({"WORKFLOW_RETRIES_ENABLED": "true"}, True),
        ({"WORKFLOW_RETRIES_ENABLED": "false"}, False),
        ({"WFAUDIT_RETRIES_ENABLED": "no", "WORKFLOW_RETRIES_ENABLED": "yes"}, False),
        ({"WFAUDIT_RETRIES_ENABLED": "on", "WORKFLOW_RETRIES_ENABLED": "0"}, True),
    ],
)
def test_enabled_by_either_variable_wfaudits_first(env: dict[str, str], enabled: bool) -> None:
    assert load(env).enabled is enabled


def test_the_file_enables_and_the_environment_overrides_it() -> None:
    assert load(enabled=True).enabled
    assert not load({"WORKFLOW_RETRIES_ENABLED": "0"}, enabled=True).enabled


def test_limits_the_most_specific_setting_wins_then_the_environment() -> None:
    env = {"MAX_CI_WORKFLOW_RETRIES": "5", "MAX_CD_WORKFLOW_RUNNER_RETRIES": "1"}
    settings = load(env)
    assert settings.limit("CI") == (5, "MAX_CI_WORKFLOW_RETRIES")
    assert settings.limit("PRE_CD") == (1, "MAX_CD_WORKFLOW_RUNNER_RETRIES")
    assert settings.limit("POST_CD") == (1, "MAX_CD_WORKFLOW_RUNNER_RETRIES")
    assert settings.limit("BATCH") == (3, "the default")

    table = load(
        {"WFAUDIT_MAX_RETRIES": "2"},
        max_retries=7,
        max_retries_by_type={"ci": 4, "batch": 0},
    )
    assert table.limit("CI") == (4, "max_retries_by_type.CI")
    assert table.limit("BATCH") == (0, "max_retries_by_type.BATCH")
    assert table.limit("PRE_CD") == (2, "WFAUDIT_MAX_RETRIES")
    assert load(max_retries=7).limit("PRE_CD") == (7, "max_retries")
    assert load({"MAX_CI_WORKFLOW_RETRIES": "6"}, max_retries_by_type={"CI": 4}).limit("CI") == (
        6,
        "MAX_CI_WORKFLOW_RETRIES",
    )


@pytest.mark.parametrize(
    ("env", "table", "message"),
    [
        ({"MAX_CI_WORKFLOW_RETRIES": "three"}, {}, "MAX_CI_WORKFLOW_RETRIES='three' is not a"),
        ({"MAX_CI_WORKFLOW_RETRIES": "-1"}, {}, "outside 0..100"),
        ({"WFAUDIT_MAX_RETRIES": "101"}, {}, "outside 0..100"),
        ({"WFAUDIT_RETRIES_ENABLED": "maybe"}, {}, "WFAUDIT_RETRIES_ENABLED='maybe' is not a"),
        ({}, {"enable": True}, "unknown key enable"),
        ({}, {"retryable": "timeout*"}, "retryable must be a list"),
        ({}, {"max_retries": True}, "is not a number of retries"),
        ({}, {"delay_seconds": -1}, "delay_seconds must be"),
        ({}, {"max_retries_by_type": 3}, "max_retries_by_type must be a table"),
    ],
)
def test_bad_settings_are_named(
    env: dict[str, str], table: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load(env, **table)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("reason", "status", "retryable"),
    [
        ("infrastructure: runner node lost", Status.FAILED, True),
        ("Pod EVICTED by the kubelet", Status.FAILED, True),
        ("step checkout timed out after 600s", Status.FAILED, True),
        ("ErrImagePull: registry unavailable", Status.FAILED, True),
        ("launch failed: ConnectionError", Status.ERROR, True),
        ("tests failed: 3 of 812", Status.FAILED, False),
        ("test timeout in test_payments", Status.FAILED, False),  # not-retryable first
        ("compilation error in main.go", Status.FAILED, False),
        ("exit status 1", Status.FAILED, False),
        (None, Status.FAILED, False),
        ("exit status 1", Status.ERROR, True),  # error_is_retryable
        (None, Status.ERROR, True),
    ],
)
def test_default_reasons(reason: str | None, status: Status, retryable: bool) -> None:
    assert load().classify(failed(reason, status))[0] is retryable


def test_reasons_are_configurable() -> None:
    settings = load(retryable=["flaky*"], not_retryable=["*quota*"], error_is_retryable=False)
    assert settings.classify(failed("flaky network"))[0]
    assert not settings.classify(failed("flaky: quota exceeded"))[0]
    assert not settings.classify(failed("infrastructure: node lost"))[0]  # defaults replaced
    assert not settings.classify(failed("exit status 2", Status.ERROR))[0]
    why = settings.classify(failed("Flaky DNS with token s3cr3t"))[1]
    assert "s3cr3t" not in why and "'flaky*'" in why


def vote(
    attempt: int, reason: str | None, settings: dict[str, object], wtype: str = "CI"
) -> object:
    return retry.wfaudit_on_failure(
        snapshot=record(wtype), failure=failed(reason), attempt=attempt, settings=settings
    )


def test_the_policys_votes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WFAUDIT_RETRIES_ENABLED", "WORKFLOW_RETRIES_ENABLED", "MAX_CI_WORKFLOW_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    assert vote(1, "infrastructure: x", {}) is None  # disabled: no opinion
    on = {"retry": {"enabled": True, "max_retries": 2, "delay_seconds": 30}}
    assert vote(1, "infrastructure: x", on) == RetryDecision(
        retry=True,
        reason="the reason matches the retryable pattern 'infrastructure*'; retry 1 of 2",
        policy=POLICY,
        delay_seconds=30.0,
    )
    assert vote(2, "infrastructure: x", on).retry  # type: ignore[attr-defined]
    exhausted = vote(3, "infrastructure: x", on)
    assert exhausted == RetryDecision(
        retry=False, reason="retries exhausted: 2 of 2 (max_retries) used", policy=POLICY
    )
    assert not vote(1, "tests failed", on).retry  # type: ignore[attr-defined]
    monkeypatch.setenv("MAX_CI_WORKFLOW_RETRIES", "0")
    assert not vote(1, "infrastructure: x", on).retry  # type: ignore[attr-defined]
    assert vote(1, "infrastructure: x", on, "PRE_CD").retry  # type: ignore[attr-defined]


class Yes:
    @hookimpl
    def wfaudit_on_failure(self, snapshot: SnapshotRecord) -> RetryDecision:
        return RetryDecision(retry=True, reason="yes", policy="yes")


def test_any_veto_wins_over_yes_votes(
    make_auditor: Callable[..., Auditor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_RETRIES_ENABLED", "1")
    auditor = make_auditor(KeyNameMasker(), Yes())
    for workflow_id in ("1", "2", "3"):
        auditor.audit_trigger(
            TriggerRequest(workflow_id=workflow_id, workflow_type="CI", pipeline_id=7, config={})
        )
    veto = auditor.record_outcome("1", "CI", "failed", "tests failed: 2").retry
    assert veto is not None and (veto.retry, veto.policy) == (False, POLICY)
    both = auditor.record_outcome("2", "CI", "failed", "infrastructure: dns").retry
    assert both is not None and both.retry
    monkeypatch.setenv("WFAUDIT_RETRIES_ENABLED", "0")  # the built-in abstains
    assert auditor.record_outcome("3", "CI", "failed", "tests failed").retry == RetryDecision(
        retry=True, reason="yes", policy="yes"
    )


def test_settings_from_wfaudit_toml_and_pyproject(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.wfaudit.retry]\nenabled = true\nmax_retries_by_type = { CI = 5 }\n",
        encoding="utf-8",
    )
    settings = RetrySettings.load(Settings.load().options, {})
    assert settings.enabled and settings.max_retries("CI") == 5
    (tmp_path / "wfaudit.toml").write_text('[retry]\nretryable = ["flaky*"]\n', encoding="utf-8")
    settings = RetrySettings.load(Settings.load().options, {})
    assert not settings.enabled and settings.retryable == ("flaky*",)


class Capture:
    def __init__(self) -> None:
        self.seen: list[tuple[int, dict[str, object]]] = []

    @hookimpl
    def wfaudit_on_failure(self, attempt: int, settings: dict[str, object]) -> None:
        self.seen.append((attempt, dict(settings)))


def test_the_engine_hands_policies_the_settings_and_the_counted_attempt(
    make_auditor: Callable[..., Auditor], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "wfaudit.toml"
    settings.write_text("[retry]\nenabled = true\nmax_retries = 1\n", encoding="utf-8")
    monkeypatch.setenv("WFAUDIT_CONFIG", str(settings))
    for name in ("WFAUDIT_RETRIES_ENABLED", "WORKFLOW_RETRIES_ENABLED", "WFAUDIT_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    capture = Capture()
    auditor = make_auditor(KeyNameMasker(), capture)
    auditor.audit_trigger(
        TriggerRequest(workflow_id=1, workflow_type="CI", pipeline_id=7, config={})
    )
    first = auditor.record_outcome(1, "CI", "error", "infrastructure: dns")
    assert first.retry is not None and first.retry.retry
    assert capture.seen == [(1, {"retry": {"enabled": True, "max_retries": 1}})]
