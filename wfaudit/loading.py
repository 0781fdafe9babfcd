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
import sys
from typing import Any

from wfaudit_hookspecs import InvalidRequest

from .payload_limits import (
    MAX_EXPANDED_BYTES,
    MAX_EXPANDED_NODES,
    _duplicate_message,
    _unreadable,
)

__all__ = ["MAX_EXPANDED_BYTES", "MAX_EXPANDED_NODES", "load_payload", "parse_payload"]


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
    from .yaml_loading import parse_yaml  # PyYAML only for YAML: JSON payloads skip it

    return parse_yaml(text, source)
