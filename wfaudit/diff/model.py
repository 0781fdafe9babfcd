"""The diff's data: a change, the summary's counts and the secrets' statuses, a snapshot diff."""

from __future__ import annotations

from typing import Any

import attrs

from wfaudit_hookspecs import SnapshotRef

__all__ = [
    "SECRET_STATUSES",
    "Change",
    "DiffSummary",
    "NodeChanges",
    "SecretSummary",
    "SnapshotDiff",
]


@attrs.frozen(kw_only=True)
class Change:
    """One difference between two configs.

    :ivar op: ``added``, ``removed``, ``modified`` or ``moved``.
    :ivar path: JSON pointer of the node (in the newer config; in the older one
        for ``removed``).
    :ivar old: the masked value before (None when added or moved).
    :ivar new: the masked value after (None when removed or moved).
    :ivar from_path: for ``moved``, where the element was in the older config.
    :ivar secret: for a masked field, ``changed``, ``added`` or ``removed``; else None.
    """

    op: str
    path: str
    old: Any = None
    new: Any = None
    from_path: str | None = None
    secret: str | None = None


@attrs.frozen(kw_only=True)
class NodeChanges:
    """How many nodes of one kind (``job``, ``step``, ``task``, ``template``)
    were added, removed, modified (changed inside) or moved."""

    kind: str
    added: int = 0
    removed: int = 0
    modified: int = 0
    moved: int = 0

    def words(self) -> list[str]:
        """``["1 job added", "2 jobs modified"]``."""
        return [
            f"{count} {self.kind}{'s' if count > 1 else ''} {what}"
            for count, what in (
                (self.added, "added"),
                (self.removed, "removed"),
                (self.modified, "modified"),
                (self.moved, "moved"),
            )
            if count
        ]


@attrs.frozen(kw_only=True)
class DiffSummary:
    """What changed, in the words of a workflow: how many nodes (steps, jobs,
    tasks, templates) were added, removed, modified or moved, and whether
    connections, variables, images, the commit, secrets or other settings changed.

    :ivar steps_added: nodes added, of every kind (``nodes`` has them by kind);
        ``steps_removed``, ``steps_modified`` and ``steps_moved`` likewise.
    :ivar nodes: the counts by kind of node, outer kinds first (``job``, then
        ``step``); a change inside a node counts for the innermost node holding it.
    """

    steps_added: int = 0
    steps_removed: int = 0
    steps_modified: int = 0
    steps_moved: int = 0
    connections_changed: bool = False
    variables_changed: bool = False
    images_changed: bool = False
    commit_changed: bool = False
    secrets_changed: bool = False
    settings_changed: bool = False
    nodes: tuple[NodeChanges, ...] = ()

    def words(self) -> str:
        """A few words for a timeline: ``1 job added, 2 steps modified, image, commit``."""
        counted = self.nodes or (
            NodeChanges(
                kind="step",
                added=self.steps_added,
                removed=self.steps_removed,
                modified=self.steps_modified,
                moved=self.steps_moved,
            ),
        )
        parts = [part for node in counted for part in node.words()]
        for flag, word in (
            (self.connections_changed, "dependencies"),
            (self.variables_changed, "variables"),
            (self.images_changed, "image"),
            (self.commit_changed, "commit"),
            (self.secrets_changed, "secrets"),
            (self.settings_changed, "settings"),
        ):
            if flag:
                parts.append(word)
        return ", ".join(parts) or "no change"


SECRET_STATUSES = ("changed", "unchanged", "added", "removed")
"""The statuses of a masked field in a diff, in the order they are told."""


def _counts(summary: SecretSummary) -> dict[str, int]:
    return {status: len(getattr(summary, status)) for status in SECRET_STATUSES}


@attrs.frozen(kw_only=True)
class SecretSummary:
    """The masked fields of two snapshots, by status, decided by their keyed
    fingerprints: pointers only, never a value.

    :ivar changed: masked on both sides, with other fingerprints (newer pointers).
    :ivar unchanged: masked on both sides, with the same fingerprints.
    :ivar added: masked only in the newer snapshot (its pointers).
    :ivar removed: masked only in the older snapshot (its pointers).
    :ivar counts: the number of pointers of each status.
    """

    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    counts: dict[str, int] = attrs.field(default=attrs.Factory(_counts, takes_self=True), eq=False)

    def __bool__(self) -> bool:
        return bool(self.changed or self.unchanged or self.added or self.removed)

    def words(self) -> str:
        """``1 changed, 3 unchanged`` (``none`` when neither snapshot has a masked field)."""
        counts = _counts(self)
        return ", ".join(f"{counts[s]} {s}" for s in SECRET_STATUSES if counts[s]) or "none"


@attrs.frozen(kw_only=True)
class SnapshotDiff:
    """The differences from snapshot ``a`` to snapshot ``b``.

    :ivar changes: the changes, by JSON pointer.
    :ivar summary: what changed in a few words (:func:`summarize`).
    :ivar secrets: the status of every masked field of either snapshot.
    """

    a: SnapshotRef
    b: SnapshotRef
    changes: tuple[Change, ...]
    summary: DiffSummary = attrs.field(factory=DiffSummary)
    secrets: SecretSummary = attrs.field(factory=SecretSummary)

    @property
    def identical(self) -> bool:
        return self.a.content_hash == self.b.content_hash

    def paths(self) -> list[str]:
        return [change.path for change in self.changes]
