"""Structured diff of two snapshots' masked configs.

Changes are reported by JSON pointer. Values come from the *masked* configs, so a
diff never holds a secret; where a masked field is involved, the secret is
compared by its keyed fingerprint and reported only as ``changed``, ``added``
or ``removed``; :attr:`SnapshotDiff.secrets` gives the status of every masked
field of either snapshot (``unchanged`` too), by pointer, never a value.

Objects are compared key by key. Lists are aligned so that an inserted or
removed element is one ``added`` or ``removed`` change, not every later element
modified:

* lists of named things (steps, tasks, jobs, env entries: objects carrying a
  ``name``, ``id`` or ``key`` that is unique in the list on both sides) are
  matched by name, so that an element moved in the list is reported as a move;
* other lists (unnamed GitHub Actions steps, matrices, lists of strings) are
  aligned by content, as ``diff`` aligns lines: :class:`difflib.SequenceMatcher`
  over the elements' canonical JSON. Runs of equal elements are unchanged,
  inserted runs are ``added``, deleted runs ``removed``. A run of old elements
  replaced by a run of new ones is aligned again by the elements' *identity*
  (a ``name``, ``id`` or ``key``, else the action a GitHub step ``uses``,
  without its ``@ref``): elements of the same identity pair up, and so do the
  elements of a replaced sub-run of equal length; paired elements are compared
  recursively; the rest is removed and added. An element removed in one place
  and added unchanged in another is a move.

Paths inside a matched element are those of the newer snapshot (of the older one
for a ``removed`` change).

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
