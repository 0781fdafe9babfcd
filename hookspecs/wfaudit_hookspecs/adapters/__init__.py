"""The adapter kit: what every payload adapter builds on, whichever distribution ships it.

A :class:`PayloadFormat` knows one orchestrator's payload (a cheap
``recognise``, a ``read`` into :class:`Facts`, its diff ``shape``); an
:class:`Adapter` binds it to the workflow types it answers for, and
:class:`AdapterPlugin` implements an adapter plugin's hooks over its adapters
(with :func:`pre_trigger`, :func:`declare_formats`, :func:`declare_workflow_types`,
:func:`declare_reference_syntax` and :func:`new_run`).
:mod:`~wfaudit_hookspecs.adapters.identity` is the identity rule,
:mod:`~wfaudit_hookspecs.adapters.kubernetes` the Kubernetes manifests and their
secret references (:class:`KubernetesFormat`), and
:class:`DevtronFormat` and :class:`TektonFormat` the readers both the CI
(``wfaudit-ci``) and the deployment (``wfaudit-cd``) adapters serve, so that a
payload reads the same way in either. It is part of the contract so that an
adapter distribution depends on ``wfaudit-hookspecs`` alone, never on another
adapter.
"""

from __future__ import annotations

from .adapter import (
    Adapter,
    AdapterPlugin,
    Facts,
    PayloadFormat,
    declare_formats,
    declare_reference_syntax,
    declare_workflow_types,
    new_run,
    pre_trigger,
)
from .devtron import DevtronFormat
from .identity import FROM_PAYLOAD, apply_facts, identity_value, label_value, positive_int
from .kubernetes import K8S_SECRET, KubernetesFormat, secret_references
from .tekton import TektonFormat

__all__ = [
    "FROM_PAYLOAD",
    "K8S_SECRET",
    "Adapter",
    "AdapterPlugin",
    "DevtronFormat",
    "Facts",
    "KubernetesFormat",
    "PayloadFormat",
    "TektonFormat",
    "apply_facts",
    "declare_formats",
    "declare_reference_syntax",
    "declare_workflow_types",
    "identity_value",
    "label_value",
    "new_run",
    "positive_int",
    "pre_trigger",
    "secret_references",
]
