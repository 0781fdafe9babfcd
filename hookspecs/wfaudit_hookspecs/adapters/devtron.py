"""Devtron workflow requests: the JSON Devtron hands its CI and pre-/post-CD runners.

One shape serves every stage (Devtron's ``WorkflowRequest``): ``stageType`` is
empty for CI and ``PRE`` or ``POST`` for the deployment stages. The minimal
request of Devtron's own tests, ``{workflowId, pipelineId, Type, triggeredBy}``
(``Type`` is Devtron's pipeline type: ``CI``, ``JOB`` or ``CD``), is
recognised too. The format
answers for a stage only when the request's workflow type is that stage; a
post-CD request audited as CI is an error, not a silent generic snapshot.
See docs/adapters/devtron.md for the field mapping.
"""

from __future__ import annotations

from typing import Any, ClassVar

from wfaudit_hookspecs.errors import InvalidRequest
from wfaudit_hookspecs.model import WorkflowType
from wfaudit_hookspecs.shapes import DiffShape, shape_nodes

from .adapter import Facts, PayloadFormat
from .identity import identity_value, label_value
from .kubernetes import secret_references

__all__ = ["SYSTEM_USER_ID", "DevtronFormat", "stage_of"]

# ``workflowId`` plus one of these: keys only Devtron's request has, so that a
# generic request with a ``workflowId`` is not taken for one.
_MARKERS = frozenset(
    {
        "workflowNamePrefix",
        "ciProjectDetails",
        "stageType",
        "prePostDeploySteps",
        "preCiSteps",
        "postCiSteps",
        "ciArtifactDTO",
        "workflowRunnerId",
        "cdPipelineId",
    }
)
# Devtron's WorkflowPipelineType, serialised under the Go field name ``Type``: the
# one key of the minimal request (Devtron's tests) that says it is Devtron's.
_PIPELINE_TYPES = {"CI": WorkflowType.CI, "JOB": WorkflowType.CI, "CD": None}

SYSTEM_USER_ID = 1
"""Devtron's system user (``bean.SYSTEM_USER_ID``): who triggers a retrigger's new run."""

_STAGES = {
    "": WorkflowType.CI,
    "CI": WorkflowType.CI,
    "PRE": WorkflowType.PRE_CD,
    "POST": WorkflowType.POST_CD,
}
_STAGE_LABELS = {WorkflowType.CI: "CI", WorkflowType.PRE_CD: "PRE", WorkflowType.POST_CD: "POST"}


def _pipeline_type(config: dict[str, Any]) -> str | None:
    value = config.get("Type")
    return value.strip().upper() if isinstance(value, str) else None


def stage_of(config: dict[str, Any]) -> str | None:
    """The workflow type of a Devtron request's stage, or None for an unknown ``stageType``
    (and for a ``Type: CD`` request without one: either deployment stage)."""
    stage = config.get("stageType")
    if stage is None:
        if _pipeline_type(config) == "CD":
            return None
        return WorkflowType.CI
    if not isinstance(stage, str):
        return None
    return _STAGES.get(stage.strip().upper())


class DevtronFormat(PayloadFormat):
    """Devtron's workflow request, for the stages of the adapter's workflow types."""

    name: ClassVar[str] = "devtron"
    # The steps of a Devtron request's stages.
    shape: ClassVar[DiffShape | None] = DiffShape(
        nodes=shape_nodes(
            [("step", [("precisteps", "#"), ("postcisteps", "#"), ("prepostdeploysteps", "#")])]
        ),
    )
    reference_syntax: ClassVar[tuple[tuple[str, str], ...]] = (
        # Scoped variables, resolved by Devtron at deployment: @{{DB_HOST}}.
        ("devtron-variable", r"@\{\{\s*(?P<name>[\w.\-]+)\s*\}\}"),
    )
    description: ClassVar[str] = (
        "Devtron workflow request (JSON): workflowId, pipelineId, ciProjectDetails, "
        "stageType PRE/POST for the deployment stages"
    )
    workflow_id_source: ClassVar[str] = "workflowId, or workflowRunnerId for a CD stage"
    pipeline_id_source: ClassVar[str] = "pipelineId, or cdPipelineId for a CD stage"

    def recognise(self, config: Any) -> bool:
        return (
            isinstance(config, dict)
            and "workflowId" in config
            and (not _MARKERS.isdisjoint(config) or _pipeline_type(config) in _PIPELINE_TYPES)
        )

    def read(self, config: Any, workflow_type: str) -> Facts:
        stage = stage_of(config)
        if (
            stage is None
            and config.get("stageType") is None
            and workflow_type in (WorkflowType.PRE_CD, WorkflowType.POST_CD)
        ):
            stage = workflow_type  # a minimal CD request: the caller names its stage
        if stage is None and config.get("stageType") is None:
            raise InvalidRequest(
                f"this devtron request is a deployment request (Type CD, no stageType) but was "
                f"triggered as {workflow_type}; trigger it as PRE_CD or POST_CD"
            )
        if stage is None:
            raise InvalidRequest(
                "this devtron request's stageType is not empty (CI), PRE or POST; "
                "wfaudit cannot tell which stage it is (force format=generic to audit it as given)"
            )
        if stage != workflow_type:
            raise InvalidRequest(
                f"this devtron request is a {_STAGE_LABELS[stage]} stage request but was "
                f"triggered as {workflow_type}; trigger it as {stage}"
            )
        if stage == WorkflowType.CI:
            workflow_id = identity_value(config.get("workflowId"))
            pipeline_id = identity_value(config.get("pipelineId"))
        else:
            # Devtron keys CD snapshots by the stage's runner, not by the CD workflow.
            workflow_id = identity_value(config.get("workflowRunnerId")) or identity_value(
                config.get("workflowId")
            )
            pipeline_id = identity_value(config.get("cdPipelineId")) or identity_value(
                config.get("pipelineId")
            )
        labels = {
            "app": label_value(config.get("appName")),
            "environment": label_value(config.get("envName")),
            "pipeline": label_value(config.get("pipelineName")),
            "stage": _STAGE_LABELS[stage],
        }
        return Facts(
            workflow_id=workflow_id,
            pipeline_id=pipeline_id,
            triggered_by=identity_value(config.get("triggeredBy"))
            or identity_value(config.get("triggerByAuthor")),
            labels={key: value for key, value in labels.items() if value is not None},
            references=secret_references(config, self.name),
        )

    def new_run(
        self, config: dict[str, Any], workflow_type: str, workflow_id: str
    ) -> tuple[dict[str, Any], str]:
        """A retrigger's request for its new run, as Devtron writes it
        (``reTriggerCiFromSnapshot``): the new run's id and ``triggeredBy`` =
        :data:`SYSTEM_USER_ID`. Returns a new config and the new ``triggered_by``.

        The id goes where :meth:`read` takes it from: ``workflowId`` for CI,
        ``workflowRunnerId`` for a deployment stage (Devtron's new runner of the
        same CD workflow; ``workflowId`` when the request has no runner id).

        :raises InvalidRequest: the new id is not a positive integer: Devtron's
            ids are its tables' integer keys (give the run's id Devtron made).
        """
        text = workflow_id.strip()
        if not text.isdecimal() or int(text) < 1:
            raise InvalidRequest(
                f"a Devtron run's id is a positive integer (its ci_workflow or "
                f"cd_workflow_runner id), not {workflow_id!r}: pass the new run's id "
                "(--new-workflow-id)"
            )
        out = dict(config)
        key = "workflowId"
        if workflow_type != WorkflowType.CI and "workflowRunnerId" in config:
            key = "workflowRunnerId"
        out[key] = int(text)
        out["triggeredBy"] = SYSTEM_USER_ID
        return out, str(SYSTEM_USER_ID)
