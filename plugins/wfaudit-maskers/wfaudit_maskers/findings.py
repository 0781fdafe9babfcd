"""What the string rules report: a span of a string, and the rule that found it.

The text families (value patterns, embedded secrets, encoded variants,
entropy) work on plain strings and know nothing of paths; the masker turns
their findings into marks. Overlapping findings of one string are merged here,
so that each secret is one mark named after the most specific rule.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["FAMILY_ORDER", "Finding", "family", "merge"]


class Finding(NamedTuple):
    """A secret at ``text[start:end]``, found by ``rule`` (``pattern:github-pat``)."""

    start: int
    end: int
    rule: str


FAMILY_ORDER: dict[str, int] = {"pattern": 0, "embedded": 1, "encoded": 2, "entropy": 3}
"""Which family names a merged finding: a named format says more than a key name,
which says more than a decoded blob, which says more than a guess."""


def family(rule: str) -> str:
    """``pattern:github-pat`` -> ``pattern``."""
    return rule.split(":", 1)[0]


SPECIFIC: frozenset[str] = frozenset(
    {"embedded:k8s-secret", "embedded:docker-auth", "embedded:auth-header"}
)
"""Embedded rules that say more than a bare assignment found at the same place."""


def _rank(finding: Finding) -> tuple[int, int]:
    rule = finding.rule
    return FAMILY_ORDER.get(family(rule), len(FAMILY_ORDER)), 0 if rule in SPECIFIC else 1


def merge(findings: list[Finding]) -> list[Finding]:
    """Merge overlapping findings into one per secret, sorted by position.

    The union of overlapping spans is kept (what must not be stored), named by the
    rule of the best-ranked finding among them.
    """
    if len(findings) < 2:
        return findings
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    out: list[Finding] = [ordered[0]]
    for finding in ordered[1:]:
        last = out[-1]
        if finding.start < last.end:
            rule = finding.rule if _rank(finding) < _rank(last) else last.rule
            out[-1] = Finding(last.start, max(last.end, finding.end), rule)
        else:
            out.append(finding)
    return out
