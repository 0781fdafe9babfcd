"""The pytest plugin, exercised as a user's test suite would use it (pytester)."""

from __future__ import annotations

import socket

import pytest

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


PASSING_SUITE = """
import datetime as dt
import pytest
from wfaudit import hookimpl, TriggerRequest


class NightlyTypes:
    @hookimpl
    def wfaudit_workflow_types(self, register):
        register("NIGHTLY", "nightly batch")


CONFIG = {
    "dockerPassword": "Plugin-Test-Pa55word-01",
    "env": {"LOG_LEVEL": "info"},
    "commitHash": "3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f",
}


def test_audit_and_assert(wfaudit):
    result = wfaudit.audit(workflow_id=1, workflow_type="CI", pipeline_id=7, config=CONFIG)
    assert result.ok and result.created
    snapshot = wfaudit.assert_audited(1, "CI")
    assert snapshot.config["commitHash"] == CONFIG["commitHash"]
    wfaudit.assert_masked(1, "CI", "/dockerPassword")
    wfaudit.assert_no_secret("Plugin-Test-Pa55word-01")


def test_differ_exactly(wfaudit):
    wfaudit.audit(workflow_id=1, workflow_type="CI", pipeline_id=7, config=CONFIG)
    wfaudit.audit(workflow_id=2, workflow_type="CI", pipeline_id=7, config={**CONFIG, "env": {"LOG_LEVEL": "debug"}})
    a = wfaudit.auditor.get_snapshot(1, "CI")
    b = wfaudit.auditor.get_snapshot(2, "CI")
    wfaudit.assert_differ_exactly(a, b, "/env/LOG_LEVEL")


@pytest.mark.wfaudit_plugins(NightlyTypes())
def test_marker_registers_plugins(wfaudit_auditor):
    assert "NIGHTLY" in wfaudit_auditor.workflow_types


def test_context_manager_registers_for_the_block(wfaudit_auditor, wfaudit_plugins):
    with wfaudit_plugins(NightlyTypes()):
        assert "NIGHTLY" in wfaudit_auditor.workflow_types
    assert "NIGHTLY" not in wfaudit_auditor.workflow_types


def test_recorder_sees_every_stage(wfaudit_auditor, wfaudit_recorder):
    wfaudit_auditor.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id=7, config=CONFIG)
    assert wfaudit_recorder.names() == [
        "wfaudit_pre_trigger", "wfaudit_mask", "wfaudit_persist", "wfaudit_event"
    ]
    (persist,) = wfaudit_recorder.assert_called("wfaudit_persist", times=1)
    assert persist.result.created


def test_clock(wfaudit_auditor, wfaudit_clock):
    wfaudit_clock.set(dt.datetime(2030, 5, 17, 8, 0, tzinfo=dt.UTC))
    wfaudit_auditor.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id=7, config=CONFIG)
    wfaudit_clock.advance(days=30)
    outcome = wfaudit_auditor.record_outcome(1, "CI", "succeeded")
    assert outcome.record.created_on.date() == dt.date(2030, 5, 17)
    assert outcome.record.updated_on.date() == dt.date(2030, 6, 16)


def test_keyring(wfaudit_keyring):
    import keyring

    keyring.set_password("registry", "robot", "kr-secret")
    assert wfaudit_keyring.get_password("registry", "robot") == "kr-secret"


def test_store_url(wfaudit_store_url, request):
    expected = request.config.getoption("--wfaudit-store") or "sqlite:///"
    assert wfaudit_store_url.startswith(expected.split("?")[0])
"""


def test_fixtures_marker_and_helpers_pass_in_a_generated_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=PASSING_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)


@pytest.mark.skipif(not _postgres_up(), reason="PostgreSQL is not reachable on 127.0.0.1:5432")
def test_the_store_option_runs_the_same_suite_on_postgresql(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=PASSING_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--wfaudit-store={PG_URL}")
    result.assert_outcomes(passed=8)


def test_the_ini_option_names_the_store(pytester: pytest.Pytester) -> None:
    store = pytester.path / "shared.sqlite3"
    pytester.makeini(f"[pytest]\nwfaudit_store = sqlite:///{store}\n")
    pytester.makepyfile(
        test_ini="""
def test_ini(wfaudit_store_url, wfaudit):
    assert wfaudit_store_url.endswith("shared.sqlite3")
    assert wfaudit.audit(workflow_id=1, workflow_type="CI", pipeline_id=1, config={"a": 1}).ok
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert store.exists()


def test_failures_explain_themselves(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_failing="""
from wfaudit import hookimpl

class Leaky:
    @hookimpl
    def wfaudit_mask(self, context):
        pass  # masks nothing

def test_not_audited(wfaudit):
    wfaudit.assert_audited(404, "CI")

def test_leak(wfaudit):
    wfaudit.audit(workflow_id=1, workflow_type="CI", pipeline_id=1, config={"note": "plain words leak here"})
    wfaudit.assert_no_secret("plain words leak here")

def test_not_masked(wfaudit):
    wfaudit.audit(workflow_id=1, workflow_type="CI", pipeline_id=1, config={"note": "x", "dockerPassword": "Sup3r-Secret-Value-9"})
    wfaudit.assert_masked(1, "CI", "/note")

def test_snapshots_compare(wfaudit):
    wfaudit.audit(workflow_id=1, workflow_type="CI", pipeline_id=1, config={"a": 1, "b": [1, 2]})
    wfaudit.audit(workflow_id=2, workflow_type="CI", pipeline_id=1, config={"a": 2, "b": [1, 2, 3]})
    assert wfaudit.auditor.get_snapshot(1, "CI") == wfaudit.auditor.get_snapshot(2, "CI")

def test_differ(wfaudit):
    wfaudit.audit(workflow_id=1, workflow_type="CI", pipeline_id=1, config={"a": 1, "b": 1})
    wfaudit.audit(workflow_id=2, workflow_type="CI", pipeline_id=1, config={"a": 2, "b": 2})
    wfaudit.assert_differ_exactly(1 and wfaudit.auditor.get_snapshot(1, "CI"), wfaudit.auditor.get_snapshot(2, "CI"), "/a")
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: CI workflow 404 was not audited; latest snapshots: none*",
            "*AssertionError: * secret leak*:*",
            "*secret #1 in table blobs*",
            "*AssertionError: /note is not in the manifest (masked paths: /dockerPassword)*",
            "*snapshots differ:*",
            "*differing fields: id, workflow_id, content_hash, config_size, created_on, updated_on*",
            "*config (masked) differs at:*",
            "*modified /a*",
            "*added /b/2*",
            "*changed but not expected: /b*",
        ]
    )
