"""The ``ci`` entry point: the CI adapters (workflow type ``CI``).

Formats: ``devtron`` (CI requests, no ``stageType``), ``github-actions`` and
``tekton`` (a ``PipelineRun`` or ``TaskRun`` building the code). Each answers
only for ``CI`` requests; the ``wfaudit-cd`` plugin answers for the deployment
stages with the same Devtron and Tekton readers.
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

from .github import GitHubActionsFormat

__all__ = [
    "ADAPTERS",
    "wfaudit_new_run",
    "wfaudit_payload_formats",
    "wfaudit_pre_trigger",
    "wfaudit_reference_syntax",
    "wfaudit_workflow_types",
]

ADAPTERS: tuple[Adapter, ...] = (
    Adapter(DevtronFormat(), (WorkflowType.CI,)),
    Adapter(GitHubActionsFormat(), (WorkflowType.CI,)),
    Adapter(TektonFormat(), (WorkflowType.CI,)),
)


@hookimpl
def wfaudit_workflow_types(register: Callable[[str, str], None]) -> None:
    """Declare ``CI`` (the engine declares it too, from the same contract table)."""
    declare_workflow_types(ADAPTERS, register)


@hookimpl
def wfaudit_payload_formats(register: Callable[..., None]) -> None:
    """Declare ``devtron``, ``github-actions`` and ``tekton`` for ``CI``, with their
    diff shapes."""
    declare_formats(ADAPTERS, register)


@hookimpl
def wfaudit_pre_trigger(request: TriggerRequest) -> TriggerRequest | None:
    """Recognise a CI payload and fill the request's identity, labels and references."""
    return pre_trigger(ADAPTERS, request)


@hookimpl
def wfaudit_reference_syntax(register: Callable[[str, str], None]) -> None:
    """Declare the reference syntax of these formats: never masked."""
    declare_reference_syntax(ADAPTERS, register)


@hookimpl
def wfaudit_new_run(request: TriggerRequest) -> TriggerRequest | None:
    """Write a retrigger's new identities into a payload of these formats (Devtron's)."""
    return new_run(ADAPTERS, request)
