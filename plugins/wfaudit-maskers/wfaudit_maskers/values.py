"""What counts as a literal secret in a string, and what is only a reference to one.

Values that are references (``$TOKEN``, ``${{ secrets.X }}``, ``{{ .Values.x }}``),
placeholders (``<your-token>``, ``****``, ``changeme``) and file names
(``./password.txt``, ``@body.json``) name a secret or hold none: the embedded
rules leave them alone.
"""

from __future__ import annotations

import re

from .references import parse_reference

__all__ = ["is_literal"]

_PLACEHOLDER_WORDS = frozenset(
    {
        "", "true", "false", "yes", "no", "on", "off", "null", "none", "nil", "undefined",
        "required", "optional", "inherit", "default", "empty", "string", "str", "secret",
        "password", "token", "redacted", "masked", "hidden", "changeme", "xxx", "example",
    }
)  # fmt: skip
"""Values that hold no secret: flags, type names and the usual placeholders."""

_REPEATED = re.compile(r"(.)\1*")


def is_literal(value: str) -> bool:
    """Whether ``value`` may be a literal secret (not empty, a placeholder or a reference)."""
    text = value.strip()
    if len(text) < 3 or text.lower() in _PLACEHOLDER_WORDS:
        return False
    first = text[0]
    if first in "$%<" or text.startswith("{{"):
        return False  # shell, Windows or template expansion; <placeholder>
    if first in "/@" or text.startswith(("./", "../", "~/")):
        return False  # a file holding the secret (--from-file=password=./pw, -d @body.json)
    if _REPEATED.fullmatch(text):
        return False  # "****", "xxxxxx"
    return parse_reference(text) is None
