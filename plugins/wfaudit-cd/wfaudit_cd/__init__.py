"""wfaudit's pre-CD and post-CD adapters: Devtron stage requests, Argo Workflows, Tekton.

The ``cd`` entry point is :mod:`wfaudit_cd.plugin`; :mod:`wfaudit_cd.argo`
reads Argo Workflows manifests. The Devtron and Tekton readers, the identity
rule and the Kubernetes reference scanner come from the adapter kit
(:mod:`wfaudit_hookspecs.adapters`), shared with ``wfaudit-ci``.
"""

from __future__ import annotations

from .argo import ArgoFormat

__version__ = "0.1.0"

__all__ = ["ArgoFormat"]
