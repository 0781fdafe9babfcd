"""What the adapters' payload walks share: paths as links, and the leaf types.

The reference scanners run on every trigger over the whole payload, and almost
every node of it names nothing. So their walks do not build a path tuple per
node: a container is pushed with a :data:`Link` (its key and its parent's link,
a pair whatever the depth), and :func:`path_of` builds the path only for a node
that names a secret.
"""

from __future__ import annotations

from typing import Any

from wfaudit_hookspecs.pointer import Path

__all__ = ["LEAVES", "Link", "is_container", "link_of", "path_of"]

Link = tuple[str | int, "Link"] | None
"""A node's path as a chain: its key and its parent's link (None for the root)."""

LEAVES = frozenset({str, int, float, bool, type(None)})
"""The exact types of JSON leaves: a value of one of these is never descended into."""


def is_container(value: Any) -> bool:
    """Whether a walk descends into ``value``: dicts and lists, subclasses included
    (what :func:`wfaudit_hookspecs.pointer.iter_nodes` descends into)."""
    return isinstance(value, dict | list)


def link_of(path: Path) -> Link:
    """The link of ``path``."""
    link: Link = None
    for key in path:
        link = (key, link)
    return link


def path_of(link: Link) -> Path:
    """The path of ``link``."""
    keys: list[str | int] = []
    while link is not None:
        keys.append(link[0])
        link = link[1]
    keys.reverse()
    return tuple(keys)
