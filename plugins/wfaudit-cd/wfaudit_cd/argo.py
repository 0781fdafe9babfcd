"""Argo Workflows: ``Workflow``, ``WorkflowTemplate``, ``ClusterWorkflowTemplate``,
``CronWorkflow`` and ``WorkflowEventBinding`` manifests.

A deployment job is often submitted from a template, by a schedule or by an
event; the labels Argo puts on the workflows it creates say which
(``workflows.argoproj.io/cron-workflow``, ``.../workflow-event-binding``,
``.../resubmitted-from-workflow``, ``.../creator-preferred-username``). Only a
``Workflow`` is a run, so only a ``Workflow`` gives a workflow id.
"""

from __future__ import annotations

from typing import Any, ClassVar

from wfaudit_hookspecs import TriggerKind
from wfaudit_hookspecs.adapters.adapter import Facts
from wfaudit_hookspecs.adapters.kubernetes import (
    KubernetesFormat,
    first_label,
    labels_of,
    ref_name,
    run_id,
)
from wfaudit_hookspecs.shapes import DiffShape, shape_nodes

__all__ = ["ARGO_GROUP", "ArgoFormat"]

ARGO_GROUP = "argoproj.io"
# In priority order: the run itself first, then what starts runs.
_KINDS = (
    "Workflow",
    "CronWorkflow",
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "WorkflowEventBinding",
)
_LABEL = "workflows.argoproj.io/"
_TEMPLATE_LABELS = (
    _LABEL + "workflow-template",
    _LABEL + "cluster-workflow-template",
    _LABEL + "cron-workflow",
)
_CREATOR_LABELS = (_LABEL + "creator-preferred-username", _LABEL + "creator")
_KIND_OF_KIND = {"CronWorkflow": TriggerKind.SCHEDULE, "WorkflowEventBinding": TriggerKind.WEBHOOK}
# Checked in order: a resubmitted cron workflow is a retry.
_KIND_LABELS = (
    (_LABEL + "resubmitted-from-workflow", TriggerKind.RETRY),
    (_LABEL + "cron-workflow", TriggerKind.SCHEDULE),
    (_LABEL + "workflow-event-binding", TriggerKind.WEBHOOK),
)


class ArgoFormat(KubernetesFormat):
    """An Argo Workflows manifest (with any companion documents)."""

    group: ClassVar[str] = ARGO_GROUP
    kinds: ClassVar[tuple[str, ...]] = _KINDS
    name: ClassVar[str] = "argo"
    # The templates of a Workflow, a template or a CronWorkflow's workflowSpec;
    # a DAG template's tasks (joined by dependencies or depends); the steps of a
    # steps template's parallel groups.
    shape: ClassVar[DiffShape | None] = DiffShape(
        nodes=shape_nodes(
            [
                ("template", [("templates", "#")]),
                ("task", [("templates", "#", "dag", "tasks", "#")]),
                ("step", [("templates", "#", "steps", "#", "#")]),
            ],
            bases=(("spec",), ("spec", "workflowspec")),
        ),
        connections=frozenset({"dependencies", "depends"}),
        documents=True,
    )
    reference_syntax: ClassVar[tuple[tuple[str, str], ...]] = (
        # Template tags: {{workflow.parameters.token}}, {{inputs.parameters.x}}, {{item}}.
        (
            "argo-variable",
            r"\{\{=?\s*(?P<name>(?:inputs|outputs|workflow|steps|tasks|item|pod|node|retries)"
            r"(?:\.[\w\-]+)*)\s*\}\}",
        ),
    )
    description: ClassVar[str] = (
        "Argo Workflows Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow "
        "or WorkflowEventBinding (apiVersion argoproj.io/*)"
    )
    workflow_id_source: ClassVar[str] = "a Workflow's metadata.uid or metadata.name"
    pipeline_id_source: ClassVar[str] = (
        "the workflowTemplateRef, else the object's metadata.name or generateName"
    )

    def read(self, config: Any, workflow_type: str) -> Facts:
        kind, doc = self.main_document(config)
        labels = labels_of(doc)
        return self.run_facts(
            config,
            kind,
            doc,
            workflow_id=run_id(doc) if kind == "Workflow" else None,
            definition=("template", _template(doc, kind, labels)),
            triggered_by=first_label(labels, _CREATOR_LABELS),
            trigger_kind=_trigger_kind(kind, labels),
        )


def _template(doc: dict[str, Any], kind: str, labels: dict[str, str]) -> str | None:
    """The template a Workflow or binding runs (a pipeline's stable name), if any."""
    if kind not in ("Workflow", "WorkflowEventBinding"):
        return None
    spec = doc.get("spec")
    if kind == "WorkflowEventBinding" and isinstance(spec, dict):
        spec = spec.get("submit")  # the binding submits from a template
    name = ref_name(spec, "workflowTemplateRef")
    if name is None and kind == "Workflow":
        # Argo labels the workflows it submits from templates and cron workflows.
        name = first_label(labels, _TEMPLATE_LABELS)
    return name


def _trigger_kind(kind: str, labels: dict[str, str]) -> TriggerKind | None:
    for label, trigger_kind in _KIND_LABELS:
        if label in labels:
            return trigger_kind
    return _KIND_OF_KIND.get(kind)
