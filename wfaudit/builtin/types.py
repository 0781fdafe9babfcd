"""Declares the standard workflow types: CI, pre-deployment and post-deployment.

Their names and descriptions are the contract's
(:data:`wfaudit_hookspecs.WORKFLOW_TYPE_DESCRIPTIONS`), the one declaration the
adapters register too.
"""

from __future__ import annotations

from collections.abc import Callable

from wfaudit_hookspecs import WORKFLOW_TYPE_DESCRIPTIONS, hookimpl


@hookimpl
def wfaudit_workflow_types(register: Callable[[str, str], None]) -> None:
    for name, description in WORKFLOW_TYPE_DESCRIPTIONS.items():
        register(name, description)
