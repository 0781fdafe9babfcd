"""Structured diff of two snapshots' masked configs.

Changes are reported by JSON pointer, from the *masked* configs: a diff never
holds a secret (a masked field is compared by its keyed fingerprint).
:mod:`~wfaudit.diff.algorithm` tells how objects and lists are compared: lists of
named things matched by name, other lists aligned by content, moves found.

The summary (:func:`summarize`) says what changed in the words of a workflow:
nodes (jobs, steps, tasks, templates) added, removed, modified or moved, and
whether dependencies, variables, images, the commit, secrets or other settings
changed. Where the snapshots' payload format declared a diff shape
(:class:`~wfaudit_hookspecs.DiffShape`, with the format in
``wfaudit_payload_formats``; the manifest's ``adapter`` names the format), nodes
are found where that format keeps them (a GitHub job is a key of
``jobs``); otherwise by generic rules (an element of a list named ``steps``,
``tasks``...).

The modules: :mod:`~wfaudit.diff.algorithm` (the walk), :mod:`~wfaudit.diff.summary`
(the words of a workflow), :mod:`~wfaudit.diff.patch` (applying a diff, line diffs of
scripts) and :mod:`~wfaudit.diff.model` (the data); every name is importable from
``wfaudit.diff``.
"""

from __future__ import annotations

from .algorithm import NAME_KEYS, diff_configs, diff_snapshots
from .model import SECRET_STATUSES, Change, DiffSummary, NodeChanges, SecretSummary, SnapshotDiff
from .patch import TextHunk, apply_changes, is_multiline, line_diff
from .summary import shape_for, shape_of, summarize

__all__ = [
    "NAME_KEYS",
    "SECRET_STATUSES",
    "Change",
    "DiffSummary",
    "NodeChanges",
    "SecretSummary",
    "SnapshotDiff",
    "TextHunk",
    "apply_changes",
    "diff_configs",
    "diff_snapshots",
    "is_multiline",
    "line_diff",
    "shape_for",
    "shape_of",
    "summarize",
]
