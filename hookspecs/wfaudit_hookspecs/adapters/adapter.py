"""What every adapter shares: payload formats, their workflow types, and the dispatch.

A :class:`PayloadFormat` knows one orchestrator's payload: a cheap
:meth:`~PayloadFormat.recognise` check (the sniffing rule) and a
:meth:`~PayloadFormat.read` that turns a recognised payload into :class:`Facts`.
An :class:`Adapter` binds a format to the workflow types it answers for, so the
same format (Devtron, Tekton) can serve the CI plugin and the CD plugin with
different types. :func:`pre_trigger` is the body of both plugins'
``wfaudit_pre_trigger``; :class:`AdapterPlugin` implements every hook of an
adapter plugin over its adapters.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from wfaudit_hookspecs._markers import hookimpl
from wfaudit_hookspecs.errors import AmbiguousPayload
from wfaudit_hookspecs.model import (
    WORKFLOW_TYPE_DESCRIPTIONS,
    SecretReference,
    TriggerKind,
    TriggerRequest,
)
from wfaudit_hookspecs.shapes import DiffShape

from .identity import apply_facts

__all__ = [
    "Adapter",
    "AdapterPlugin",
    "Facts",
    "PayloadFormat",
    "declare_formats",
    "declare_reference_syntax",
    "declare_workflow_types",
    "new_run",
    "pre_trigger",
]


@attrs.frozen(kw_only=True)
class Facts:
    """What a payload says about its own trigger; None where it says nothing.

    :ivar workflow_id: the run's id, used when the caller passed the placeholder.
    :ivar pipeline_id: the pipeline's id, likewise.
    :ivar triggered_by: who triggered the run, used when the caller gave nobody.
    :ivar trigger_kind: what started the run, used when the caller left ``manual``.
    :ivar attempt: the run's attempt number, used when the caller left 1.
    :ivar labels: labels to add; the caller's labels win on the same key.
    :ivar references: secret references, with JSON pointers into the config.
    """

    workflow_id: str | None = None
    pipeline_id: str | None = None
    triggered_by: str | None = None
    trigger_kind: TriggerKind | None = None
    attempt: int | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict)
    references: tuple[SecretReference, ...] = ()


class PayloadFormat(abc.ABC):
    """One orchestrator's payload format.

    Subclasses set :attr:`name` (the ``format`` recorded in the manifest and
    accepted by ``--format``), :attr:`description`, and
    :attr:`workflow_id_source` and :attr:`pipeline_id_source` (where the payload
    keeps the run's identity, named in the error when it does not).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    workflow_id_source: ClassVar[str]
    pipeline_id_source: ClassVar[str]
    reference_syntax: ClassVar[tuple[tuple[str, str], ...]] = ()
    """``(kind, regex)`` of each way the format refers to a secret or a value
    resolved at run time (``$(params.token)``); declared through
    ``wfaudit_reference_syntax``, so that no masker masks one."""
    shape: ClassVar[DiffShape | None] = None
    """Where the format keeps its nodes (jobs, steps, tasks), for the diff's
    summary; declared with the format through ``wfaudit_payload_formats``. None:
    the summary finds nodes by generic rules."""

    @abc.abstractmethod
    def recognise(self, config: Any) -> bool:
        """True when ``config`` is in this format (cheap: a few key lookups)."""

    @abc.abstractmethod
    def read(self, config: Any, workflow_type: str) -> Facts:
        """The facts of a recognised payload, for a trigger of ``workflow_type``.

        Never modifies ``config``. Raises
        :class:`~wfaudit_hookspecs.InvalidRequest` when the payload contradicts
        the workflow type (a Devtron post-CD request audited as CI).
        """

    def new_run(
        self, config: Any, workflow_type: str, workflow_id: str
    ) -> tuple[Any, str | None] | None:
        """A retrigger's config for its new run ``workflow_id``, and who triggers it.

        Formats whose payload carries the run's identity (Devtron's
        ``workflowId``) return ``(new config, triggered_by)``: a new object, never
        ``config`` modified. The default, None, keeps the config as it is.
        """
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


@attrs.frozen
class Adapter:
    """A payload format, answering for the given workflow types only."""

    format: PayloadFormat
    workflow_types: tuple[str, ...]

    def considers(self, request: TriggerRequest) -> bool:
        """The request is of one of our types, and no other format was forced."""
        return request.workflow_type in self.workflow_types and request.format in (
            None,
            self.format.name,
        )


def declare_workflow_types(
    adapters: Sequence[Adapter], register: Callable[[str, str], None]
) -> None:
    """Register the workflow types the adapters answer for (each once), with the
    contract's description of a standard type (:data:`WORKFLOW_TYPE_DESCRIPTIONS`)."""
    for name in dict.fromkeys(t for adapter in adapters for t in adapter.workflow_types):
        register(name, WORKFLOW_TYPE_DESCRIPTIONS.get(name, ""))


def declare_formats(adapters: Sequence[Adapter], register: Callable[..., None]) -> None:
    """Register each adapter's format with the workflow types it answers for, and
    its diff shape (when it has one)."""
    for adapter in adapters:
        payload_format = adapter.format
        if payload_format.shape is None:
            register(payload_format.name, adapter.workflow_types, payload_format.description)
        else:
            register(
                payload_format.name,
                adapter.workflow_types,
                payload_format.description,
                shape=payload_format.shape,
            )


def declare_reference_syntax(
    adapters: Sequence[Adapter], register: Callable[[str, str], None]
) -> None:
    """Register the reference syntax of each adapter's format (each once)."""
    seen: set[tuple[str, str]] = set()
    for adapter in adapters:
        for kind, regex in adapter.format.reference_syntax:
            if (kind, regex) not in seen:
                seen.add((kind, regex))
                register(kind, regex)


def pre_trigger(adapters: Sequence[Adapter], request: TriggerRequest) -> TriggerRequest | None:
    """The request with the facts of its payload, or None when no format here applies.

    Several of one plugin's formats claiming a payload is the same error the
    engine gives for several plugins: :class:`AmbiguousPayload`, naming them.
    """
    claims = [
        adapter
        for adapter in adapters
        if adapter.considers(request) and adapter.format.recognise(request.config)
    ]
    if len(claims) > 1:
        names = ", ".join(sorted(adapter.format.name for adapter in claims))
        raise AmbiguousPayload(
            f"several adapters claim this payload ({names}); choose one with --format "
            "(format= in the Python API)"
        )
    if not claims:
        return None
    payload_format = claims[0].format
    facts = payload_format.read(request.config, request.workflow_type)
    return apply_facts(request, facts, payload_format)


def new_run(adapters: Sequence[Adapter], request: TriggerRequest) -> TriggerRequest | None:
    """A retrigger's request with the new run's identities in its payload (the body of
    the plugins' ``wfaudit_new_run``), or None when no format here owns the request."""
    for adapter in adapters:
        if adapter.format.name != request.format or request.workflow_type not in (
            adapter.workflow_types
        ):
            continue
        answer = adapter.format.new_run(request.config, request.workflow_type, request.workflow_id)
        if answer is None:
            return None
        config, triggered_by = answer
        return attrs.evolve(
            request, config=config, triggered_by=triggered_by or request.triggered_by
        )
    return None


class AdapterPlugin:
    """The hooks of an adapter plugin, implemented once over its :class:`Adapter` s.

    Declaring the workflow types, the formats (with their diff shapes) and the
    reference syntax; recognising a payload (``wfaudit_pre_trigger``); writing
    a retrigger's new identities (``wfaudit_new_run``). Register an instance, or
    bind its methods as the hooks of an entry point module
    (``wfaudit_pre_trigger = PLUGIN.wfaudit_pre_trigger``): a hook marker is
    seen through a bound method.
    """

    HOOKS: ClassVar[tuple[str, ...]] = (
        "wfaudit_new_run",
        "wfaudit_payload_formats",
        "wfaudit_pre_trigger",
        "wfaudit_reference_syntax",
        "wfaudit_workflow_types",
    )
    """The hooks an instance implements."""

    def __init__(self, adapters: Sequence[Adapter]) -> None:
        self.adapters = tuple(adapters)

    def __repr__(self) -> str:
        formats = ", ".join(adapter.format.name for adapter in self.adapters)
        return f"<AdapterPlugin {formats}>"

    @hookimpl
    def wfaudit_workflow_types(self, register: Callable[[str, str], None]) -> None:
        """Declare the workflow types the adapters answer for."""
        declare_workflow_types(self.adapters, register)

    @hookimpl
    def wfaudit_payload_formats(self, register: Callable[..., None]) -> None:
        """Declare the adapters' formats, with their workflow types and diff shapes."""
        declare_formats(self.adapters, register)

    @hookimpl
    def wfaudit_pre_trigger(self, request: TriggerRequest) -> TriggerRequest | None:
        """Recognise a payload of these formats and fill the request's identity,
        labels and references."""
        return pre_trigger(self.adapters, request)

    @hookimpl
    def wfaudit_reference_syntax(self, register: Callable[[str, str], None]) -> None:
        """Declare the reference syntax of these formats: never masked."""
        declare_reference_syntax(self.adapters, register)

    @hookimpl
    def wfaudit_new_run(self, request: TriggerRequest) -> TriggerRequest | None:
        """Write a retrigger's new identities into a payload of these formats."""
        return new_run(self.adapters, request)
