"""The diff's algorithm: two configs walked at once, lists aligned by name or content.

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
"""

from __future__ import annotations

import bisect
import difflib
import marshal
import re
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from wfaudit.masking import PLACEHOLDER_PREFIX
from wfaudit_hookspecs import DiffShape, Manifest, Snapshot, canonical_json

from .model import SECRET_STATUSES, Change, SecretSummary, SnapshotDiff
from .summary import shape_for, summarize

__all__ = ["NAME_KEYS", "diff_configs", "diff_snapshots"]

_MISSING = object()
NAME_KEYS = ("name", "id", "key")
"""Keys that name the elements of a list of objects, in order of preference."""


def diff_snapshots(
    a: Snapshot, b: Snapshot, shapes: Mapping[str, DiffShape] | None = None
) -> SnapshotDiff:
    """Compare two snapshots' masked configs.

    :param shapes: the diff shapes the adapters declared, by payload format
        (``PluginManager.diff_shapes``); the summary counts the nodes of the
        snapshots' format where it has one.
    """
    if a.content_hash == b.content_hash:
        # Placeholders carry the fingerprints: equal content, equal secrets.
        return SnapshotDiff(
            a=a.ref, b=b.ref, changes=(), secrets=_same_secrets(a.manifest, b.manifest)
        )
    walker = _walk(a.config, b.config, a.manifest, b.manifest)
    changes = tuple(walker.changes)
    return SnapshotDiff(
        a=a.ref,
        b=b.ref,
        changes=changes,
        summary=summarize(changes, shape_for(shapes, a.manifest, b.manifest)),
        secrets=walker.secret_summary(),
    )


def _same_secrets(old: Manifest, new: Manifest) -> SecretSummary:
    """The secrets of two snapshots with the same content, by manifest alone."""
    before, after = _fingerprints(old), _fingerprints(new)
    statuses: dict[str, list[str]] = {status: [] for status in SECRET_STATUSES}
    for path, prints in after.items():
        known = before.get(path)
        statuses[
            "added" if known is None else "unchanged" if known == prints else "changed"
        ].append(path)
    statuses["removed"] = [path for path in before if path not in after]
    return _secret_summary(statuses)


def _secret_summary(statuses: Mapping[str, Sequence[str]]) -> SecretSummary:
    return SecretSummary(
        changed=tuple(statuses["changed"]),
        unchanged=tuple(statuses["unchanged"]),
        added=tuple(statuses["added"]),
        removed=tuple(statuses["removed"]),
    )


def diff_configs(
    old: Any, new: Any, old_manifest: Manifest | None = None, new_manifest: Manifest | None = None
) -> list[Change]:
    """The changes from ``old`` to ``new``."""
    return _walk(old, new, old_manifest, new_manifest).changes


def _walk(
    old: Any, new: Any, old_manifest: Manifest | None, new_manifest: Manifest | None
) -> _Walker:
    walker = _Walker(_fingerprints(old_manifest), _fingerprints(new_manifest))
    walker.walk(old, new, "", "")
    return walker


def _fingerprints(manifest: Manifest | None) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for field in manifest.fields if manifest else ():
        found.setdefault(field.path, []).append(field.fingerprint)
    return {path: tuple(prints) for path, prints in found.items()}


def _name_key(old: list[Any], new: list[Any]) -> str | None:
    """The key naming the elements of both lists, if every element has a unique one."""
    if not old or not new:
        return None
    for key in NAME_KEYS:
        names_old = [item.get(key) if type(item) is dict else None for item in old]
        names_new = [item.get(key) if type(item) is dict else None for item in new]
        names = names_old + names_new
        if all(type(n) in (str, int) and not isinstance(n, bool) for n in names) and (
            len(set(names_old)) == len(old) and len(set(names_new)) == len(new)
        ):
            return key
    return None


def _prefixes(pointers: Any) -> set[str]:
    """Every pointer on the way to each of ``pointers`` (``""`` included)."""
    out = {""}
    for pointer in pointers:
        for index, char in enumerate(pointer):
            if char == "/" and index:
                out.add(pointer[:index])
        out.add(pointer)
    return out


def _token(key: str | int) -> str:
    text = str(key)
    if "~" in text or "/" in text:
        text = text.replace("~", "~0").replace("/", "~1")
    return "/" + text


class _Walker:
    """Walks both configs at once, carrying each node's pointer in both."""

    def __init__(
        self, secrets_old: dict[str, tuple[str, ...]], secrets_new: dict[str, tuple[str, ...]]
    ) -> None:
        self.secrets_old = secrets_old
        self.secrets_new = secrets_new
        # Subtrees holding a masked field are always walked: their secrets are
        # compared by fingerprint, which the masked values do not show.
        self.holding_old = _prefixes(secrets_old)
        self.holding_new = _prefixes(secrets_new)
        self.sorted_old = sorted(secrets_old)
        self.sorted_new = sorted(secrets_new)
        self.changes: list[Change] = []
        # The masked fields met on the way, by status (see SecretSummary).
        self.statuses: dict[str, list[str]] = {status: [] for status in SECRET_STATUSES}

    def secret_summary(self) -> SecretSummary:
        return _secret_summary(self.statuses)

    def _gone(self, old_at: str) -> None:
        """The masked fields of an old node (and below it) that no new node pairs with."""
        if old_at in self.holding_old:
            self.statuses["removed"] += _within(self.sorted_old, old_at)

    def _came(self, new_at: str) -> None:
        """The masked fields of a new node (and below it) that no old node pairs with."""
        if new_at in self.holding_new:
            self.statuses["added"] += _within(self.sorted_new, new_at)

    def _unchanged(self, old: Any, new: Any, old_at: str, new_at: str) -> bool:
        """Equal containers without masked fields need no walk. ``==`` (in C) stops
        at the first difference; but it finds ``1``, ``1.0`` and ``true`` equal,
        which the walk tells apart, so equal subtrees are confirmed by their
        ``marshal`` bytes (which keep the types): equal bytes are equal values.
        Bytes that differ for equal values (key order) only cost a walk. Each
        node is in one maximal equal subtree: one serialization of the document
        at most, at C speed."""
        if old != new or old_at in self.holding_old or new_at in self.holding_new:
            return False
        return marshal.dumps(old) == marshal.dumps(new)

    def walk(self, old: Any, new: Any, old_at: str, new_at: str) -> None:
        kind = type(old)
        if kind is dict and type(new) is dict:
            if self._unchanged(old, new, old_at, new_at):
                return
            for key in sorted(old.keys() | new.keys()):
                token = _token(key)
                self.walk(
                    old.get(key, _MISSING), new.get(key, _MISSING), old_at + token, new_at + token
                )
            return
        if kind is list and type(new) is list:
            if self._unchanged(old, new, old_at, new_at):
                return
            key = _name_key(old, new)
            if key is None:
                self._by_content(old, new, old_at, new_at)
            else:
                self._by_name(old, new, key, old_at, new_at)
            return
        self._leaf(old, new, old_at, new_at)

    def _by_content(self, old: list[Any], new: list[Any], old_at: str, new_at: str) -> None:
        """Align unnamed elements by content (see the module's docstring)."""
        before = [canonical_json(item) for item in old]
        after = [canonical_json(item) for item in new]
        if old_at in self.holding_old or new_at in self.holding_new:
            # A step whose secret was rotated still aligns with itself: here the
            # placeholders (which carry fingerprints) are all alike; the walk
            # then compares the secrets by their fingerprints.
            plan, source = _align(old, new, _unkeyed(before), _unkeyed(after))
        else:
            plan, source = _align(old, new, before, after)
        moved = set(source.values())
        for i, j in plan:
            if j is None:
                if i is not None and i not in moved:
                    self.changes.append(Change(op="removed", path=f"{old_at}/{i}", old=old[i]))
                    self._gone(f"{old_at}/{i}")
                continue
            if i is None and j not in source:
                self.changes.append(Change(op="added", path=f"{new_at}/{j}", new=new[j]))
                self._came(f"{new_at}/{j}")
                continue
            if i is None:
                i = source[j]
                self.changes.append(
                    Change(op="moved", path=f"{new_at}/{j}", from_path=f"{old_at}/{i}")
                )
            old_path, new_path = f"{old_at}/{i}", f"{new_at}/{j}"
            # Equal content needs no walk, unless a masked field below it is to be
            # compared by its fingerprint.
            held = old_path in self.holding_old or new_path in self.holding_new
            if held or before[i] != after[j]:
                self.walk(old[i], new[j], old_path, new_path)

    def _by_name(self, old: list[Any], new: list[Any], key: str, old_at: str, new_at: str) -> None:
        old_index = {item[key]: i for i, item in enumerate(old)}
        new_index = {item[key]: i for i, item in enumerate(new)}
        for name, i in old_index.items():
            if name not in new_index:
                self.changes.append(Change(op="removed", path=f"{old_at}/{i}", old=old[i]))
                self._gone(f"{old_at}/{i}")
        # A move is an element whose position among the elements both sides share changed.
        shared_old = [n for n in old_index if n in new_index]
        shared_new = sorted(shared_old, key=new_index.__getitem__)
        moved = _moved(shared_old, shared_new)
        for name, j in new_index.items():
            if name not in old_index:
                self.changes.append(Change(op="added", path=f"{new_at}/{j}", new=new[j]))
                self._came(f"{new_at}/{j}")
                continue
            i = old_index[name]
            if name in moved:
                self.changes.append(
                    Change(op="moved", path=f"{new_at}/{j}", from_path=f"{old_at}/{i}")
                )
            self.walk(old[i], new[j], f"{old_at}/{i}", f"{new_at}/{j}")

    def _leaf(self, old: Any, new: Any, old_at: str, new_at: str) -> None:
        if old is _MISSING and new is _MISSING:
            return
        secret = None
        if old_at in self.holding_old or new_at in self.holding_new:
            before = None if old is _MISSING else self.secrets_old.get(old_at)
            after = None if new is _MISSING else self.secrets_new.get(new_at)
            secret = _secret_change(before, after)
            if before is not None and after is not None:
                self.statuses[secret or "unchanged"].append(new_at)
            else:
                # A node added, removed, or replaced by one of another type: the
                # masked fields on each side of it have no counterpart.
                if old is not _MISSING:
                    self._gone(old_at)
                if new is not _MISSING:
                    self._came(new_at)
        if old is _MISSING:
            self.changes.append(Change(op="added", path=new_at, new=new, secret=secret))
        elif new is _MISSING:
            self.changes.append(Change(op="removed", path=old_at, old=old, secret=secret))
        elif old != new or type(old) is not type(new) or secret is not None:
            self.changes.append(Change(op="modified", path=new_at, old=old, new=new, secret=secret))


_Plan = list[tuple[int | None, int | None]]
"""How two lists align, in order: ``(i, j)`` pairs old element ``i`` with new
element ``j``, ``(i, None)`` removes ``i``, ``(None, j)`` adds (or moves) ``j``."""


def _align(
    old: list[Any], new: list[Any], before: Sequence[bytes], after: Sequence[bytes]
) -> tuple[_Plan, dict[int, int]]:
    """The alignment of two unnamed lists, and the moves: new index → old index.

    ``before`` and ``after`` are the elements' canonical JSON. An element removed
    in one place and added unchanged in another moved there; the others are then
    aligned again without the moved ones, which may have split runs that now
    pair up.
    """
    plan = _content_plan(old, new, before, after)
    gone: dict[bytes, list[int]] = {}
    for i, j in plan:
        if j is None and i is not None:
            gone.setdefault(before[i], []).append(i)
    source = {
        j: gone[after[j]].pop(0)
        for i, j in plan
        if i is None and j is not None and gone.get(after[j])
    }
    if not source:
        return plan, source
    moved = set(source.values())
    olds = [i for i in range(len(old)) if i not in moved]
    news = [j for j in range(len(new)) if j not in source]
    rest = _content_plan(
        [old[i] for i in olds],
        [new[j] for j in news],
        [before[i] for i in olds],
        [after[j] for j in news],
    )
    targets = sorted(source)
    plan = []
    for a, b in rest:
        j = None if b is None else news[b]
        while targets and j is not None and targets[0] < j:
            plan.append((None, targets.pop(0)))  # a moved element lands here
        plan.append((None if a is None else olds[a], j))
    plan += [(None, j) for j in targets]
    return plan, source


def _content_plan(
    old: list[Any], new: list[Any], before: Sequence[bytes], after: Sequence[bytes]
) -> _Plan:
    """The alignment of two unnamed lists by content, then (in replaced runs) by
    identity, as :data:`_Plan` says; no moves yet."""
    plan: _Plan = []
    for tag, i1, i2, j1, j2 in _opcodes(before, after):
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1 == 1):
            plan += zip(range(i1, i2), range(j1, j2), strict=True)
            continue
        if tag != "replace":
            plan += [(i, None) for i in range(i1, i2)]
            plan += [(None, j) for j in range(j1, j2)]
            continue
        # A replaced run: align it again by the elements' identities.
        left = [_identity(old[i], ("old", i)) for i in range(i1, i2)]
        right = [_identity(new[j], ("new", j)) for j in range(j1, j2)]
        for sub, a1, a2, b1, b2 in _opcodes(left, right):
            olds, news = range(i1 + a1, i1 + a2), range(j1 + b1, j1 + b2)
            if sub == "equal" or len(olds) == len(news):
                plan += zip(olds, news, strict=True)
            else:
                plan += [(i, None) for i in olds]
                plan += [(None, j) for j in news]
    return plan


_PLACEHOLDER = re.compile(re.escape(PLACEHOLDER_PREFIX.encode()) + rb"[0-9a-f]+\]")


def _unkeyed(encoded: Sequence[bytes]) -> list[bytes]:
    """Canonical JSON with every masked placeholder the same."""
    return [_PLACEHOLDER.sub(b"[masked]", item) for item in encoded]


def _opcodes(
    before: Sequence[Hashable], after: Sequence[Hashable]
) -> Sequence[tuple[str, int, int, int, int]]:
    """How two sequences align, as :meth:`difflib.SequenceMatcher.get_opcodes`
    gives it: the longest run of equal elements first, then the same on each
    side of it. Its default heuristic is kept: in a list of 200 elements or
    more, an element repeated in over 1% of it does not start a run (it may
    extend one), which keeps long, repetitive lists fast."""
    return difflib.SequenceMatcher(None, before, after).get_opcodes()


def _identity(item: Any, otherwise: Hashable) -> Hashable:
    """What an element is, whatever its content: its ``name``, ``id`` or ``key``,
    else the action a GitHub Actions step ``uses`` (without the ``@ref``);
    ``otherwise`` (a value no other element has) when it has none."""
    if type(item) is dict:
        for key in NAME_KEYS:
            name = item.get(key)
            if type(name) in (str, int):
                return (key, name)
        uses = item.get("uses")
        if type(uses) is str:
            return ("uses", uses.partition("@")[0])
    return otherwise


def _moved(before: Sequence[Any], after: Sequence[Any]) -> set[Any]:
    """The fewest elements whose moving turns ``before`` into ``after``: those
    outside a longest common subsequence (both hold the same elements)."""
    position = {name: i for i, name in enumerate(before)}
    sequence = [position[name] for name in after]
    # Longest increasing subsequence of old positions, in O(n log n).
    tails: list[int] = []
    tail_at: list[int] = []
    previous = [-1] * len(sequence)
    for i, value in enumerate(sequence):
        low, high = 0, len(tails)
        while low < high:
            middle = (low + high) // 2
            if tails[middle] < value:
                low = middle + 1
            else:
                high = middle
        if low == len(tails):
            tails.append(value)
            tail_at.append(i)
        else:
            tails[low] = value
            tail_at[low] = i
        previous[i] = tail_at[low - 1] if low else -1
    keep = set()
    i = tail_at[-1] if tail_at else -1
    while i != -1:
        keep.add(after[i])
        i = previous[i]
    return {name for name in after if name not in keep}


def _within(pointers: list[str], at: str) -> list[str]:
    """The pointers (sorted) that are ``at`` or below it."""
    here = bisect.bisect_left(pointers, at)
    found = [at] if here < len(pointers) and pointers[here] == at else []
    start = bisect.bisect_left(pointers, at + "/")
    end = bisect.bisect_left(pointers, at + "0")  # "0" follows "/" in code point order
    return found + pointers[start:end]


def _secret_change(before: tuple[str, ...] | None, after: tuple[str, ...] | None) -> str | None:
    if before is None and after is None:
        return None
    if before is None:
        return "added"
    if after is None:
        return "removed"
    return None if before == after else "changed"
