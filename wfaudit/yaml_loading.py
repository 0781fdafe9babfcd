"""YAML payloads (see :mod:`wfaudit.loading`), in a module of their own: PyYAML is
imported only when a payload is YAML, not for the JSON most orchestrators send."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from wfaudit_hookspecs import InvalidRequest

from .payload_limits import MAX_EXPANDED_BYTES, MAX_EXPANDED_NODES, _duplicate_message, _unreadable

__all__ = ["parse_yaml"]


def _checked_document(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """Refuse a document whose aliases expand beyond :data:`MAX_EXPANDED_NODES` nodes
    or :data:`MAX_EXPANDED_BYTES` bytes, or which gives a mapping key twice; then
    build it."""
    nodes, size = _expanded_size(node, MAX_EXPANDED_NODES, MAX_EXPANDED_BYTES)
    where = f"YAML document at line {node.start_mark.line + 1}"
    if nodes > MAX_EXPANDED_NODES:
        raise InvalidRequest(
            f"{where} expands to more than {MAX_EXPANDED_NODES:,} nodes through its aliases"
        )
    if size > MAX_EXPANDED_BYTES:
        raise InvalidRequest(
            f"{where} expands to more than {MAX_EXPANDED_BYTES:,} bytes of JSON through its aliases"
        )
    _refuse_duplicate_yaml_keys(loader, node)
    return yaml.constructor.BaseConstructor.construct_document(loader, node)


_RESOLVERS = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _loader(base: type[Any]) -> type[Any]:
    """``base`` without YAML 1.1's surprising implicit types, checked as
    :func:`_checked_document` says, its mappings built by :func:`_construct_mapping`."""
    loader: type[Any] = type(
        f"Wfaudit{base.__name__}", (base,), {"construct_document": _checked_document}
    )
    loader.yaml_implicit_resolvers = {first: list(r) for first, r in _RESOLVERS.items()}
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    return loader


def _key(loader: yaml.SafeLoader, key_node: yaml.Node) -> str:
    """A mapping key as the payload holds it: scalars become strings."""
    key = loader.construct_object(key_node, deep=True)
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return str(key)
    if not isinstance(key, str):
        raise InvalidRequest(
            f"YAML mapping key at line {key_node.start_mark.line + 1} is not a scalar"
        )
    return key


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        out[_key(loader, key_node)] = loader.construct_object(value_node, deep=True)
    return out


def _refuse_duplicate_yaml_keys(loader: yaml.SafeLoader, root: yaml.Node) -> None:
    """Refuse a mapping that gives a key twice, before any value is built.

    A key merged in with ``<<`` may be given again (that is what a merge is
    for); keys written in the mapping itself may not. Each node is looked at
    once, however many aliases reach it.
    """
    seen: set[int] = set()
    pending: list[tuple[yaml.Node, list[str]]] = [(root, [])]
    while pending:
        node, where = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            children = [(child, [*where, str(n)]) for n, child in enumerate(node.value)]
            pending.extend(reversed(children))  # in document order
        elif isinstance(node, yaml.MappingNode):
            first_at: dict[str, int] = {}
            values = [(value, [*where, f"@{n}"]) for n, (_, value) in enumerate(node.value)]
            pending.extend(reversed(values))
            for n, (key_node, _) in enumerate(node.value):
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue
                key = _key(loader, key_node)
                if key in first_at:
                    raise InvalidRequest(
                        _duplicate_message(where, first_at[key], n, key_node.start_mark.line + 1)
                    )
                first_at[key] = n


def _expanded_size(root: yaml.Node, max_nodes: int, max_bytes: int) -> tuple[int, int]:
    """How many nodes, and at most how many bytes of JSON, ``root`` stands for with
    every alias expanded, counting up to just past the limits. A node reached
    through several aliases is counted once per use but sized once (memoised),
    so a document of aliases is checked in linear time.
    """
    sizes: dict[int, tuple[int, int]] = {}
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_stack = (-1, -1)
    while pending:
        node, children_done = pending.pop()
        if not children_done and id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if not children_done:
            sizes[id(node)] = on_stack  # on the stack: a recursive alias is a cycle
            pending.append((node, True))
            pending.extend((child, False) for child in children if id(child) not in sizes)
            continue
        # A child still on the stack is an ancestor (a recursive alias): counted as 0.
        done = [sizes.get(id(child), on_stack) for child in children]
        count = 1 + sum(max(n, 0) for n, _ in done)
        if isinstance(node, yaml.ScalarNode):
            # Quoted and escaped as JSON would: never less than the canonical form.
            size = len(json.dumps(node.value, ensure_ascii=False).encode("utf-8"))
        else:
            # Brackets, and one separator (comma or colon) per child at most.
            size = 2 + len(children) + sum(max(b, 0) for _, b in done)
        sizes[id(node)] = (min(count, max_nodes + 1), min(size, max_bytes + 1))
    return sizes[id(root)]


_Loader = _loader(yaml.SafeLoader)
# libyaml's parser, when PyYAML was built with it, is several times faster on large
# workflow files; what a document means is decided by the same Python resolver and
# constructor either way. A document it refuses is parsed again by the Python
# parser, so that the error (its wording, its line) is the same with and without it.
_FastLoader = _loader(yaml.CSafeLoader) if hasattr(yaml, "CSafeLoader") else None


def parse_yaml(text: str, source: str) -> Any:
    if _FastLoader is not None:
        try:
            documents = _load(text, _FastLoader)
        except Exception:  # noqa: S110 - refused: the Python parser says why, below
            pass
        else:
            return _one_or_many(documents, source)
    try:
        documents = _load(text, _Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise InvalidRequest(f"{source}: invalid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"{source}: invalid YAML ({type(exc).__name__})") from None
    except InvalidRequest as exc:
        raise InvalidRequest(f"{source}: {exc}") from None
    except (RecursionError, ValueError) as exc:
        raise _unreadable(source, "YAML", exc) from None
    return _one_or_many(documents, source)


def _load(text: str, loader: type[Any]) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]


def _one_or_many(documents: list[Any], source: str) -> Any:
    if not documents:
        raise InvalidRequest(f"{source} holds no document")
    return documents[0] if len(documents) == 1 else documents
