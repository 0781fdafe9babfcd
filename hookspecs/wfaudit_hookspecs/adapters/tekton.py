"""Tekton runs: a ``PipelineRun`` or ``TaskRun``, alone or with the objects it uses.

Tekton's examples (and many real trigger payloads) are multi-document files:
the run plus its ``Pipeline``, ``Task``, ``ConfigMap``, ``Secret`` ... The run
decides the identity: the first ``PipelineRun``, else the first ``TaskRun``;
references are collected from every document.
"""

from __future__ import annotations

from typing import Any, ClassVar

from wfaudit_hookspecs.model import TriggerKind
from wfaudit_hookspecs.shapes import DiffShape, shape_nodes

from .adapter import Facts
from .kubernetes import KubernetesFormat, first_label, labels_of, ref_name, run_id

__all__ = ["TEKTON_GROUP", "TektonFormat"]

TEKTON_GROUP = "tekton.dev"
_RUN_KINDS = ("PipelineRun", "TaskRun")
# Labels Tekton's own tools put on runs.
_TRIGGERS_LABELS = ("triggers.tekton.dev/eventlistener", "triggers.tekton.dev/trigger")
_RERUN_LABEL = "dashboard.tekton.dev/rerunOf"


class TektonFormat(KubernetesFormat):
    """A Tekton ``PipelineRun`` or ``TaskRun`` manifest (with its companions)."""

    group: ClassVar[str] = TEKTON_GROUP
    kinds: ClassVar[tuple[str, ...]] = _RUN_KINDS
    name: ClassVar[str] = "tekton"
    # The tasks and finally tasks of a Pipeline or of a PipelineRun's
    # pipelineSpec (joined by runAfter) and their embedded steps; the steps of
    # a Task or of a TaskRun's taskSpec.
    shape: ClassVar[DiffShape | None] = DiffShape(
        nodes=shape_nodes(
            [
                ("task", [("tasks", "#"), ("finally", "#")]),
                (
                    "step",
                    [
                        ("tasks", "#", "taskspec", "steps", "#"),
                        ("finally", "#", "taskspec", "steps", "#"),
                    ],
                ),
            ],
            bases=(("spec",), ("spec", "pipelinespec")),
        )
        + shape_nodes([("step", [("spec", "steps", "#"), ("spec", "taskspec", "steps", "#")])]),
        connections=frozenset({"runafter"}),
        documents=True,
    )
    reference_syntax: ClassVar[tuple[tuple[str, str], ...]] = (
        # Variable substitution: $(params.token), $(params["api-token"]),
        # $(tasks.build.results.digest), $(workspaces.creds.path).
        (
            "tekton-variable",
            r"\$\((?P<name>(?:params|context|tasks|workspaces|steps|results|resources|inputs)"
            r"(?:\.[\w\-*]+|\[['\"][^'\"\]]+['\"]\])+)\)",
        ),
    )
    description: ClassVar[str] = (
        "Tekton PipelineRun or TaskRun (apiVersion tekton.dev/*), alone or in a "
        "multi-document payload"
    )
    workflow_id_source: ClassVar[str] = "the run's metadata.uid or metadata.name"
    pipeline_id_source: ClassVar[str] = (
        "the run's pipelineRef or taskRef, else its metadata.name or generateName"
    )

    def read(self, config: Any, workflow_type: str) -> Facts:
        kind, doc = self.main_document(config)
        labels = labels_of(doc)
        return self.run_facts(
            config,
            kind,
            doc,
            workflow_id=run_id(doc),
            definition=(
                "pipeline" if kind == "PipelineRun" else "task",
                _definition(doc, kind, labels),
            ),
            trigger_kind=_trigger_kind(labels),
        )


def _definition(doc: dict[str, Any], kind: str, labels: dict[str, str]) -> str | None:
    """The Pipeline or Task the run executes, when it names one."""
    ref_key, label = ("pipelineRef", "tekton.dev/pipeline")
    if kind == "TaskRun":
        ref_key, label = ("taskRef", "tekton.dev/task")
    return ref_name(doc.get("spec"), ref_key) or first_label(labels, (label,))


def _trigger_kind(labels: dict[str, str]) -> TriggerKind | None:
    if _RERUN_LABEL in labels:
        return TriggerKind.RETRY
    if any(label in labels for label in _TRIGGERS_LABELS):
        return TriggerKind.WEBHOOK
    return None
