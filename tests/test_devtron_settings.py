"""Settings as Devtron operators write them: Go booleans, the retry switch, the master switch.

One boolean parser serves every setting (``wfaudit_hookspecs.parse_bool``); the
tests hold every boolean setting to it, so the three parsers that disagreed on
``""`` cannot come back one by one.
"""

from __future__ import annotations

import json
import pathlib

import pytest
from click.testing import CliRunner

from wfaudit import Auditor
from wfaudit.builtin.retry import RetrySettings
from wfaudit.cli import cli
from wfaudit.settings import Settings, env_flag
from wfaudit_hookspecs import ConfigurationError, Failure, Status, parse_bool
from wfaudit_sql.migrate import AUTO_UPGRADE_ENV, auto_upgrade_from_env

GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
ALSO_TRUE = ("yes", "on", "Yes", " true ")
ALSO_FALSE = ("no", "off", "OFF", "\tfalse\n")
EMPTY = ("", "   ")
NOT_BOOLEAN = ("maybe", "2", "tru", "yes please", "enabled")


@pytest.mark.parametrize("value", GO_TRUE + ALSO_TRUE)
def test_true_forms(value: str) -> None:
    assert parse_bool(value, "X", default=False) is True


@pytest.mark.parametrize("value", GO_FALSE + ALSO_FALSE)
def test_false_forms(value: str) -> None:
    assert parse_bool(value, "X", default=True) is False


@pytest.mark.parametrize("value", EMPTY)
def test_an_empty_value_is_unset_and_the_default_applies(value: str) -> None:
    assert parse_bool(value, "X", default=True) is True
    assert parse_bool(value, "X", default=False) is False
    assert parse_bool(None, "X", default=True) is True


@pytest.mark.parametrize("value", NOT_BOOLEAN)
def test_anything_else_is_a_configuration_error_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^WORKFLOW_RETRIES_ENABLED=.* is not a boolean"):
        parse_bool(value, "WORKFLOW_RETRIES_ENABLED", default=False)


def _three_readers(value: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, ...]:
    """What each boolean setting of the engine and the sql store makes of ``value``."""
    out: list[object] = []
    monkeypatch.setenv("WFAUDIT_STRICT", value)
    monkeypatch.setenv(AUTO_UPGRADE_ENV, value)
    for read in (
        lambda: env_flag("WFAUDIT_STRICT", default=False),
        lambda: RetrySettings.load({}, {"WORKFLOW_RETRIES_ENABLED": value}).enabled,
        auto_upgrade_from_env,
    ):
        try:
            out.append(read())
        except ConfigurationError:
            out.append("error")
    return tuple(out)


@pytest.mark.parametrize("value", GO_TRUE + GO_FALSE + ALSO_TRUE + ALSO_FALSE + NOT_BOOLEAN)
def test_every_boolean_setting_reads_a_value_the_same_way(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected: object
    try:
        expected = parse_bool(value, "X", default=False)
    except ConfigurationError:
        expected = "error"
    assert _three_readers(value, monkeypatch) == (expected, expected, expected)


def test_an_empty_value_gives_each_setting_its_own_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # strict: off, retries: off, the store's automatic upgrade: on.
    assert _three_readers("", monkeypatch) == (False, False, True)


def test_an_empty_wfaudit_variable_leaves_devtrons_to_decide() -> None:
    env = {"WFAUDIT_RETRIES_ENABLED": "", "WORKFLOW_RETRIES_ENABLED": "T"}
    assert RetrySettings.load({}, env).enabled
    env = {"WFAUDIT_RETRIES_ENABLED": "F", "WORKFLOW_RETRIES_ENABLED": "T"}
    assert not RetrySettings.load({}, env).enabled


def test_a_bad_retry_switch_fails_at_start_not_as_a_silent_veto(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql")
    monkeypatch.setenv("WORKFLOW_RETRIES_ENABLED", "ture")
    with pytest.raises(
        ConfigurationError, match="WORKFLOW_RETRIES_ENABLED='ture' is not a boolean"
    ):
        Auditor.from_url(store_url)
    result = CliRunner().invoke(cli, ["log", "--store", store_url])
    assert result.exit_code == 1
    assert result.output.startswith("Error: WORKFLOW_RETRIES_ENABLED='ture' is not a boolean")


@pytest.mark.parametrize(
    "reason", ["pod deleted", "Pod deleted", "The node was low on memory: Evicted"]
)
def test_devtrons_own_retry_reasons_are_retryable_by_default(reason: str) -> None:
    retryable, why = RetrySettings().classify(Failure(status=Status.FAILED, reason=reason))
    assert retryable, why


# -- the master switch --------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "enabled"),
    [
        ({}, True),
        ({"WFAUDIT_ENABLED": "false"}, False),
        ({"ENABLE_WORKFLOW_AUDIT": "F"}, False),
        ({"ENABLE_WORKFLOW_AUDIT": "true"}, True),
        ({"WFAUDIT_ENABLED": "1", "ENABLE_WORKFLOW_AUDIT": "false"}, True),
        ({"WFAUDIT_ENABLED": "", "ENABLE_WORKFLOW_AUDIT": "0"}, False),
    ],
)
def test_the_master_switch_variables(
    environment: dict[str, str], enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings.load().enabled is enabled


def test_the_master_switch_in_the_settings_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "wfaudit.toml"
    settings.write_text("enabled = false\n", encoding="utf-8")
    monkeypatch.setenv("WFAUDIT_CONFIG", str(settings))
    assert Settings.load().enabled is False
    monkeypatch.setenv("ENABLE_WORKFLOW_AUDIT", "nope")
    with pytest.raises(ConfigurationError, match="ENABLE_WORKFLOW_AUDIT='nope' is not a boolean"):
        Settings.load()


def test_switched_off_auditing_is_a_no_op_that_says_so(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,ci,maskers")
    payload = tmp_path / "request.json"
    payload.write_text(json.dumps({"password": "s3cr3t-value-99"}), encoding="utf-8")
    trigger = ["trigger", str(payload), "--type", "CI", "--workflow-id", "7", "--pipeline-id", "1"]

    monkeypatch.setenv("ENABLE_WORKFLOW_AUDIT", "false")
    with Auditor.from_url(store_url, strict=True) as auditor:
        result = auditor.audit_trigger(
            workflow_id=7, workflow_type="CI", pipeline_id=1, config={"password": "x"}
        )
        assert (result.ok, result.disabled, result.ref, result.created) == (True, True, None, False)
    line = CliRunner().invoke(cli, [*trigger, "--store", store_url])
    assert line.exit_code == 0, line.output
    assert line.output.startswith("disabled: auditing is switched off")
    health = CliRunner().invoke(cli, ["health", "--store", store_url])
    assert "audit:  OFF (WFAUDIT_ENABLED / ENABLE_WORKFLOW_AUDIT is false)" in health.output

    monkeypatch.delenv("ENABLE_WORKFLOW_AUDIT")
    with Auditor.from_url(store_url, strict=True) as auditor:
        assert auditor.history() == []  # nothing was stored while it was off
    line = CliRunner().invoke(cli, [*trigger, "--store", store_url])
    assert line.exit_code == 0 and line.output.startswith("audited: CI 7"), line.output
    health = CliRunner().invoke(cli, ["health", "--store", store_url])
    assert "OFF" not in health.output
