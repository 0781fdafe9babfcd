"""JSON pointers (RFC 6901) and the path tuples maskers and diffs work with.

A *path* is a tuple of object keys (``str``) and list indices (``int``); its
pointer form is the RFC 6901 string (``/steps/0/env/DB_PASSWORD``) stored in
manifests and shown to people.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import InvalidRequest

__all__ = ["Path", "get_at", "iter_nodes", "parse_pointer", "set_at", "to_pointer"]

Path = tuple[str | int, ...]


def _escape(token: str | int) -> str:
    text = str(token)
    if "~" in text or "/" in text:
        text = text.replace("~", "~0").replace("/", "~1")
    return text


def to_pointer(path: Path) -> str:
    """Return the RFC 6901 pointer of ``path`` (``""`` for the whole document)."""
    return "".join("/" + _escape(token) for token in path)


def parse_pointer(pointer: str, document: Any = None) -> Path:
    """Parse an RFC 6901 pointer into a path.

    With ``document``, tokens that address a list element become ``int``; without
    it, every token stays a ``str``.
    """
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise InvalidRequest(f"JSON pointer {pointer!r} must start with '/'")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
    if document is None:
        return tuple(tokens)
    path: list[str | int] = []
    node = document
    for token in tokens:
        if isinstance(node, list):
            if not token.isdigit():
                raise InvalidRequest(f"JSON pointer {pointer!r}: {token!r} is not a list index")
            index = int(token)
            path.append(index)
            node = node[index] if index < len(node) else None
        else:
            path.append(token)
            node = node.get(token) if isinstance(node, dict) else None
    return tuple(path)


def get_at(document: Any, path: Path) -> Any:
    """Return the node at ``path``; ``KeyError``/``IndexError`` if it is missing."""
    node = document
    for token in path:
        node = node[token]
    return node


def set_at(document: Any, path: Path, value: Any) -> None:
    """Replace the node at ``path`` (which must exist and not be the root)."""
    if not path:
        raise InvalidRequest("cannot replace the whole document at path ''")
    parent = get_at(document, path[:-1])
    parent[path[-1]] = value


def iter_nodes(document: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Yield ``(path, value)`` for every node below ``document``, parents first."""
    stack: list[tuple[Path, Any]] = [(path, document)]
    while stack:
        node_path, node = stack.pop()
        yield node_path, node
        if isinstance(node, dict):
            stack.extend(((*node_path, k), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(((*node_path, i), v) for i, v in reversed(list(enumerate(node))))
