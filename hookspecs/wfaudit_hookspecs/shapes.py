"""Diff shapes: where a payload format keeps its nodes, for the diff's summary.

An adapter declares its format's shape with the format itself
(``register(name, workflow_types, description, shape=...)`` in
``wfaudit_payload_formats``); the engine's summary then counts that format's own
nodes (a GitHub job, an Argo template) instead of guessing them by generic rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = ["GENERIC_CONNECTIONS", "DiffShape", "Pattern", "shape_nodes"]

Pattern = tuple[str, ...]
"""A node's pointer as tokens (see :class:`DiffShape`)."""

GENERIC_CONNECTIONS = frozenset(
    {"dependencies", "depends", "needs", "runafter", "when", "targets", "next"}
)
"""The keys (as tokens) the generic rules take for dependencies between nodes."""


@attrs.frozen(kw_only=True)
class DiffShape:
    """Where one payload format keeps its nodes, and what connects them.

    :ivar nodes: ``(kind, pattern)`` pairs, outer kinds first. A pattern is a
        node's pointer as tokens, lower-cased, without ``-`` and ``_``
        (``pipelineSpec`` is ``pipelinespec``): ``*`` stands for any key of a
        mapping, ``#`` for any index of a list.
    :ivar connections: keys (as tokens) whose change is a change of the
        dependencies between nodes.
    :ivar documents: payloads are Kubernetes objects: one object, a list of
        them (``/0/...``) or a ``v1`` ``List`` (``/items/0/...``); the patterns
        apply within each object.
    """

    nodes: tuple[tuple[str, Pattern], ...]
    connections: frozenset[str] = GENERIC_CONNECTIONS
    documents: bool = False

    @property
    def kinds(self) -> list[str]:
        """The kinds of node, outer ones first."""
        return list(dict.fromkeys(kind for kind, _ in self.nodes))


def shape_nodes(
    kinds: Sequence[tuple[str, Sequence[Pattern]]], bases: Sequence[Pattern] = ((),)
) -> tuple[tuple[str, Pattern], ...]:
    """Each kind's patterns under each base: the ``nodes`` of a :class:`DiffShape`."""
    return tuple((kind, base + tail) for base in bases for kind, tails in kinds for tail in tails)
