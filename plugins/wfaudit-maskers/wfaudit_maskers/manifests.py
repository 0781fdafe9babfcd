"""Kubernetes Secret manifests held in a string (an Argo ``resource`` manifest, a heredoc)."""

from __future__ import annotations

import itertools
import re

from .findings import Finding
from .references import parse_reference

__all__ = ["K8S_RULES", "k8s_secret_findings"]

_KIND_SECRET = re.compile(
    r"""^[ \t-]*["']?kind["']?[ \t]*:[ \t]*["']?Secret["']?[ \t]*,?[ \t]*$""", re.M
)
_JSON_KIND_SECRET = re.compile(r'"kind"\s*:\s*"Secret"')
_DOCUMENT_SPLIT = re.compile(r"^---[^\n]*$", re.M)
_DATA_BLOCK = re.compile(r"^(?P<indent>[ \t]*)(?:data|stringData)[ \t]*:[ \t]*$", re.M)
_ENTRY = re.compile(
    r"""^(?P<indent>[ \t]+)["']?[\w.\-]+["']?[ \t]*:[ \t]*(?P<value>[^\n]*)$""", re.M
)
_JSON_DATA = re.compile(r'"(?:data|stringData)"\s*:\s*\{(?P<body>[^{}]*)\}')
_JSON_ENTRY = re.compile(r'"[\w.\-]+"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"')

K8S_RULES = ("embedded:k8s-secret",)


def k8s_secret_findings(text: str) -> list[Finding]:
    """The values under ``data`` / ``stringData`` of a ``kind: Secret`` manifest held
    in a string (an Argo ``resource`` manifest, a heredoc in a script), YAML or JSON."""
    out: list[Finding] = []
    if _JSON_KIND_SECRET.search(text):
        for block in _JSON_DATA.finditer(text):
            for entry in _JSON_ENTRY.finditer(text, block.start("body"), block.end("body")):
                out.extend(_secret_value(text, *entry.span("value")))
    if not _KIND_SECRET.search(text):
        return out
    bounds = [0, *(m.end() for m in _DOCUMENT_SPLIT.finditer(text)), len(text)]
    for doc_start, doc_end in itertools.pairwise(bounds):
        if not _KIND_SECRET.search(text, doc_start, doc_end):
            continue
        for block in _DATA_BLOCK.finditer(text, doc_start, doc_end):
            out.extend(_yaml_entries(text, block, doc_end))
    return out


def _yaml_entries(text: str, block: re.Match[str], end: int) -> list[Finding]:
    out: list[Finding] = []
    depth = len(block.group("indent"))
    position = block.end() + 1
    while position < end:
        line_end = _line_end(text, position, end)
        if not text[position:line_end].strip():
            position = line_end + 1
            continue
        entry = _ENTRY.match(text, position, line_end)
        if entry is None or len(entry.group("indent")) <= depth:
            break
        start, stop = entry.span("value")
        value = text[start:stop].rstrip()
        position = line_end + 1
        if value[:1] not in ("|", ">"):
            out.extend(_secret_value(text, start, start + len(value)))
            continue
        # A block scalar (tls.key: |): the more-indented lines below are the value.
        first = last = position
        while position < end:
            line_end = _line_end(text, position, end)
            line = text[position:line_end]
            if line.strip() and len(line) - len(line.lstrip(" \t")) <= len(entry.group("indent")):
                break
            last = line_end
            position = line_end + 1
        out.extend(_secret_value(text, first, last))
    return out


def _line_end(text: str, position: int, end: int) -> int:
    line_end = text.find("\n", position, end)
    return end if line_end < 0 else line_end


def _secret_value(text: str, start: int, end: int) -> list[Finding]:
    # Every value of a Secret is secret, however short; only references stay.
    while start < end and text[start] in " \t\n":
        start += 1
    while end > start and text[end - 1] in " \t\n":
        end -= 1
    if end - start >= 2 and text[start] == text[end - 1] and text[start] in "\"'":
        start, end = start + 1, end - 1
    value = text[start:end]
    if not value or value[0] == "$" or value.startswith("{{") or parse_reference(value):
        return []
    return [Finding(start, end, "embedded:k8s-secret")]
