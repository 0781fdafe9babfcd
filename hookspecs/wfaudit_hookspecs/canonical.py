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
import threading
from typing import Any

from .errors import InvalidRequest, RequestTooLarge

__all__ = [
    "MAX_DEPTH_CEILING",
    "MAX_INT_DIGITS",
    "JSONValue",
    "canonical_json",
    "check_json",
    "checked_keys",
    "content_hash",
]

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


MAX_DEPTH_CEILING = 512
"""The deepest nesting :func:`check_json` ever accepts (``max_depth`` is capped to it):
deeper data cannot be walked or serialised reliably within Python's recursion limit."""

MAX_INT_DIGITS = 4300
"""The most decimal digits of an integer in JSON data: Python's default
``int_max_str_digits``, past which ``json`` can neither write nor read it back."""

_INT_FAST_BITS = 14_000  # fewer bits than this: at most 4,215 digits, under MAX_INT_DIGITS


def check_json(
    value: JSONValue, *, max_depth: int = MAX_DEPTH_CEILING, max_bytes: int | None = None
) -> JSONValue:
    """Validate that ``value`` is JSON data and return a deep copy of it.

    Tuples are copied as lists. Raises :class:`InvalidRequest` naming the JSON
    pointer of the first offending node, never its value.

    :param max_depth: the deepest nesting of objects and arrays accepted (capped
        to :data:`MAX_DEPTH_CEILING`); deeper data raises :class:`RequestTooLarge`.
    :param max_bytes: the largest canonical JSON encoding accepted, measured
        during the same pass (which stops at the first object or array that
        takes it over); None: no limit. Larger data raises :class:`RequestTooLarge`.
    """
    limit = min(max_depth, MAX_DEPTH_CEILING)
    walker = _Walker(limit, max_bytes)
    try:
        copied = walker.copy(value)
    except _Bad as bad:
        where = _where(value, tuple(reversed(bad.path)))
        message = f"config {bad.what} at {where} {bad.problem}"
        if bad.limit is not None:
            raise RequestTooLarge(message, limit=bad.limit[0], maximum=bad.limit[1]) from None
        raise InvalidRequest(
            f"{message} (object keys are given by position, @0 for the first: a key may "
            "be a secret)"
        ) from None
    except _TooBig:
        raise RequestTooLarge(
            f"config is larger than {max_bytes:,} bytes of canonical JSON "
            "(the limit max_request_bytes)",
            limit="max_request_bytes",
            maximum=int(max_bytes or 0),
        ) from None
    _last.checked = (copied, frozenset(walker.keys))
    return copied


_last = threading.local()
"""This thread's most recent :func:`check_json` copy and the key names in it."""


def checked_keys(value: JSONValue) -> frozenset[str] | None:
    """Every object key anywhere in ``value``, when ``value`` is the copy that
    :func:`check_json` returned last in this thread; None for anything else.

    A prefilter for a walk that only looks at some key names (the adapters'
    search for named Kubernetes secrets): with no such name in the set, the walk
    finds nothing and need not run. The set is taken when the copy is made, so
    it holds while the copy is not changed, which hooks are not allowed to do
    (the engine's copy is read-only until masking). Only the latest copy is
    remembered, one per thread, so nothing is kept alive for long.
    """
    last = getattr(_last, "checked", None)
    if last is None or last[0] is not value:
        return None
    keys: frozenset[str] = last[1]
    return keys


def _where(document: Any, path: tuple[str | int, ...], most: int = 8) -> str:
    """Where ``path`` is, without quoting the request: an object key may be a secret
    (``{"https://user:pw@host/repo.git": ...}``), so each is named by its position
    (``@2``: the third key); the middle of a long path (deep nesting) is elided."""
    tokens: list[str] = []
    node = document
    for token in path:
        if isinstance(node, dict):
            tokens.append(f"@{next((n for n, k in enumerate(node) if k == token), '?')}")
            node = node.get(token)
        else:
            tokens.append(str(token))
            if isinstance(node, list | tuple) and isinstance(token, int) and token < len(node):
                node = node[token]
            else:
                node = None
    if len(tokens) > 2 * most:
        elided = len(tokens) - 2 * most
        head, tail = "/".join(tokens[:most]), "/".join(tokens[-most:])
        return f"/{head}/...({elided} more).../{tail}"
    return "/" + "/".join(tokens) if tokens else "/"


class _Bad(Exception):
    """Raised at a bad node; each level adds its key while the error unwinds, so
    that the path is only built when something is wrong (this runs on every audit)."""

    def __init__(self, what: str, problem: str, limit: tuple[str, int] | None = None) -> None:
        self.what = what
        self.problem = problem
        self.limit = limit
        self.path: list[str | int] = []


class _TooBig(Exception):
    """The copy went over ``max_bytes``: no path to name, the whole is too large."""


_FLOAT_LIMITS = (float("inf"), float("-inf"))
_MOST_BYTES_PER_CHARACTER = 6  # a \u00XX escape; UTF-8 takes at most 4


class _Walker:
    """One checked copy, measuring the size of the canonical JSON as it goes.

    ``size`` counts what is cheap to count: the structure, numbers and
    constants exactly, and strings (keys included) as their length in
    characters plus their quotes. The canonical JSON is at least that long and
    at most six times as long (a character takes at most four bytes in UTF-8
    and an escape at most six). So a request whose ``size`` is over the limit
    is refused at once, one under a sixth of it is accepted, and only one in
    between is measured exactly, by serialising the copy. Real requests are
    far below the limit: there the measure costs one ``len`` per string.
    """

    __slots__ = ("keys", "max_bytes", "max_depth", "size")

    def __init__(self, max_depth: int, max_bytes: int | None) -> None:
        self.max_depth = max_depth
        self.max_bytes = max_bytes
        self.size = 0
        self.keys: set[str] = set()
        """Every key name met (see :func:`checked_keys`); a non-string key stops the copy."""

    def copy(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict or kind is list or kind is tuple:
            out = self._container(value, self.max_depth)
        else:
            out = self._scalar(value)
        limit = self.max_bytes
        if limit is None or self.size * _MOST_BYTES_PER_CHARACTER <= limit:
            return out
        if self.size > limit or len(canonical_json(out)) > limit:
            raise _TooBig
        return out

    def _container(self, value: Any, depth_left: int) -> Any:
        # One frame per level of nesting (the depth limit keeps it under Python's
        # recursion limit). Exact type checks are deliberate: they are fast, and
        # they keep subclasses (enums, custom str types) from reaching the
        # serialiser with surprising reprs.
        if depth_left <= 0:
            raise _Bad(
                "value",
                f"is nested more than {self.max_depth} levels deep (the limit max_request_depth)",
                ("max_request_depth", self.max_depth),
            )
        depth_left -= 1
        if type(value) is dict:
            out: Any = {}
            size = 1 if value else 2  # the braces; each member adds its comma
            self.keys.update(value)  # one C-level pass; checked for type just below
            for key, item in value.items():
                if type(key) is not str:
                    raise _Bad("key", f"is a {type(key).__name__}, not a string")
                item_kind = type(item)
                try:
                    if item_kind is str and item.isascii():
                        size += len(key) + len(item) + 6  # "key":"item",
                        out[key] = item
                    elif item_kind is dict or item_kind is list or item_kind is tuple:
                        size += len(key) + 4
                        out[key] = self._container(item, depth_left)
                    else:
                        size += len(key) + 4
                        out[key] = self._scalar(item)
                except _Bad as bad:
                    bad.path.append(key)
                    raise
        else:
            out = []
            size = 1 if value else 2  # the brackets; each item adds its comma
            for index, item in enumerate(value):
                item_kind = type(item)
                try:
                    if item_kind is str and item.isascii():
                        size += len(item) + 3
                        out.append(item)
                    elif item_kind is dict or item_kind is list or item_kind is tuple:
                        size += 1
                        out.append(self._container(item, depth_left))
                    else:
                        size += 1
                        out.append(self._scalar(item))
                except _Bad as bad:
                    bad.path.append(index)
                    raise
        # Checked once per container: what was copied so far is pointers to the
        # caller's own strings and numbers, never more than the caller holds.
        self.size += size
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise _TooBig
        return out

    def _scalar(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            if not value.isascii() and _has_lone_surrogate(value):
                raise _Bad("string", "is not valid Unicode")
            self.size += len(value) + 2
            return value
        if kind is int:
            if value.bit_length() > _INT_FAST_BITS:
                try:
                    digits = len(str(abs(value)))
                except ValueError:  # over the interpreter's own limit
                    digits = MAX_INT_DIGITS + 1
                if digits > MAX_INT_DIGITS:
                    raise _Bad("number", f"has more than {MAX_INT_DIGITS:,} digits")
            self.size += len(int.__repr__(value))
            return value
        if kind is float:
            if value != value or value in _FLOAT_LIMITS:
                raise _Bad("number", "is not finite")
            self.size += len(float.__repr__(value))
            return value
        if kind is bool:
            self.size += 4 if value else 5
            return value
        if value is None:
            self.size += 4
            return value
        raise _Bad("value", f"is a {kind.__name__}, not JSON data")


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
