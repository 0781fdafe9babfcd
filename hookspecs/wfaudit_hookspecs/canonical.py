"""Canonical JSON and the content hash.

The content hash of a snapshot is the SHA-256 of the canonical JSON of its
*masked* config. For the hash to be stable across processes, machines and
Python versions, the serialisation is fixed:

* objects have their keys sorted by Unicode code point; keys must be strings;
* no insignificant whitespace: ``,`` and ``:`` separators only;
* strings are written as UTF-8, not ``\\u`` escaped, except the characters JSON
  requires to be escaped (``"``, ``\\``, and U+0000..U+001F, written as ``\\n``,
  ``\\t``, ... or ``\\u00XX``); lone surrogates are rejected;
* integers are written in full, in decimal, whatever their size;
* floats are written as their shortest round-trip decimal (the repr of an IEEE 754
  double, e.g. ``0.1``, ``1e+16``, ``-0.0``, ``1.5e-07``); an integral float stays a
  float (``1.0``); NaN and infinities are rejected;
* ``true``, ``false`` and ``null`` as in JSON.

:func:`check_json` validates that a value is JSON data of this kind and returns a
deep copy of it; :func:`canonical_json` serialises; :func:`content_hash` hashes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import InvalidRequest

__all__ = ["JSONValue", "canonical_json", "check_json", "content_hash"]

JSONValue = Any
"""JSON data: dict with str keys, list, str, int, float, bool or None, nested."""

_encoder = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)


def canonical_json(value: JSONValue) -> bytes:
    """Return the canonical JSON encoding of ``value`` as UTF-8 bytes.

    ``value`` must be JSON data (see :func:`check_json`); a value that is not
    raises :class:`~wfaudit_hookspecs.errors.InvalidRequest`.
    """
    try:
        return _encoder.encode(value).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        # The message of these errors may quote the data; re-validate to name the path.
        check_json(value)
        raise InvalidRequest(f"config is not canonical JSON data ({type(exc).__name__})") from None


def content_hash(canonical: bytes) -> str:
    """SHA-256 of canonical JSON bytes, as 64 lower-case hex digits."""
    return hashlib.sha256(canonical).hexdigest()


def check_json(value: JSONValue) -> JSONValue:
    """Validate that ``value`` is JSON data and return a deep copy of it.

    Tuples are copied as lists. Raises :class:`InvalidRequest` naming the JSON
    pointer of the first offending node, never its value.
    """
    try:
        return _copy(value)
    except _Bad as bad:
        where = _where(value, tuple(reversed(bad.path)))
        raise InvalidRequest(
            f"config {bad.what} at {where} {bad.problem} (object keys are given by "
            "position, @0 for the first: a key may be a secret)"
        ) from None


def _where(document: Any, path: tuple[str | int, ...]) -> str:
    # The path without quoting the request: an object key may be a secret
    # ({"https://user:pw@host/repo.git": ...}), so each is named by its position.
    out: list[str] = []
    node = document
    for token in path:
        if isinstance(node, dict):
            out.append(f"@{next((n for n, k in enumerate(node) if k == token), '?')}")
            node = node.get(token)
        else:
            out.append(str(token))
            fits = isinstance(node, list | tuple) and isinstance(token, int)
            node = node[token] if fits else None
    return "/" + "/".join(out) if out else "/"


class _Bad(Exception):
    """Raised at a bad node; each level adds its key while the error unwinds, so
    that the path is only built when something is wrong (this runs on every audit)."""

    def __init__(self, what: str, problem: str) -> None:
        self.what = what
        self.problem = problem
        self.path: list[str | int] = []


_FLOAT_LIMITS = (float("inf"), float("-inf"))


def _scalar(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        if not value.isascii() and _has_lone_surrogate(value):
            raise _Bad("string", "is not valid Unicode")
        return value
    if kind is float:
        if value != value or value in _FLOAT_LIMITS:
            raise _Bad("number", "is not finite")
        return value
    if kind is int or kind is bool or value is None:
        return value
    raise _Bad("value", f"is a {kind.__name__}, not JSON data")


def _copy(value: Any) -> Any:
    # Exact type checks are deliberate: they are fast, and they keep subclasses
    # (enums, custom str types) from reaching the serialiser with surprising reprs.
    kind = type(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                bad = _Bad("key", f"is a {type(key).__name__}, not a string")
                raise bad
            item_kind = type(item)
            try:
                if item_kind is str and item.isascii():
                    out[key] = item
                elif item_kind is dict or item_kind is list or item_kind is tuple:
                    out[key] = _copy(item)
                else:
                    out[key] = _scalar(item)
            except _Bad as bad:
                bad.path.append(key)
                raise
        return out
    if kind is list or kind is tuple:
        items = []
        for index, item in enumerate(value):
            item_kind = type(item)
            try:
                if item_kind is str and item.isascii():
                    items.append(item)
                elif item_kind is dict or item_kind is list or item_kind is tuple:
                    items.append(_copy(item))
                else:
                    items.append(_scalar(item))
            except _Bad as bad:
                bad.path.append(index)
                raise
        return items
    return _scalar(value)


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
