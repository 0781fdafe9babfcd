"""``wfaudit retrigger``, run as a user runs it: a real process, a real orchestrator."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from wfaudit import Auditor, Status, TriggerKind, TriggerRequest
from wfaudit.testing import find_secrets
from wfaudit_hookspecs import canonical_json

ORCHESTRATOR = pathlib.Path(__file__).with_name("orchestrator.py")
PASSWORD = "Cli-Rg7!registry-Pa55"
TOKEN = "cli-dpl-8Hq2Wm5Zr9Tx4Kv1"
CONFIG = {
    "pipeline": "payments-api",
    "steps": [{"name": "build", "run": ["python", "-c", "print('built v1')"]}],
    "registry": {"server": "registry.acme.example", "password": PASSWORD},
    "env": {"DEPLOY_TOKEN": TOKEN},
}


def wfaudit(*args: str, store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", "--store", store, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def failed_run(
    store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Auditor]:
    """CI run 1001 audited (secrets masked) and failed with an infrastructure error."""
    settings = tmp_path / "wfaudit.toml"
    settings.write_text(
        '[restore.env]\n"/registry/password" = "CLI_REGISTRY_PASSWORD"\n'
        '"/env/DEPLOY_TOKEN" = "CLI_DEPLOY_TOKEN"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("WFAUDIT_CONFIG", str(settings))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers,keyring")
    monkeypatch.setenv("CLI_REGISTRY_PASSWORD", PASSWORD)
    monkeypatch.setenv("CLI_DEPLOY_TOKEN", TOKEN)
    monkeypatch.delenv("EXPECTED_SECRETS_SHA256", raising=False)
    for name in (  # the figures below are the defaults'
        "WFAUDIT_RETRIES_ENABLED",
        "WORKFLOW_RETRIES_ENABLED",
        "MAX_CI_WORKFLOW_RETRIES",
        "WFAUDIT_MAX_RETRIES",
    ):
        monkeypatch.delenv(name, raising=False)
    with Auditor.from_url(store_url, strict=True) as auditor:
        request = TriggerRequest(
            workflow_id=1001, workflow_type="CI", pipeline_id="payments-api", config=CONFIG
        )
        assert auditor.audit_trigger(request).ok
        auditor.record_outcome(1001, "CI", "failed", "infrastructure: runner node lost")
        yield auditor


def test_output_writes_the_restored_request_0600(
    failed_run: Auditor, store_url: str, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "request.json"
    result = wfaudit(
        "retrigger", "--workflow-id", "1001", "--type", "ci", "--output", str(out), store=store_url
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text(encoding="utf-8"))
    assert canonical_json(document["config"]) == canonical_json(CONFIG)
    assert document["workflow_id"] == "1001-retry1"
    assert (document["attempt"], document["trigger_kind"]) == (2, "retry")
    assert document["parent_workflow_id"] == "1001"
    parent = failed_run.get_snapshot(1001, "CI")
    assert document["parent_snapshot_id"] == parent.id
    child = failed_run.get_snapshot("1001-retry1", "CI")
    assert (child.parent, child.attempt, child.trigger_kind) == (parent.id, 2, TriggerKind.RETRY)
    assert child.status is Status.TRIGGERED  # the orchestrator reports how it ends
    assert "written to" in result.stdout and "mode 0600" in result.stdout
    assert find_secrets([PASSWORD, TOKEN], texts=[("output", result.stdout + result.stderr)]) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".request")] == []


def test_output_replaces_a_world_readable_file_with_a_private_one(
    failed_run: Auditor, store_url: str, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "request.json"
    out.write_text("old", encoding="utf-8")
    out.chmod(0o644)
    old = os.umask(0)
    try:
        result = wfaudit(
            "retrigger", "--workflow-id", "1001", "--type", "CI", "--output", str(out),
            store=store_url,
        )  # fmt: skip
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_exec_runs_the_orchestrator_and_records_its_outcome(
    failed_run: Auditor, store_url: str, tmp_path: pathlib.Path
) -> None:
    state = tmp_path / "state"
    command = f"python {ORCHESTRATOR} --state {state}".replace("python", sys.executable, 1)
    result = wfaudit(
        "retrigger", "--workflow-id", "1001", "--type", "CI", "--new-workflow-id", "1002",
        "--exec", command, store=store_url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "command exited with status 0: outcome succeeded" in result.stdout
    run = json.loads((state / "runs" / "1002.json").read_text(encoding="utf-8"))
    assert (run["outputs"], run["attempt"]) == (["built v1"], 2)
    assert failed_run.get_snapshot(1002, "CI").status is Status.SUCCEEDED
    assert find_secrets([PASSWORD, TOKEN], texts=[("output", result.stdout + result.stderr)]) == []


def test_exec_failure_is_recorded_and_exits_1(
    failed_run: Auditor, store_url: str, tmp_path: pathlib.Path
) -> None:
    command = f"'{sys.executable}' '{ORCHESTRATOR}' --state '{tmp_path}' --fail-always"
    result = wfaudit(
        "retrigger", "--pipeline", "payments-api", "--type", "CI", "--exec", command,
        store=store_url,
    )  # fmt: skip
    one_line_error(result, "the command exited with status 75", "outcome failed recorded")
    record = failed_run.get_snapshot("1001-retry1", "CI")
    assert (record.status, record.status_reason) == (Status.FAILED, "exit status 75")
    assert "retry policy:" not in result.stdout  # the built-in policy is disabled


def test_exec_uses_no_shell(failed_run: Auditor, store_url: str, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "argv.json"
    script = "import json, sys; json.load(sys.stdin); open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"
    command = (
        f"'{sys.executable}' -c \"{script}\" '{out}' \"$(touch {tmp_path}/pwned)\" "
        f"'; touch {tmp_path}/pwned2' `id`"
    )
    result = wfaudit(
        "retrigger", "--workflow-id", "1001", "--type", "CI", "--exec", command, store=store_url
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == [
        f"$(touch {tmp_path}/pwned)",
        f"; touch {tmp_path}/pwned2",
        "`id`",
    ]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_dry_run_shows_the_plan_without_secrets_and_records_nothing(
    failed_run: Auditor, store_url: str
) -> None:
    result = wfaudit(
        "retrigger", "--workflow-id", "1001", "--type", "CI", "--dry-run", store=store_url
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "dry run: nothing recorded, nothing launched" in text
    assert "as CI 1001-retry1: attempt 2, retry 1 of 3 (the default)" in text
    assert "secrets: 2 restorable (" in text and "/registry/password" in text
    assert find_secrets([PASSWORD, TOKEN], texts=[("dry run", text)]) == []
    as_json = wfaudit(
        "retrigger", "--workflow-id", "1001", "--type", "CI", "--dry-run", "--json",
        store=store_url,
    )  # fmt: skip
    plan: dict[str, Any] = json.loads(as_json.stdout)
    assert plan["dry_run"] is True and plan["parent"]["status"] == "failed"
    assert sorted(plan["secrets"]) == ["/env/DEPLOY_TOKEN", "/registry/password"]
    assert any(p.startswith("maskers==") for p in plan["plugins"])
    assert find_secrets([PASSWORD, TOKEN], texts=[("json", as_json.stdout)]) == []
    assert [r.workflow_id for r in failed_run.history()] == ["1001"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--workflow-id", "1001", "--type", "CI"], ["exactly one of --output"]),
        (
            ["--workflow-id", "1001", "--type", "CI", "--dry-run", "--exec", "true"],
            ["not --exec and --dry-run"],
        ),
        (["--type", "CI", "--dry-run"], ["--workflow-id W or --pipeline P"]),
        (["--workflow-id", "1001", "--type", "CI", "--exec", "'unclosed"], ["cannot parse"]),
        (["--workflow-id", "404", "--type", "CI", "--dry-run"], ["no snapshot"]),
        (["--pipeline", "none", "--type", "CI", "--dry-run"], ["has no failed CI run"]),
        (
            ["--workflow-id", "1001", "--type", "CI", "--output", "/nonexistent/dir/r.json"],
            ["does not exist"],
        ),
    ],
)
def test_bad_invocations_are_one_line(
    failed_run: Auditor, store_url: str, args: list[str], fragments: list[str]
) -> None:
    one_line_error(wfaudit("retrigger", *args, store=store_url), *fragments)
    assert [r.workflow_id for r in failed_run.history()] == ["1001"]


def test_refusals_are_one_line_and_launch_nothing(
    failed_run: Auditor, store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r.json"
    base = ["retrigger", "--workflow-id", "1001", "--type", "CI", "--output", str(out)]
    monkeypatch.delenv("CLI_DEPLOY_TOKEN")
    error = one_line_error(wfaudit(*base, store=store_url), "/env/DEPLOY_TOKEN")
    assert TOKEN not in error
    monkeypatch.setenv("CLI_DEPLOY_TOKEN", TOKEN)
    monkeypatch.setenv("MAX_CI_WORKFLOW_RETRIES", "0")
    one_line_error(wfaudit(*base, store=store_url), "used 0 of 0 retries")
    monkeypatch.delenv("MAX_CI_WORKFLOW_RETRIES")
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,keyring")  # no maskers installed
    one_line_error(wfaudit(*base, store=store_url), "not installed: maskers==")
    assert not out.exists()
    assert [r.workflow_id for r in failed_run.history()] == ["1001"]
    allowed = wfaudit(*base, "--allow-missing-plugins", store=store_url)
    assert allowed.returncode == 0, allowed.stderr
    assert "Warning: replaying without the plugins that produced it: maskers==" in allowed.stderr


def test_dry_run_reports_each_secret_and_refuses_what_would_be_refused(
    failed_run: Auditor, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["retrigger", "--workflow-id", "1001", "--type", "CI", "--dry-run"]
    rotated = "Cli-Rg7!rotated-Pa55"
    monkeypatch.setenv("CLI_REGISTRY_PASSWORD", rotated)
    monkeypatch.delenv("CLI_DEPLOY_TOKEN")
    result = wfaudit(*base, store=store_url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        "  /registry/password: restored, differs from the snapshot's (rotated or wrong); "
        "refused" in result.stdout
    )
    assert "  /env/DEPLOY_TOKEN: missing (no restorer has it)" in result.stdout
    assert "secrets: 0 of 2 restorable" in result.stdout
    assert (
        result.stderr.strip().splitlines()[-1].startswith("Error: the retrigger would be refused")
    )
    monkeypatch.setenv("CLI_DEPLOY_TOKEN", "")
    as_json = wfaudit(*base, "--json", "--accept-rotated", "/registry/password", store=store_url)
    assert as_json.returncode == 1
    checks = {c["key"]: c for c in json.loads(as_json.stdout)["secret_checks"]}
    assert checks["/registry/password"]["state"] == "rotated"
    assert checks["/registry/password"]["accepted"] is True
    assert checks["/env/DEPLOY_TOKEN"]["state"] == "invalid"
    assert checks["/env/DEPLOY_TOKEN"]["reason"] == "empty"
    monkeypatch.setenv("CLI_DEPLOY_TOKEN", TOKEN)
    accepted = wfaudit(*base, "--accept-rotated", "/registry/password", store=store_url)
    assert accepted.returncode == 0, accepted.stderr
    assert "  /env/DEPLOY_TOKEN: restored, matches the snapshot's fingerprint" in accepted.stdout
    assert "accepted (--accept-rotated)" in accepted.stdout
    texts = [("dry run", r.stdout + r.stderr) for r in (result, as_json, accepted)]
    assert find_secrets([PASSWORD, TOKEN, rotated], texts=texts) == []
    assert [r.workflow_id for r in failed_run.history()] == ["1001"]


def test_accept_rotated_launches_the_rotated_secret_and_the_trail_records_it(
    failed_run: Auditor, store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r.json"
    base = ["retrigger", "--workflow-id", "1001", "--type", "CI", "--output", str(out)]
    rotated = "Cli-Rg7!rotated-Pa55"
    monkeypatch.setenv("CLI_REGISTRY_PASSWORD", rotated)
    error = one_line_error(wfaudit(*base, store=store_url), "/registry/password", "rotated")
    assert rotated not in error and PASSWORD not in error
    for value in ("", f"[masked:{'0' * 16}]"):  # never, whatever is accepted
        monkeypatch.setenv("CLI_DEPLOY_TOKEN", value)
        refused = wfaudit(*base, "--accept-rotated", "/env/DEPLOY_TOKEN", store=store_url)
        one_line_error(refused, "/env/DEPLOY_TOKEN", "never used")
    assert not out.exists()
    monkeypatch.setenv("CLI_DEPLOY_TOKEN", TOKEN)
    done = wfaudit(*base, "--accept-rotated", "/registry/password", store=store_url)
    assert done.returncode == 0, done.stderr
    assert "launched with rotated secrets (recorded): /registry/password" in done.stdout
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["config"]["registry"]["password"] == rotated
    child = failed_run.get_snapshot("1001-retry1", "CI")
    events = failed_run.store.list_events(subject=child.id, tenant=None)
    assert [e.data["paths"] for e in events if e.kind == "secrets.rotation_accepted"] == [
        ["/registry/password"]
    ]
