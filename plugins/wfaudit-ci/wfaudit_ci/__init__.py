"""wfaudit's CI adapters: Devtron CI requests, GitHub Actions runs and Tekton runs.

The ``ci`` entry point is :mod:`wfaudit_ci.plugin`; :mod:`~wfaudit_ci.github`
reads GitHub Actions runs. The adapter kit (formats, the dispatch, the identity
rule, the Kubernetes reference scanner) and the Devtron and Tekton readers the
CD adapters share are the contract's :mod:`wfaudit_hookspecs.adapters`; the
modules ``wfaudit_ci.adapter``, ``.identity``, ``.kubernetes``, ``.devtron``
and ``.tekton`` are deprecated aliases of them. It depends on
``wfaudit-hookspecs`` only.
"""

from __future__ import annotations

from wfaudit_hookspecs.adapters import (
    FROM_PAYLOAD,
    K8S_SECRET,
    Adapter,
    DevtronFormat,
    Facts,
    PayloadFormat,
    TektonFormat,
    apply_facts,
    declare_formats,
    pre_trigger,
    secret_references,
)

from .github import GITHUB_SECRET, GitHubActionsFormat

__version__ = "0.1.0"

__all__ = [
    "FROM_PAYLOAD",
    "GITHUB_SECRET",
    "K8S_SECRET",
    "Adapter",
    "DevtronFormat",
    "Facts",
    "GitHubActionsFormat",
    "PayloadFormat",
    "TektonFormat",
    "apply_facts",
    "declare_formats",
    "pre_trigger",
    "secret_references",
]
