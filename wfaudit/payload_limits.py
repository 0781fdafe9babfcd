"""The limits and messages of payload reading, shared by :mod:`wfaudit.loading`
(JSON) and :mod:`wfaudit.yaml_loading` (YAML): a leaf, so that neither of the two
imports the other back (tests/test_architecture.py)."""

from __future__ import annotations

from wfaudit_hookspecs import InvalidRequest
from wfaudit_hookspecs.canonical import MAX_INT_DIGITS

__all__ = ["MAX_EXPANDED_BYTES", "MAX_EXPANDED_NODES"]

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


def _pointer(tokens: list[str]) -> str:
    return "/" + "/".join(tokens) if tokens else "the top level"


def _duplicate_message(where: list[str], first: int, again: int, line: int | None) -> str:
    at = f" (line {line})" if line is not None else ""
    return (
        f"duplicate key at {_pointer([*where, f'@{again}'])}{at}: the same key as "
        f"@{first} of that mapping; a key may be given once (one value would be lost)"
    )


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
