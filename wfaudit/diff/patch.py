"""Applying a diff, and the line diff of a multi-line value (a script)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import attrs

from .model import Change

__all__ = ["TextHunk", "apply_changes", "is_multiline", "line_diff"]


def apply_changes(old: Any, changes: Sequence[Change]) -> Any:
    """Rebuild the newer config from the older one and the changes.

    The diff is complete exactly when this gives back the newer config: the
    tests use it as an independent check of :func:`diff_configs`.
    """
    return _Patcher(changes).rebuild(old, "")


class _Patcher:
    def __init__(self, changes: Sequence[Change]) -> None:
        self.by_new = {c.path: c for c in changes if c.op in ("added", "modified")}
        self.removed = {c.path for c in changes if c.op == "removed"}
        self.moved_from = {c.path: c.from_path for c in changes if c.op == "moved"}
        self.added_under: dict[str, list[Change]] = {}
        for change in changes:
            if change.op == "added":
                parent = change.path.rsplit("/", 1)[0]
                self.added_under.setdefault(parent, []).append(change)

    def rebuild(self, old: Any, old_pointer: str, new_pointer: str | None = None) -> Any:
        new_pointer = old_pointer if new_pointer is None else new_pointer
        change = self.by_new.get(new_pointer)
        if change is not None and change.op == "modified":
            return change.new
        if type(old) is dict:
            out = {}
            for key, value in old.items():
                token = key.replace("~", "~0").replace("/", "~1")
                if f"{old_pointer}/{token}" in self.removed:
                    continue
                out[key] = self.rebuild(value, f"{old_pointer}/{token}", f"{new_pointer}/{token}")
            for added in self.added_under.get(new_pointer, []):
                key = added.path.rsplit("/", 1)[1].replace("~1", "/").replace("~0", "~")
                out[key] = added.new
            return out
        if type(old) is list:
            return self._rebuild_list(old, old_pointer, new_pointer)
        return old

    def _rebuild_list(self, old: list[Any], old_pointer: str, new_pointer: str) -> list[Any]:
        kept = [i for i in range(len(old)) if f"{old_pointer}/{i}" not in self.removed]
        added = {
            int(c.path.rsplit("/", 1)[1]): c.new for c in self.added_under.get(new_pointer, [])
        }
        moved = {
            int(path.rsplit("/", 1)[1]): int(source.rsplit("/", 1)[1])
            for path, source in self.moved_from.items()
            if source is not None and path.rsplit("/", 1)[0] == new_pointer
        }
        moved_sources = set(moved.values())
        staying = iter([i for i in kept if i not in moved_sources])
        size = len(kept) + len(added)
        out = []
        for j in range(size):
            if j in added:
                out.append(added[j])
                continue
            i = moved[j] if j in moved else next(staying)
            out.append(self.rebuild(old[i], f"{old_pointer}/{i}", f"{new_pointer}/{j}"))
        return out


# -- multi-line strings (scripts) ------------------------------------------------------


@attrs.frozen
class TextHunk:
    """A run of changed lines of a multi-line string, with unchanged lines around.

    :ivar old_start: the index (from 0) of its first line in the old text.
    :ivar old_end: one past its last line in the old text.
    :ivar new_start: likewise in the new text.
    :ivar new_end: likewise in the new text.
    :ivar lines: ``(mark, line)`` in order: ``" "`` unchanged, ``"-"`` removed,
        ``"+"`` added.
    """

    old_start: int
    old_end: int
    new_start: int
    new_end: int
    lines: tuple[tuple[str, str], ...]

    def header(self) -> str:
        """The hunk's ``@@ -1,3 +1,4 @@`` line, as ``diff -u`` writes it."""
        old, new = _range(self.old_start, self.old_end), _range(self.new_start, self.new_end)
        return f"@@ -{old} +{new} @@"


def _range(start: int, end: int) -> str:
    length = end - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def is_multiline(old: Any, new: Any) -> bool:
    """True when a change of ``old`` into ``new`` is best shown line by line
    (two strings, either holding a newline: a script, a Dockerfile)."""
    return isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new)


def line_diff(old: str, new: str, context: int = 3) -> list[TextHunk]:
    """The changed lines of ``old`` → ``new``, in hunks with ``context``
    unchanged lines around each, aligned as ``diff -u`` aligns them. The
    command line and the web view both show scripts' changes with it."""
    before, after = old.splitlines(), new.splitlines()
    hunks = []
    for group in difflib.SequenceMatcher(None, before, after).get_grouped_opcodes(context):
        lines: list[tuple[str, str]] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend((" ", line) for line in before[i1:i2])
                continue
            lines.extend(("-", line) for line in before[i1:i2])
            lines.extend(("+", line) for line in after[j1:j2])
        first, last = group[0], group[-1]
        hunks.append(TextHunk(first[1], last[2], first[3], last[4], tuple(lines)))
    return hunks
