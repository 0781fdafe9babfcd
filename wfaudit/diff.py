"""Structured diff of two snapshots' masked configs.

Changes are reported by JSON pointer. Values come from the *masked* configs, so a
diff never holds a secret; where a masked field is involved, the secret is
compared by its keyed fingerprint and reported only as ``changed``,
``added`` or ``removed``.
"""

from __future__ import annotations

from typing import Any

import attrs

from wfaudit_hookspecs import Manifest, Snapshot, SnapshotRef, to_pointer
from wfaudit_hookspecs.pointer import Path

__all__ = ["Change", "SnapshotDiff", "diff_configs", "diff_snapshots"]

_MISSING = object()


@attrs.frozen(kw_only=True)
class Change:
    """One difference between two configs.

    :ivar op: ``added``, ``removed`` or ``modified``.
    :ivar path: JSON pointer of the node.
    :ivar old: the masked value before (None when added).
    :ivar new: the masked value after (None when removed).
    :ivar secret: for a masked field, ``changed``, ``added`` or ``removed``; else None.
    """

    op: str
    path: str
    old: Any = None
    new: Any = None
    secret: str | None = None


@attrs.frozen(kw_only=True)
class SnapshotDiff:
    """The differences from snapshot ``a`` to snapshot ``b``."""

    a: SnapshotRef
    b: SnapshotRef
    changes: tuple[Change, ...]

    @property
    def identical(self) -> bool:
        return self.a.content_hash == self.b.content_hash

    def paths(self) -> list[str]:
        return [change.path for change in self.changes]


def diff_snapshots(a: Snapshot, b: Snapshot) -> SnapshotDiff:
    """Compare two snapshots' masked configs."""
    changes: tuple[Change, ...] = ()
    if a.content_hash != b.content_hash:
        changes = tuple(diff_configs(a.config, b.config, a.manifest, b.manifest))
    return SnapshotDiff(a=a.ref, b=b.ref, changes=changes)


def diff_configs(
    old: Any, new: Any, old_manifest: Manifest | None = None, new_manifest: Manifest | None = None
) -> list[Change]:
    """The changes from ``old`` to ``new``: lists are compared index by index."""
    secrets_old = _fingerprints(old_manifest)
    secrets_new = _fingerprints(new_manifest)
    changes: list[Change] = []
    _walk(old, new, (), changes, secrets_old, secrets_new)
    return changes


def _fingerprints(manifest: Manifest | None) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for field in manifest.fields if manifest else ():
        found.setdefault(field.path, []).append(field.fingerprint)
    return {path: tuple(prints) for path, prints in found.items()}


def _walk(
    old: Any,
    new: Any,
    path: Path,
    changes: list[Change],
    secrets_old: dict[str, tuple[str, ...]],
    secrets_new: dict[str, tuple[str, ...]],
) -> None:
    if type(old) is dict and type(new) is dict:
        for key in sorted(old.keys() | new.keys()):
            _walk(
                old.get(key, _MISSING),
                new.get(key, _MISSING),
                (*path, key),
                changes,
                secrets_old,
                secrets_new,
            )
        return
    if type(old) is list and type(new) is list:
        for index in range(max(len(old), len(new))):
            left = old[index] if index < len(old) else _MISSING
            right = new[index] if index < len(new) else _MISSING
            _walk(left, right, (*path, index), changes, secrets_old, secrets_new)
        return
    if old is _MISSING and new is _MISSING:
        return
    pointer = to_pointer(path)
    secret = _secret_change(pointer, secrets_old, secrets_new)
    if old is _MISSING:
        changes.append(Change(op="added", path=pointer, new=new, secret=secret))
    elif new is _MISSING:
        changes.append(Change(op="removed", path=pointer, old=old, secret=secret))
    elif old != new or type(old) is not type(new) or secret is not None:
        changes.append(Change(op="modified", path=pointer, old=old, new=new, secret=secret))


def _secret_change(
    pointer: str, secrets_old: dict[str, tuple[str, ...]], secrets_new: dict[str, tuple[str, ...]]
) -> str | None:
    before = secrets_old.get(pointer)
    after = secrets_new.get(pointer)
    if before is None and after is None:
        return None
    if before is None:
        return "added"
    if after is None:
        return "removed"
    return None if before == after else "changed"
