"""Reading workflow payloads from files: JSON, or YAML read as JSON data.

YAML is read with a schema close to YAML 1.2's core schema, because workflow
files are written for tools that read it that way: only ``true``/``false`` are
booleans (GitHub's ``on:`` stays the string ``"on"``), timestamps stay strings,
and scalar keys become strings. Error messages give the position, never the
offending text, since a payload may hold secrets.

The format is told by content as well as by name: text that starts with ``{``
or ``[`` is read as JSON, and, unless the file is named ``*.json``, as YAML
(flow style, ``{a: 1}``) when it is not JSON. A key given twice in one mapping
(object) is refused, in JSON and YAML alike, since one of the two values would
be silently lost: the message locates it by position (``/@1/@3``: the fourth
key, as written, of the object that is the second key of the document), never
by name, since a key may be a secret.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import yaml

from wfaudit_hookspecs import InvalidRequest
from wfaudit_hookspecs.canonical import MAX_INT_DIGITS

__all__ = ["MAX_EXPANDED_BYTES", "MAX_EXPANDED_NODES", "load_payload", "parse_payload"]

MAX_EXPANDED_NODES = 1_000_000
"""The most nodes a YAML document may have once its aliases are expanded.

Aliases let a few hundred bytes of YAML stand for billions of nodes (the
"billion laughs" document); the payload is refused before it is built. Real
workflow files are far below this: the largest file of the corpus has a few
thousand nodes.
"""

MAX_EXPANDED_BYTES = 16 * 1024 * 1024
"""The most bytes of JSON a YAML document may stand for once its aliases are expanded.

Counting nodes is not enough: an alias to a long string (or to a mapping full of
them) repeats its bytes at every use, so a 1 MiB file of a few thousand aliases
to large values would become hundreds of megabytes of snapshot. The size is an
upper bound of the document's canonical JSON, computed on the parsed nodes
before any value is built.
"""


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's surprising implicit types, refusing documents
    whose aliases expand beyond :data:`MAX_EXPANDED_NODES` nodes or
    :data:`MAX_EXPANDED_BYTES` bytes."""

    def construct_document(self, node: yaml.Node) -> Any:
        nodes, size = _expanded_size(node, MAX_EXPANDED_NODES, MAX_EXPANDED_BYTES)
        where = f"YAML document at line {node.start_mark.line + 1}"
        if nodes > MAX_EXPANDED_NODES:
            raise InvalidRequest(
                f"{where} expands to more than {MAX_EXPANDED_NODES:,} nodes through its aliases"
            )
        if size > MAX_EXPANDED_BYTES:
            raise InvalidRequest(
                f"{where} expands to more than {MAX_EXPANDED_BYTES:,} bytes of JSON "
                "through its aliases"
            )
        _refuse_duplicate_yaml_keys(self, node)
        return super().construct_document(node)


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


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


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        out[_key(loader, key_node)] = loader.construct_object(value_node, deep=True)
    return out


def _pointer(tokens: list[str]) -> str:
    return "/" + "/".join(tokens) if tokens else "the top level"


def _duplicate_message(where: list[str], first: int, again: int, line: int | None) -> str:
    at = f" (line {line})" if line is not None else ""
    return (
        f"duplicate key at {_pointer([*where, f'@{again}'])}{at}: the same key as "
        f"@{first} of that mapping; a key may be given once (one value would be lost)"
    )


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


class _Duplicate(dict[str, Any]):
    """An object of a JSON text that gives a key twice: where, by position."""

    first = 0
    again = 0


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    first_at: dict[str, int] = {}
    for n, (key, _) in enumerate(pairs):
        if key in first_at:
            duplicate = _Duplicate(out)
            duplicate.first, duplicate.again = first_at[key], n
            return duplicate
        first_at[key] = n
    raise AssertionError("unreachable: a shorter dict has a repeated key")


def _refuse_duplicate_json_keys(data: Any) -> None:
    """Raise for the first object (in document order) that gave a key twice."""
    pending: list[tuple[Any, list[str]]] = [(data, [])]
    while pending:
        node, where = pending.pop()
        if isinstance(node, _Duplicate):
            raise InvalidRequest(_duplicate_message(where, node.first, node.again, None))
        if isinstance(node, dict):
            children = [(value, [*where, f"@{n}"]) for n, value in enumerate(node.values())]
        elif isinstance(node, list):
            children = [(value, [*where, str(n)]) for n, value in enumerate(node)]
        else:
            continue
        pending.extend(reversed(children))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


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


def load_payload(path: str) -> Any:
    """Read a payload file (``-`` for standard input) as JSON data."""
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as handle:
                raw = handle.read()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_payload(raw, source="standard input" if path == "-" else path)


def parse_payload(raw: bytes, *, source: str = "payload") -> Any:
    """Parse JSON or YAML bytes. A YAML stream of several documents gives a list."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{source} is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise InvalidRequest(f"{source} is empty")
    name = source.lower()
    if text.lstrip()[:1] in ("{", "[") or name.endswith(".json"):
        try:
            data = json.loads(text, object_pairs_hook=_json_object)
        except json.JSONDecodeError as exc:
            json_error = InvalidRequest(
                f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            )
            if name.endswith(".json"):
                raise json_error from None
            # Flow-style YAML ({a: 1}) starts as JSON does: read it as YAML.
            try:
                return _parse_yaml(text, source)
            except InvalidRequest:
                if name.endswith((".yml", ".yaml")):
                    raise
                raise json_error from None
        except (RecursionError, ValueError) as exc:
            raise _unreadable(source, "JSON", exc) from None
        try:
            _refuse_duplicate_json_keys(data)
        except InvalidRequest as exc:
            raise InvalidRequest(f"{source}: {exc}") from None
        return data
    return _parse_yaml(text, source)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
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
    if not documents:
        raise InvalidRequest(f"{source} holds no document")
    return documents[0] if len(documents) == 1 else documents


def _unreadable(source: str, kind: str, error: Exception) -> InvalidRequest:
    """Data the parser gave up on: nested too deeply for it, or a number too long.

    The parser's own message may quote the data; this one does not.
    """
    if isinstance(error, RecursionError):
        return InvalidRequest(f"{source}: {kind} nested too deeply to read")
    return InvalidRequest(
        f"{source}: {kind} holds a number too long to read (integers have at most "
        f"{MAX_INT_DIGITS:,} digits)"
    )
