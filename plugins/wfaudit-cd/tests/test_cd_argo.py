"""The Argo Workflows adapter on its own: identity, trigger kinds, secret references."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

import wfaudit_cd.plugin as plugin
from wfaudit import load_payload
from wfaudit_hookspecs import InvalidRequest, TriggerKind, TriggerRequest
from wfaudit_hookspecs.adapters import FROM_PAYLOAD

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "docs" / "adapters" / "examples"
ARGO = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf"}}


def example(name: str) -> Any:
    return load_payload(str(EXAMPLES / name))


def request(config: Any, workflow_type: str = "PRE_CD", **fields: Any) -> TriggerRequest:
    fields.setdefault("workflow_id", FROM_PAYLOAD)
    fields.setdefault("pipeline_id", FROM_PAYLOAD)
    return TriggerRequest(config=config, workflow_type=workflow_type, **fields)


def adapt(req: TriggerRequest) -> TriggerRequest | None:
    """What this plugin answers (the request, completed, or None)."""
    return plugin.wfaudit_pre_trigger(req)


def refs(answer: TriggerRequest | None) -> set[tuple[str, str, str]]:
    assert answer is not None
    return {(r.path, r.kind, r.name) for r in answer.references}


# -- Argo Workflows ---------------------------------------------------------


def test_argo_workflow_from_a_cron_template() -> None:
    answer = adapt(request(example("argo-workflow.yaml"), "POST_CD"))
    assert answer is not None and answer.format == "argo"
    assert answer.workflow_id == "6f1c2b8e-3d4a-4e5f-9a6b-7c8d9e0f1a2b"
    assert answer.pipeline_id == "checkout/smoke-tests"
    assert (answer.triggered_by, answer.trigger_kind) == ("ana", TriggerKind.SCHEDULE)
    assert answer.labels == {"kind": "Workflow", "namespace": "checkout", "template": "smoke-tests"}
    assert refs(answer) == {
        ("/spec/imagePullSecrets/0", "k8s-secret", "registry-credentials"),
        (
            "/spec/templates/0/container/env/0/valueFrom/secretKeyRef",
            "k8s-secret",
            "smoke-tests/api-token",
        ),
        (
            "/spec/templates/0/outputs/artifacts/0/s3/accessKeySecret",
            "k8s-secret",
            "s3-credentials/accessKey",
        ),
        (
            "/spec/templates/0/outputs/artifacts/0/s3/secretKeySecret",
            "k8s-secret",
            "s3-credentials/secretKey",
        ),
    }


@pytest.mark.parametrize(
    ("kind", "labels", "trigger_kind"),
    [
        ("Workflow", {"workflows.argoproj.io/resubmitted-from-workflow": "a"}, TriggerKind.RETRY),
        ("Workflow", {"workflows.argoproj.io/workflow-event-binding": "b"}, TriggerKind.WEBHOOK),
        ("Workflow", {}, None),
        ("CronWorkflow", {}, TriggerKind.SCHEDULE),
        ("WorkflowEventBinding", {}, TriggerKind.WEBHOOK),
        ("WorkflowTemplate", {}, None),
    ],
)
def test_argo_trigger_kinds(
    kind: str, labels: dict[str, str], trigger_kind: TriggerKind | None
) -> None:
    doc = {**ARGO, "kind": kind, "metadata": {"name": "x", "labels": labels}}
    answer = adapt(request(doc, "PRE_CD", workflow_id="w"))
    assert answer is not None
    assert answer.trigger_kind is (trigger_kind or TriggerKind.MANUAL)


def test_argo_only_a_workflow_is_a_run() -> None:
    template = {**ARGO, "kind": "WorkflowTemplate"}
    with pytest.raises(InvalidRequest, match="workflow id '-' asks the argo adapter"):
        adapt(request(template, "PRE_CD"))
    binding = {
        **ARGO,
        "kind": "WorkflowEventBinding",
        "spec": {"submit": {"workflowTemplateRef": {"name": "deploy-hook"}}},
    }
    answer = adapt(request(binding, "PRE_CD", workflow_id="w"))
    assert answer is not None and answer.pipeline_id == "deploy-hook"
