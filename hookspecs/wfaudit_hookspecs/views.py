"""Decoded views of a config's strings, so that a masker writes only its pattern.

Secrets travel encoded: base64 in a basic-auth header or a Kubernetes secret,
percent-encoding in a query string, JSON inside a string value. :func:`mask_pattern`
looks for a pattern in every string of a config *and* in those decoded forms, and
marks what it finds on the original string:

- as it is: the match's own span;
- URL-encoded (``%XX``): the span of the original text the match was decoded
  from (a ``%XX`` run it touches is masked whole);
- base64 or base64url (a run of 16 or more characters of the alphabet that
  decodes to UTF-8 text): the whole run;
- JSON inside a string (a value that parses as a JSON object or list): the
  whole value, when the pattern matches one of its strings or their decoded forms.

It is bounded: strings longer than :data:`MAX_VIEW_CHARS` are searched as they
are only, a base64 run longer than that is not decoded, and decoding goes one
level deep (a base64 run inside a JSON string inside a value is found; base64 of
base64 is not).

::

    from wfaudit_hookspecs import MaskContext, hookimpl
    from wfaudit_hookspecs.views import mask_pattern

    @hookimpl
    def wfaudit_mask(context: MaskContext) -> None:
        mask_pattern(context, r"acme_[0-9a-f]{32}", rule="acme.token")
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any

import attrs

from .pointer import Path, iter_nodes
from .protocols import MaskContext

__all__ = ["MAX_VIEW_CHARS", "View", "decoded_views", "mask_pattern"]

MAX_VIEW_CHARS = 1 << 20
"""The longest string (or base64 run) whose decoded views are looked at (1 MiB)."""

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


@attrs.frozen
class View:
    """One decoded form of (part of) a string.

    :ivar kind: ``url``, ``base64`` or ``json``.
    :ivar text: the decoded text.
    :ivar span: the part of the original string it was decoded from.
    :ivar origins: for ``url``, the original ``(start, end)`` of each decoded
        character, so that a match maps back to the text it came from; empty
        when a match anywhere in the view stands for the whole ``span``.
    """

    kind: str
    text: str = attrs.field(repr=False)
    span: tuple[int, int]
    origins: tuple[tuple[int, int], ...] = attrs.field(default=(), repr=False)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original string that ``text[start:end]`` came from."""
        if not self.origins:
            return self.span
        return self.origins[start][0], self.origins[end - 1][1]


def _url_view(value: str) -> View | None:
    if "%" not in value or not _PERCENT.search(value):
        return None
    chars: list[str] = []
    origins: list[tuple[int, int]] = []
    position = 0
    for run in _PERCENT.finditer(value):
        for index in range(position, run.start()):
            chars.append(value[index])
            origins.append((index, index + 1))
        raw = bytes.fromhex(run.group().replace("%", ""))
        decoded = raw.decode("utf-8", errors="replace")
        chars.extend(decoded)
        origins.extend([(run.start(), run.end())] * len(decoded))  # the run, whole
        position = run.end()
    for index in range(position, len(value)):
        chars.append(value[index])
        origins.append((index, index + 1))
    return View("url", "".join(chars), (0, len(value)), tuple(origins))


def _base64_text(run: str) -> str | None:
    if len(run) > MAX_VIEW_CHARS:
        return None
    padded = run.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    readable = all(char.isprintable() or char in "\t\n\r" for char in text)
    return text if readable else None


def decoded_views(value: str, *, json_strings: bool = True) -> Iterator[View]:
    """The decoded forms of ``value``: URL-decoded, each base64 run, and the
    strings of a JSON document it holds (and their own URL and base64 forms)."""
    if len(value) > MAX_VIEW_CHARS:
        return
    url = _url_view(value)
    if url is not None:
        yield url
    for run in _BASE64_RUN.finditer(value):
        text = _base64_text(run.group())
        if text is not None:
            yield View("base64", text, run.span())
    stripped = value.strip()
    if json_strings and stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        try:
            document: Any = json.loads(stripped)
        except ValueError:
            return
        whole = (0, len(value))
        for _, inner in iter_nodes(document):
            if isinstance(inner, str):
                yield View("json", inner, whole)
                for view in decoded_views(inner, json_strings=False):
                    yield View("json", view.text, whole)


def mask_pattern(
    context: MaskContext, pattern: str | re.Pattern[str], *, rule: str, path: Path = ()
) -> int:
    """Mark every match of ``pattern`` in the strings of ``context.config`` (below
    ``path``), as they are and in their decoded views; returns how many marks.

    The rule of a mark found in a view is ``rule`` with ``.url``, ``.base64`` or
    ``.json`` appended, so the manifest says how the secret travelled.
    """
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    marks = 0
    root: Any = context.config
    for token in path:
        root = root[token]
    for node_path, value in iter_nodes(root, tuple(path)):
        if not isinstance(value, str) or not node_path:
            continue
        for match in compiled.finditer(value):
            if match.end() > match.start():
                context.mask(node_path, rule=rule, span=match.span())
                marks += 1
        for view in decoded_views(value):
            for match in compiled.finditer(view.text):
                if view.kind == "json" and match.group() in value:
                    continue  # found as it is above, with a tighter span
                if match.end() > match.start():
                    span = view.original_span(match.start(), match.end())
                    context.mask(node_path, rule=f"{rule}.{view.kind}", span=span)
                    marks += 1
    return marks
