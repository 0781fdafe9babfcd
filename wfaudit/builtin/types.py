"""Declares the standard workflow types: CI, pre-deployment and post-deployment."""

from __future__ import annotations

from collections.abc import Callable

from wfaudit_hookspecs import WorkflowType, hookimpl


@hookimpl
def wfaudit_workflow_types(register: Callable[[str, str], None]) -> None:
    register(WorkflowType.CI, "continuous integration build")
    register(WorkflowType.PRE_CD, "pre-deployment job")
    register(WorkflowType.POST_CD, "post-deployment job")
