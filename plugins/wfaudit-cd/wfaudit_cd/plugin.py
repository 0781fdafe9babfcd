"""The ``cd`` entry point: the pre-CD and post-CD adapters.

Formats: ``devtron`` (``stageType`` ``PRE`` or ``POST``), ``argo`` and
``tekton``; each answers only for ``PRE_CD`` and ``POST_CD`` requests. The
Devtron and Tekton readers are the adapter kit's (:mod:`wfaudit_hookspecs.adapters`),
shared with wfaudit-ci, so that CI and CD read a payload the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from wfaudit_hookspecs import TriggerRequest, WorkflowType, hookimpl
from wfaudit_hookspecs.adapters import (
    Adapter,
    DevtronFormat,
    TektonFormat,
    declare_formats,
    declare_reference_syntax,
    declare_workflow_types,
    new_run,
    pre_trigger,
)

from .argo import ArgoFormat

__all__ = [
    "ADAPTERS",
    "wfaudit_new_run",
    "wfaudit_payload_formats",
    "wfaudit_pre_trigger",
    "wfaudit_reference_syntax",
    "wfaudit_workflow_types",
]

CD_TYPES = (WorkflowType.PRE_CD, WorkflowType.POST_CD)

ADAPTERS: tuple[Adapter, ...] = (
    Adapter(DevtronFormat(), CD_TYPES),
    Adapter(ArgoFormat(), CD_TYPES),
    Adapter(TektonFormat(), CD_TYPES),
)


@hookimpl
def wfaudit_workflow_types(register: Callable[[str, str], None]) -> None:
    """Declare ``PRE_CD`` and ``POST_CD`` (the engine declares them too, from the
    same contract table)."""
    declare_workflow_types(ADAPTERS, register)


@hookimpl
def wfaudit_payload_formats(register: Callable[..., None]) -> None:
    """Declare ``devtron``, ``argo`` and ``tekton`` for ``PRE_CD`` and ``POST_CD``,
    with their diff shapes."""
    declare_formats(ADAPTERS, register)


@hookimpl
def wfaudit_pre_trigger(request: TriggerRequest) -> TriggerRequest | None:
    """Recognise a deployment-stage payload and fill the request's identity and references."""
    return pre_trigger(ADAPTERS, request)


@hookimpl
def wfaudit_reference_syntax(register: Callable[[str, str], None]) -> None:
    """Declare the reference syntax of these formats: never masked."""
    declare_reference_syntax(ADAPTERS, register)


@hookimpl
def wfaudit_new_run(request: TriggerRequest) -> TriggerRequest | None:
    """Write a retrigger's new identities into a payload of these formats (Devtron's)."""
    return new_run(ADAPTERS, request)
