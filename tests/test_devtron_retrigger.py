"""Devtron's history after the import: restore map, retrigger, and the new run's audit.

The loop an operator runs: import Devtron's table, a run fails with Devtron's
own retry reason, ``wfaudit restore-map --check`` says where every secret
comes from (the Devtron restore profile: no hand mapping), the retrigger hands
the launcher the new run's identities (``workflowId``, ``triggeredBy`` = 1, as
Devtron writes them), and the orchestrator's audit of the new run is the same
audit: it succeeds and links to its parent, where it used to be refused as a
conflict.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from click.testing import CliRunner

from tests.devtron_table import DevtronTable, GoEncoder, Planted, realistic_requests, rows_of
from wfaudit import Auditor, TriggerRequest
from wfaudit.cli import cli
from wfaudit.retrigger import BLANKED_AT_SOURCE, NotRetriggerable
from wfaudit_hookspecs import InvalidRequest, SnapshotConflict, TriggerKind, hookimpl

PLUGINS = "sql,ci,cd,maskers,keyring"


@pytest.fixture(scope="session")
def go_encoder(tmp_path_factory: pytest.TempPathFactory) -> GoEncoder:
    return GoEncoder(tmp_path_factory.mktemp("go-encoder"))


@pytest.fixture
def imported(
    store_url: str, go_encoder: GoEncoder, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Planted]:
    """A CI and a pre-CD run of Devtron's table, imported into the store."""
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    monkeypatch.setenv("WORKFLOW_RETRIES_ENABLED", "T")  # Go's spelling of true
    planted = list(realistic_requests(20, seed=3))
    runs = {
        "CI": next(p for p in planted if p.workflow_type == "CI"),
        "PRE_CD": next(p for p in planted if p.workflow_type == "PRE_CD"),
    }
    table = DevtronTable()
    try:
        table.insert(rows_of(list(runs.values()), go_encoder))
        result = CliRunner().invoke(
            cli, ["import", "devtron", "--from", table.url, "--store", store_url]
        )
        assert result.exit_code == 0, result.output
    finally:
        table.drop()
    return runs


def profile_environment(monkeypatch: pytest.MonkeyPatch, run: Planted) -> dict[str, str]:
    """Today's secrets, where the Devtron profile looks for them: the ones Devtron kept
    (the snapshot's own, fingerprinted) and fresh registry and blob credentials (the
    fields Devtron blanked)."""
    request = run.request
    env = {
        "DEVTRON_GIT_1_PAYMENTS_API_PASSWORD": request["ciProjectDetails"][0]["gitOptions"][
            "password"
        ],
        "DEVTRON_VAR_DB_PASSWORD": request["preCiSteps"][0]["inputVars"][1]["value"],
        "SONAR_TOKEN": request["runtimeEnvironmentVariables"]["SONAR_TOKEN"],
        "DEVTRON_REGISTRY_ECR_PROD_DOCKER_PASSWORD": "fresh-registry-Pw-8812",
        "DEVTRON_BLOB_S3_ACCESS_KEY": "AKIAFRESHBLOB0000001",
        "DEVTRON_BLOB_S3_PASSKEY": "fresh/blob/passkey/77",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def restore_map(store_url: str, ref: str) -> Any:
    return CliRunner().invoke(cli, ["restore-map", "--check", ref, "--store", store_url])


def test_hook_wfaudit_restore_sources(
    imported: dict[str, Planted], store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``restore-map --check``: which secrets will restore and from where; never a value."""
    run = imported["CI"]
    ref = f"{run.workflow_id}:CI"
    before = restore_map(store_url, ref)
    assert before.exit_code == 1, before.output
    assert "WILL NOT (missing)" in before.output
    assert "not found: env DEVTRON_GIT_1_PAYMENTS_API_PASSWORD, env DEVTRON_GIT_PASSWORD" in (
        before.output
    )

    env = profile_environment(monkeypatch, run)
    after = restore_map(store_url, ref)
    assert after.exit_code == 0, after.output
    lines = {line.split()[0]: line for line in after.output.splitlines() if line.startswith("  /")}
    assert (
        "env DEVTRON_GIT_1_PAYMENTS_API_PASSWORD (the devtron profile)"
        in (lines["/ciProjectDetails/0/gitOptions/password"])
    )
    assert "restores  " in lines["/ciProjectDetails/0/gitOptions/password"]
    assert "env DEVTRON_VAR_DB_PASSWORD" in lines["/preCiSteps/0/inputVars/1/value"]
    assert (
        "env SONAR_TOKEN (the snapshot's restore reference)"
        in (lines["/runtimeEnvironmentVariables/SONAR_TOKEN"])
    )
    assert "restores (unverified)" in lines["/dockerPassword"]
    assert "env DEVTRON_REGISTRY_ECR_PROD_DOCKER_PASSWORD" in lines["/dockerPassword"]
    assert "kept empty (blanked)" in lines["/dockerCert"]
    assert all(value not in after.output for value in env.values())

    as_json = CliRunner().invoke(
        cli, ["restore-map", ref, "--json", "--store", store_url], catch_exceptions=False
    )
    data = json.loads(as_json.output)
    rules = {entry["key"]: entry["rule"] for entry in data["secrets"]}
    assert rules["/dockerPassword"] == BLANKED_AT_SOURCE
    assert data["not_restore"] == 0
    assert all(value not in as_json.output for value in env.values())


def test_hook_wfaudit_new_run(
    imported: dict[str, Planted],
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
) -> None:
    """Audit parent → retrigger → audit child: the child's audit succeeds and links."""
    run = imported["CI"]
    env = profile_environment(monkeypatch, run)
    launched: list[TriggerRequest] = []
    with Auditor.from_url(store_url, strict=True) as auditor:
        parent = auditor.get_snapshot(run.workflow_id, "CI")
        outcome = auditor.record_outcome(run.workflow_id, "CI", "failed", "pod deleted")
        assert outcome.retry is not None and outcome.retry.retry, outcome.retry

        with pytest.raises(InvalidRequest, match="a Devtron run's id is a positive integer"):
            auditor.plan_retrigger(run.workflow_id, "CI", None)  # <id>-retry1 is not Devtron's
        result = auditor.retrigger(run.workflow_id, "CI", 90_001, launched.append, by="ops")

        (request,) = launched
        config = request.config
        assert (config["workflowId"], config["triggeredBy"]) == (90_001, 1)
        assert (request.workflow_id, request.triggered_by) == ("90001", "1")
        assert config["dockerPassword"] == env["DEVTRON_REGISTRY_ECR_PROD_DOCKER_PASSWORD"]
        assert config["blobStorageS3Config"]["passkey"] == env["DEVTRON_BLOB_S3_PASSKEY"]
        assert config["dockerCert"] == ""  # blanked by Devtron, restored by nobody: as Devtron
        git = config["ciProjectDetails"][0]["gitOptions"]["password"]
        assert git == run.request["ciProjectDetails"][0]["gitOptions"]["password"]

        child = result.record
        assert (child.parent, child.attempt, child.trigger_kind) == (
            parent.id,
            2,
            TriggerKind.RETRY,
        )
        assert (child.triggered_by, child.created_by) == ("1", "ops")
        assert "imported-from" not in child.labels

        # The orchestrator audits the run it launched, as Devtron audits every run.
        audited = auditor.audit_trigger(
            TriggerRequest(workflow_id="-", pipeline_id="-", workflow_type="CI", config=config)
        )
        assert audited.ok and not audited.created, audited
        assert audited.ref is not None and audited.ref.id == child.id
        stored = auditor.store.get_record(workflow_id="90001", workflow_type="CI")
        assert stored is not None and stored.parent == parent.id

        # The same through the command line, from the launched request's file.
        payload = tmp_path / "launched.json"
        payload.write_text(json.dumps(config), encoding="utf-8")
        line = CliRunner().invoke(
            cli,
            [
                *("trigger", str(payload), "--type", "CI"),
                *("--workflow-id", "-", "--pipeline-id", "-", "--store", store_url),
            ],
        )
        assert line.exit_code == 0, line.output
        assert f"snapshot {child.id} (already audited (no-op)" in line.output

        # What changed from the parent: the identities Devtron rewrites, and the
        # secrets Devtron had blanked (restored: changed; restored by nobody: no
        # longer a masked field); nothing else.
        diff = auditor.diff(parent.id, child.id)
        changes = {change.path: change.secret for change in diff.changes}
        assert changes == {
            "/workflowId": None,
            "/triggeredBy": None,
            "/dockerPassword": "changed",
            "/blobStorageS3Config/accessKey": "changed",
            "/blobStorageS3Config/passkey": "changed",
            "/accessKey": "removed",
            "/secretKey": "removed",
            "/dockerCert": "removed",
        }

        # Another run under the child's id is still a conflict.
        other = dict(config, dockerImageTag="something-else")
        with pytest.raises(SnapshotConflict, match="already audited with a different content_hash"):
            auditor.audit_trigger(
                TriggerRequest(workflow_id="-", pipeline_id="-", workflow_type="CI", config=other)
            )
        with pytest.raises(NotRetriggerable):
            auditor.retrigger(run.workflow_id, "CI", 90_002, launched.append)


def test_a_deployment_stage_retrigger_writes_the_new_runner_id(
    imported: dict[str, Planted], store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = imported["PRE_CD"]
    for variable in run.request["prePostDeploySteps"][0]["inputVars"]:
        if variable["name"].endswith(("PASSWORD", "TOKEN")):
            monkeypatch.setenv(f"DEVTRON_VAR_{variable['name']}", variable["value"])
    launched: list[TriggerRequest] = []
    with Auditor.from_url(store_url, strict=True) as auditor:
        auditor.record_outcome(run.workflow_id, "PRE_CD", "error", "pod was evicted")
        auditor.retrigger(run.workflow_id, "PRE_CD", 91_000, launched.append)
        (request,) = launched
        assert request.config["workflowRunnerId"] == 91_000
        assert request.config["workflowId"] == run.request["workflowId"]  # the same CD workflow
        audited = auditor.audit_trigger(
            TriggerRequest(
                workflow_id="-", pipeline_id="-", workflow_type="PRE_CD", config=request.config
            )
        )
        assert audited.ok and not audited.created and audited.ref is not None
        child = auditor.store.get_record(workflow_id="91000", workflow_type="PRE_CD")
        assert child is not None and child.parent is not None


class RenamingAdapter:
    """A new-run hook that moves a masked value: the engine refuses to record it."""

    @hookimpl(tryfirst=True)
    def wfaudit_new_run(self, request: TriggerRequest) -> TriggerRequest:
        config = dict(request.config)
        config["gitPassword"] = config.pop("dockerPassword", None)
        return TriggerRequest(
            workflow_id=request.workflow_id,
            workflow_type=request.workflow_type,
            pipeline_id=request.pipeline_id,
            config=config,
        )


def test_a_new_run_hook_may_not_move_a_masked_value(
    imported: dict[str, Planted], store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = imported["CI"]
    profile_environment(monkeypatch, run)
    with Auditor.from_url(store_url, strict=True, plugins=[RenamingAdapter()]) as auditor:
        auditor.record_outcome(run.workflow_id, "CI", "failed", "pod deleted")
        with pytest.raises(Exception, match="moved or changed the masked value at /dockerPassword"):
            auditor.retrigger(run.workflow_id, "CI", 90_010, lambda request: None)
        assert auditor.store.get_record(workflow_id="90010", workflow_type="CI") is None
