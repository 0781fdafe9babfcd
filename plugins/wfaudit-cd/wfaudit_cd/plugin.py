"""The ``cd`` entry point: the pre-CD and post-CD adapters.

Formats: ``devtron`` (``stageType`` ``PRE`` or ``POST``), ``argo`` and
``tekton``; each answers only for ``PRE_CD`` and ``POST_CD`` requests. The
Devtron and Tekton readers are the adapter kit's (:mod:`wfaudit_hookspecs.adapters`),
shared with wfaudit-ci, so that CI and CD read a payload the same way; so are
the hooks (:class:`~wfaudit_hookspecs.adapters.AdapterPlugin`, over :data:`ADAPTERS`).
"""

from __future__ import annotations

from wfaudit_hookspecs import WorkflowType
from wfaudit_hookspecs.adapters import Adapter, AdapterPlugin, DevtronFormat, TektonFormat

from .argo import ArgoFormat

__all__ = ["ADAPTERS", "CD_PLUGIN", "CD_TYPES", *AdapterPlugin.HOOKS]

CD_TYPES = (WorkflowType.PRE_CD, WorkflowType.POST_CD)

ADAPTERS: tuple[Adapter, ...] = (
    Adapter(DevtronFormat(), CD_TYPES),
    Adapter(ArgoFormat(), CD_TYPES),
    Adapter(TektonFormat(), CD_TYPES),
)

CD_PLUGIN = AdapterPlugin(ADAPTERS)
"""Declares ``PRE_CD`` and ``POST_CD`` (the engine declares them too, from the same
contract table) and the formats ``devtron``, ``argo`` and ``tekton``; reads their
payloads."""

wfaudit_workflow_types = CD_PLUGIN.wfaudit_workflow_types
wfaudit_payload_formats = CD_PLUGIN.wfaudit_payload_formats
wfaudit_pre_trigger = CD_PLUGIN.wfaudit_pre_trigger
wfaudit_reference_syntax = CD_PLUGIN.wfaudit_reference_syntax
wfaudit_new_run = CD_PLUGIN.wfaudit_new_run
