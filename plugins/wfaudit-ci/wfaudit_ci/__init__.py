"""wfaudit's CI adapters, and the payload readers the CD adapters share.

The ``ci`` entry point is :mod:`wfaudit_ci.plugin`. The other modules are a
small library for adapters: :mod:`~wfaudit_ci.adapter` (formats and the
dispatch), :mod:`~wfaudit_ci.identity` (the identity rule),
:mod:`~wfaudit_ci.kubernetes` (manifests and their secret references), and the
readers :mod:`~wfaudit_ci.devtron`, :mod:`~wfaudit_ci.github` and
:mod:`~wfaudit_ci.tekton`. It depends on ``wfaudit-hookspecs`` only.
"""

from __future__ import annotations

from .adapter import Adapter, Facts, PayloadFormat, declare_formats, pre_trigger
from .devtron import DevtronFormat
from .github import GITHUB_SECRET, GitHubActionsFormat
from .identity import FROM_PAYLOAD, apply_facts
from .kubernetes import K8S_SECRET, secret_references
from .tekton import TektonFormat

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
