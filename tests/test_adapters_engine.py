"""The adapters inside the engine: errors the engine reports, and CLI = API.

The auditors here load the installed entry points ``sql``, ``maskers``, ``ci``
and ``cd`` (the adapters as a user installs them), on every store backend.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from wfaudit import Auditor
from wfaudit.loading import load_payload
from wfaudit_hookspecs import (
    AmbiguousPayload,
    InvalidRequest,
    TriggerKind,
    TriggerRequest,
    UnknownWorkflowType,
    UnrecognisedPayload,
)

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "docs" / "adapters" / "examples"
ENTRY_POINTS = "sql,maskers,ci,cd"

ARGO = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "deploy"}}
PIPELINE_RUN = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "pr"}}


@pytest.fixture
def auditor(make_auditor: Callable[..., Auditor]) -> Auditor:
    """A strict auditor with the adapters and the maskers, as installed."""
    return make_auditor(entry_points=ENTRY_POINTS, strict=True)


def run(config: Any, workflow_type: str, workflow_id: str = "w1", **fields: Any) -> TriggerRequest:
    fields.setdefault("pipeline_id", "-")
    return TriggerRequest(
        workflow_id=workflow_id, workflow_type=workflow_type, config=config, **fields
    )


def test_the_adapters_are_installed_plugins(auditor: Auditor) -> None:
    names = {name for name, _ in auditor.plugin_manager.list_name_plugin()}
    assert {"ci", "cd"} <= names
    formats = auditor.plugin_manager.payload_formats
    assert {"devtron", "github-actions", "tekton", "argo"} <= set(formats)
    assert set(formats["argo"][0]) == {"PRE_CD", "POST_CD"}
    assert set(formats["github-actions"][0]) == {"CI"}


def test_a_format_declared_by_ci_and_cd_applies_to_all_their_types(auditor: Auditor) -> None:
    formats = auditor.plugin_manager.payload_formats
    assert set(formats["devtron"][0]) == {"CI", "PRE_CD", "POST_CD"}
    assert set(formats["tekton"][0]) == {"CI", "PRE_CD", "POST_CD"}


def test_the_ci_plugin_alone_leaves_deployment_stages_to_the_generic_format(
    make_auditor: Callable[..., Auditor],
) -> None:
    ci_only = make_auditor(entry_points="sql,maskers,ci", strict=True)
    pre = load_payload(str(EXAMPLES / "devtron-pre-cd.json"))
    assert ci_only.audit_trigger(run(pre, "PRE_CD", pipeline_id="31")).ok
    assert ci_only.get_snapshot("w1", "PRE_CD").manifest.adapter in (None, "generic")
    ci = load_payload(str(EXAMPLES / "devtron-ci.json"))
    assert ci_only.audit_trigger(run(ci, "CI")).ok
    assert ci_only.get_snapshot("w1", "CI").manifest.adapter == "devtron"


def test_ambiguous_payload_names_the_formats(auditor: Auditor) -> None:
    with pytest.raises(AmbiguousPayload, match=r"argo, tekton"):
        auditor.audit_trigger(run([ARGO, PIPELINE_RUN], "PRE_CD"))
    assert auditor.audit_trigger(run([ARGO, PIPELINE_RUN], "PRE_CD", format="tekton")).ok
    snapshot = auditor.get_snapshot("w1", "PRE_CD")
    assert (snapshot.manifest.adapter, snapshot.pipeline_id) == ("tekton", "pr")


def test_forced_unknown_format_lists_the_known_ones(auditor: Auditor) -> None:
    with pytest.raises(
        UnrecognisedPayload,
        match=r"unknown payload format 'jenkins'; known formats: argo, devtron, generic, "
        r"github-actions, tekton",
    ):
        auditor.audit_trigger(run(ARGO, "PRE_CD", format="jenkins"))


@pytest.mark.parametrize(
    ("config", "workflow_type", "forced"),
    [
        pytest.param(ARGO, "PRE_CD", "tekton", id="argo-forced-as-tekton"),
        pytest.param(PIPELINE_RUN, "CI", "github-actions", id="tekton-forced-as-github"),
        pytest.param({"job": "x"}, "POST_CD", "devtron", id="generic-forced-as-devtron"),
    ],
)
def test_forced_wrong_format_is_unrecognised(
    auditor: Auditor, config: Any, workflow_type: str, forced: str
) -> None:
    with pytest.raises(UnrecognisedPayload, match=rf"not a valid {forced} payload"):
        auditor.audit_trigger(run(config, workflow_type, pipeline_id="p", format=forced))


def test_generic_payload_is_audited_as_given_with_the_callers_identity(auditor: Auditor) -> None:
    config = load_payload(str(EXAMPLES / "generic.json"))
    assert auditor.audit_trigger(run(config, "CI", pipeline_id="nightly", triggered_by="cron")).ok
    snapshot = auditor.get_snapshot("w1", "CI")
    assert snapshot.manifest.adapter in (None, "generic")  # the engine's pass-through
    assert (snapshot.pipeline_id, snapshot.triggered_by, dict(snapshot.labels)) == (
        "nightly",
        "cron",
        {},
    )
    # A Devtron request forced to the generic format is audited as given, too.
    devtron = load_payload(str(EXAMPLES / "devtron-ci.json"))
    assert auditor.audit_trigger(run(devtron, "CI", "w2", pipeline_id="p", format="generic")).ok
    assert auditor.get_snapshot("w2", "CI").manifest.adapter == "generic"


def test_adapter_errors_follow_the_non_blocking_policy(
    make_auditor: Callable[..., Auditor],
) -> None:
    lenient = make_auditor(entry_points=ENTRY_POINTS)
    post = load_payload(str(EXAMPLES / "devtron-post-cd.json"))
    result = lenient.audit_trigger(run(post, "CI"))
    assert not result.ok and result.error_type == "InvalidRequest"
    assert "trigger it as POST_CD" in str(result.error)
    assert "checkout" not in str(result.error)  # no request data in the message
    strict = make_auditor(entry_points=ENTRY_POINTS, strict=True)
    with pytest.raises(InvalidRequest, match="workflow id '-' asks the github-actions adapter"):
        strict.audit_trigger(run({"on": "push", "jobs": {"a": {}}}, "CI", "-", pipeline_id="p"))


def test_identity_and_kind_from_a_github_run_reach_the_snapshot(auditor: Auditor) -> None:
    config = load_payload(str(EXAMPLES / "github-actions-run.json"))
    result = auditor.audit_trigger(run(config, "CI", "-"))
    assert result.ok, result.error
    snapshot = auditor.get_snapshot("9876543210-2", "CI")
    assert snapshot.pipeline_id == "example-org/web-shop/.github/workflows/ci.yml"
    assert (snapshot.triggered_by, snapshot.trigger_kind, snapshot.attempt) == (
        "ben",
        TriggerKind.RETRY,
        2,
    )
    names = {(r.path, r.name) for r in snapshot.manifest.references if r.kind == "github-secret"}
    assert ("/workflow/jobs/publish/steps/0/env/NODE_AUTH_TOKEN", "NPM_TOKEN") in names
    assert snapshot.config == config  # nothing in this request is a secret value


def test_identify_reads_the_ids_as_the_audit_would_and_stores_nothing(auditor: Auditor) -> None:
    """``Auditor.identify``: what an outcome reported from a payload alone (a Tekton
    CloudEvent) finds its run by; the same identity as the audit's."""
    config = load_payload(str(EXAMPLES / "github-actions-run.json"))
    found = auditor.identify(run(config, "CI", "-"))
    assert (found.workflow_id, found.format) == ("9876543210-2", "github-actions")
    assert found.pipeline_id == "example-org/web-shop/.github/workflows/ci.yml"
    assert auditor.history() == []
    result = auditor.audit_trigger(run(config, "CI", "-"))
    assert result.ref is not None and result.ref.workflow_id == found.workflow_id
    with pytest.raises(InvalidRequest, match="no adapter recognised"):
        auditor.identify(run({"plain": "payload"}, "CI", "-"))
    with pytest.raises(UnknownWorkflowType):
        auditor.identify(run(config, "NOPE", "w1", pipeline_id="p1"))


# -- the CLI and the API give the same snapshot ---------------------------------

CLI_CASES = [
    ("devtron-ci.json", "CI"),
    ("github-actions-run.json", "CI"),
    ("tekton-pipelinerun.yaml", "CI"),
    ("devtron-pre-cd.json", "PRE_CD"),
    ("argo-workflow.yaml", "PRE_CD"),
    ("devtron-post-cd.json", "POST_CD"),
    ("tekton-taskrun.yaml", "POST_CD"),
]


def wfaudit_cli(*args: str, store: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WFAUDIT_STORE_URL=store, WFAUDIT_LOAD_PLUGINS=ENTRY_POINTS)
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _same_audit(snapshot: Any) -> dict[str, Any]:
    fields = attrs.asdict(snapshot, recurse=True)
    return {
        key: fields[key]
        for key in (
            "workflow_type",
            "pipeline_id",
            "content_hash",
            "manifest",
            "triggered_by",
            "trigger_kind",
            "labels",
            "attempt",
            "config",
        )
    }


@pytest.mark.parametrize(("name", "workflow_type"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_and_auditor_give_the_same_snapshot(
    make_auditor: Callable[..., Auditor], store_url: str, name: str, workflow_type: str
) -> None:
    path = EXAMPLES / name
    out = wfaudit_cli(
        "trigger",
        str(path),
        "--type",
        workflow_type,
        "--workflow-id",
        "cli-run",
        "--pipeline-id",
        "-",
        "--json",
        store=store_url,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ok"]

    auditor = make_auditor(entry_points=ENTRY_POINTS, strict=True)
    request = run(load_payload(str(path)), workflow_type, "api-run")
    result = auditor.audit_trigger(request)
    assert result.ok, result.error
    via_cli = auditor.get_snapshot("cli-run", workflow_type)
    via_api = auditor.get_snapshot("api-run", workflow_type)
    assert via_api.manifest.adapter is not None
    assert _same_audit(via_cli) == _same_audit(via_api)


def test_cli_forced_wrong_format_is_one_clear_line(store_url: str) -> None:
    out = wfaudit_cli(
        "trigger",
        str(EXAMPLES / "argo-workflow.yaml"),
        "--type",
        "POST_CD",
        "--workflow-id",
        "x",
        "--pipeline-id",
        "p",
        "--format",
        "devtron",
        store=store_url,
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "Error: the payload is not a valid devtron payload (formats tried: devtron)"
    ]
