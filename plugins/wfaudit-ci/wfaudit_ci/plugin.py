"""The ``ci`` entry point: the CI adapters (workflow type ``CI``).

Formats: ``devtron`` (CI requests, no ``stageType``), ``github-actions`` and
``tekton`` (a ``PipelineRun`` or ``TaskRun`` building the code). Each answers
only for ``CI`` requests; the ``wfaudit-cd`` plugin answers for the deployment
stages with the same Devtron and Tekton readers. The hooks are the adapter
kit's (:class:`~wfaudit_hookspecs.adapters.AdapterPlugin`) over :data:`ADAPTERS`.
"""

from __future__ import annotations

from wfaudit_hookspecs import WorkflowType
from wfaudit_hookspecs.adapters import Adapter, AdapterPlugin, DevtronFormat, TektonFormat

from .github import GitHubActionsFormat

__all__ = ["ADAPTERS", "CI_PLUGIN", *AdapterPlugin.HOOKS]

ADAPTERS: tuple[Adapter, ...] = (
    Adapter(DevtronFormat(), (WorkflowType.CI,)),
    Adapter(GitHubActionsFormat(), (WorkflowType.CI,)),
    Adapter(TektonFormat(), (WorkflowType.CI,)),
)

CI_PLUGIN = AdapterPlugin(ADAPTERS)
"""Declares ``CI`` (the engine declares it too, from the same contract table) and
the formats ``devtron``, ``github-actions`` and ``tekton``; reads their payloads."""

wfaudit_workflow_types = CI_PLUGIN.wfaudit_workflow_types
wfaudit_payload_formats = CI_PLUGIN.wfaudit_payload_formats
wfaudit_pre_trigger = CI_PLUGIN.wfaudit_pre_trigger
wfaudit_reference_syntax = CI_PLUGIN.wfaudit_reference_syntax
wfaudit_new_run = CI_PLUGIN.wfaudit_new_run
