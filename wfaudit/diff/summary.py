"""The diff's summary: what changed, in the words of a workflow.

:func:`summarize` says what changed in the words of a workflow: nodes (jobs,
steps, tasks, templates) added, removed, modified or moved, and whether
dependencies, variables, images, the commit, secrets or other settings changed.
Where the snapshots' payload format declared a diff shape
(:class:`~wfaudit_hookspecs.DiffShape`, with the format in
``wfaudit_payload_formats``; the manifest's ``adapter`` names the format), nodes
are found where that format keeps them (a GitHub job is a key of ``jobs``);
otherwise by generic rules (an element of a list named ``steps``, ``tasks``...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from wfaudit_hookspecs import DiffShape, Manifest
from wfaudit_hookspecs.shapes import GENERIC_CONNECTIONS, Pattern

from .model import Change, DiffSummary, NodeChanges

__all__ = ["shape_for", "shape_of", "summarize"]

_STEP_LISTS = {
    "steps", "tasks", "jobs", "templates", "nodes", "stages", "finally",
    "prepostdeploysteps", "precisteps", "postcisteps",
}  # fmt: skip
_CONNECTIONS = GENERIC_CONNECTIONS
_VARIABLES = {
    "env", "vars", "variables", "parameters", "params", "arguments", "inputs", "with",
    "inputvars", "outputvars", "runtimeenvironmentvariables", "envfrom",
}  # fmt: skip
_IMAGE_TAGS = {"imagetag", "dockerimagetag", "tag"}
_COMMIT = re.compile(r"^(commit(hash|sha|id)?|sha|revision|gitcommit|ref)$")


def shape_of(old: Manifest | None, new: Manifest | None) -> str | None:
    """The payload format both snapshots were read as (their manifests'
    ``adapter``), or None when they differ or neither names one."""
    first = old.adapter if old is not None else None
    second = new.adapter if new is not None else None
    return second if first == second else None


def shape_for(
    shapes: Mapping[str, DiffShape] | None, old: Manifest | None, new: Manifest | None
) -> DiffShape | None:
    """The diff shape of the payload format both snapshots were read as
    (:func:`shape_of`), among ``shapes`` (what the adapters declared, by format
    name: ``PluginManager.diff_shapes``), or None."""
    name = shape_of(old, new)
    return None if name is None or not shapes else shapes.get(name)


def _normal(token: str) -> str:
    return token.lower().replace("_", "").replace("-", "")


def _fits(pattern: Pattern, tokens: Sequence[str]) -> bool:
    """True when ``tokens`` start like ``pattern`` (as far as either goes)."""
    size = min(len(pattern), len(tokens))
    return all(
        want == token or want == "*" or (want == "#" and token.isdigit())
        for want, token in zip(pattern[:size], tokens[:size], strict=True)
    )


def _document(shape: DiffShape, tokens: Sequence[str]) -> int:
    """How many tokens name the Kubernetes object a path is in (``/0``, ``/items/0``)."""
    if not shape.documents or not tokens:
        return 0
    if tokens[0].isdigit():
        return 1
    return 2 if tokens[0] == "items" and len(tokens) > 1 and tokens[1].isdigit() else 0


def _node_at(shape: DiffShape | None, tokens: Sequence[str]) -> tuple[str, int] | None:
    """The kind of the node holding the path (or at it), and the length of the
    node's pointer in tokens: the innermost node of a shape, the outermost
    element of a step list by the generic rules."""
    if shape is None:
        step = next(
            (i for i, t in enumerate(tokens[:-1]) if t in _STEP_LISTS and tokens[i + 1].isdigit()),
            None,
        )
        return None if step is None else ("step", step + 2)
    skip = _document(shape, tokens)
    inside = tokens[skip:]
    found = [
        (len(pattern), kind)
        for kind, pattern in shape.nodes
        if len(pattern) <= len(inside) and _fits(pattern, inside)
    ]
    if not found:
        return None
    size, kind = max(found, key=lambda item: item[0])
    return kind, skip + size


def _nodes_below(shape: DiffShape, tokens: Sequence[str], value: Any) -> dict[str, int]:
    """The nodes inside a value added or removed at a path above them (a
    ``jobs`` mapping, a Kubernetes object, an Argo group of parallel steps):
    the outermost ones, counted by kind."""
    inside = tokens[_document(shape, tokens) :]
    found: list[tuple[tuple[str, ...], str]] = []
    for kind, pattern in shape.nodes:
        if len(pattern) > len(inside) and _fits(pattern, inside):
            found += [(at, kind) for at in _find(value, pattern[len(inside) :], ())]
    counts: dict[str, int] = {}
    kept: list[tuple[str, ...]] = []
    for at, kind in sorted(found, key=lambda item: len(item[0])):
        if any(at[: len(outer)] == outer for outer in kept):
            continue  # inside a node already counted
        kept.append(at)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _find(value: Any, pattern: Pattern, at: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The places in ``value`` that ``pattern`` names."""
    if not pattern:
        yield at
        return
    want, rest = pattern[0], pattern[1:]
    if type(value) is dict and want != "#":
        for key, child in value.items():
            if want in ("*", _normal(str(key))):
                yield from _find(child, rest, (*at, str(key)))
    elif type(value) is list and want == "#":
        for index, child in enumerate(value):
            yield from _find(child, rest, (*at, str(index)))


def summarize(changes: Sequence[Change], shape: DiffShape | None = None) -> DiffSummary:
    """Classify changes by the names on their paths.

    :param shape: the diff shape of the payload format of both snapshots
        (:func:`shape_for`): nodes are found where that format keeps them;
        None: by the generic rules.
    """
    connections = shape.connections if shape is not None else _CONNECTIONS
    kinds = shape.kinds if shape is not None else ["step"]
    counts = {kind: {"added": 0, "removed": 0, "moved": 0} for kind in kinds}
    modified: dict[str, set[tuple[str, ...]]] = {kind: set() for kind in kinds}
    flags = dict.fromkeys(
        ("connections", "variables", "images", "commit", "secrets", "settings"), False
    )
    for change in changes:
        raw = change.path.split("/")[1:]
        tokens = [_normal(t) for t in raw]
        if change.secret is not None:
            flags["secrets"] = True
        node = _node_at(shape, tokens)
        exact = node is not None and node[1] == len(tokens)
        if node is not None and exact and change.op in counts[node[0]]:
            counts[node[0]][change.op] += 1
            continue
        if not exact and shape is not None and change.op in ("added", "removed"):
            # A value above nodes (a jobs mapping, an object, a job's steps list):
            # the nodes in it were added or removed.
            below = _nodes_below(shape, tokens, change.new if change.op == "added" else change.old)
            for kind, count in below.items():
                counts[kind][change.op] += count
            if below:
                continue
        if node is not None:
            modified[node[0]].add(tuple(raw[: node[1]]))
        if any(t in connections for t in tokens):
            flags["connections"] = True
        elif any(t in _VARIABLES for t in tokens):
            flags["variables"] = True
        elif tokens and (tokens[-1].endswith("image") or tokens[-1] in _IMAGE_TAGS):
            flags["images"] = True
        elif tokens and _COMMIT.match(tokens[-1]):
            flags["commit"] = True
        elif node is None and change.secret is None:
            flags["settings"] = True
    nodes = tuple(
        NodeChanges(kind=kind, modified=len(modified[kind]), **counts[kind]) for kind in kinds
    )
    return DiffSummary(
        steps_added=sum(n.added for n in nodes),
        steps_removed=sum(n.removed for n in nodes),
        steps_modified=sum(n.modified for n in nodes),
        steps_moved=sum(n.moved for n in nodes),
        connections_changed=flags["connections"],
        variables_changed=flags["variables"],
        images_changed=flags["images"],
        commit_changed=flags["commit"],
        secrets_changed=flags["secrets"],
        settings_changed=flags["settings"],
        nodes=tuple(n for n in nodes if n.added or n.removed or n.modified or n.moved),
    )
