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
changed. Where the snapshots' payload format is one :data:`SHAPES` knows (the
manifest's ``adapter``: ``github-actions``, ``argo``, ``tekton``, ``devtron``),
nodes are found where that format keeps them (a GitHub job is a key of
``jobs``); otherwise by generic rules (an element of a list named ``steps``,
``tasks``...).
"""

from __future__ import annotations

import bisect
import difflib
import marshal
import re
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from wfaudit_hookspecs import Manifest, Snapshot, SnapshotRef, canonical_json

from .masking import PLACEHOLDER_PREFIX

__all__ = [
    "SECRET_STATUSES",
    "SHAPES",
    "Change",
    "DiffSummary",
    "NodeChanges",
    "SecretSummary",
    "Shape",
    "SnapshotDiff",
    "TextHunk",
    "apply_changes",
    "diff_configs",
    "diff_snapshots",
    "is_multiline",
    "line_diff",
    "shape_of",
    "summarize",
]

_MISSING = object()
NAME_KEYS = ("name", "id", "key")
"""Keys that name the elements of a list of objects, in order of preference."""


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


def diff_snapshots(a: Snapshot, b: Snapshot) -> SnapshotDiff:
    """Compare two snapshots' masked configs."""
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
        summary=summarize(changes, shape_of(a.manifest, b.manifest)),
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


# -- summary ---------------------------------------------------------------------------

_STEP_LISTS = {
    "steps", "tasks", "jobs", "templates", "nodes", "stages", "finally",
    "prepostdeploysteps", "precisteps", "postcisteps",
}  # fmt: skip
_CONNECTIONS = frozenset(
    {"dependencies", "depends", "needs", "runafter", "when", "targets", "next"}
)
_VARIABLES = {
    "env", "vars", "variables", "parameters", "params", "arguments", "inputs", "with",
    "inputvars", "outputvars", "runtimeenvironmentvariables", "envfrom",
}  # fmt: skip
_IMAGE_TAGS = {"imagetag", "dockerimagetag", "tag"}
_COMMIT = re.compile(r"^(commit(hash|sha|id)?|sha|revision|gitcommit|ref)$")

Pattern = tuple[str, ...]
"""A node's pointer as tokens (see :class:`Shape`)."""


@attrs.frozen(kw_only=True)
class Shape:
    """Where one payload format keeps its nodes, and what connects them.

    :ivar nodes: ``(kind, pattern)`` pairs, outer kinds first. A pattern is a
        node's pointer as tokens, lower-cased, without ``-`` and ``_``
        (``pipelineSpec`` is ``pipelinespec``): ``*`` stands for any key of a
        mapping, ``#`` for any index of a list.
    :ivar connections: keys (as tokens) whose change is a change of the
        dependencies between nodes.
    :ivar documents: payloads are Kubernetes objects: one object, a list of
        them (``/0/...``) or a ``v1`` ``List`` (``/items/0/...``); the patterns
        apply within each object.
    """

    nodes: tuple[tuple[str, Pattern], ...]
    connections: frozenset[str]
    documents: bool = False

    @property
    def kinds(self) -> list[str]:
        """The kinds of node, outer ones first."""
        return list(dict.fromkeys(kind for kind, _ in self.nodes))


def _nodes(
    kinds: Sequence[tuple[str, Sequence[Pattern]]], bases: Sequence[Pattern] = ((),)
) -> tuple[tuple[str, Pattern], ...]:
    """Each kind's patterns under each base."""
    return tuple((kind, base + tail) for base in bases for kind, tails in kinds for tail in tails)


SHAPES: Mapping[str, Shape] = {
    # jobs.<id> (the workflow's nodes, joined by needs), each with a list of
    # steps; the workflow bare or wrapped with its run's contexts.
    "github-actions": Shape(
        nodes=_nodes(
            [("job", [("jobs", "*")]), ("step", [("jobs", "*", "steps", "#")])],
            bases=((), ("workflow",)),
        ),
        connections=frozenset({"needs"}),
    ),
    # The templates of a Workflow, a template or a CronWorkflow's workflowSpec;
    # a DAG template's tasks (joined by dependencies or depends); the steps of a
    # steps template's parallel groups.
    "argo": Shape(
        nodes=_nodes(
            [
                ("template", [("templates", "#")]),
                ("task", [("templates", "#", "dag", "tasks", "#")]),
                ("step", [("templates", "#", "steps", "#", "#")]),
            ],
            bases=(("spec",), ("spec", "workflowspec")),
        ),
        connections=frozenset({"dependencies", "depends"}),
        documents=True,
    ),
    # The tasks and finally tasks of a Pipeline or of a PipelineRun's
    # pipelineSpec (joined by runAfter) and their embedded steps; the steps of
    # a Task or of a TaskRun's taskSpec.
    "tekton": Shape(
        nodes=_nodes(
            [
                ("task", [("tasks", "#"), ("finally", "#")]),
                (
                    "step",
                    [
                        ("tasks", "#", "taskspec", "steps", "#"),
                        ("finally", "#", "taskspec", "steps", "#"),
                    ],
                ),
            ],
            bases=(("spec",), ("spec", "pipelinespec")),
        )
        + _nodes([("step", [("spec", "steps", "#"), ("spec", "taskspec", "steps", "#")])]),
        connections=frozenset({"runafter"}),
        documents=True,
    ),
    # The steps of a Devtron request's stages.
    "devtron": Shape(
        nodes=_nodes(
            [("step", [("precisteps", "#"), ("postcisteps", "#"), ("prepostdeploysteps", "#")])]
        ),
        connections=_CONNECTIONS,
    ),
}
"""The shapes of the payload formats the summary knows, by the name a snapshot's
manifest gives as its ``adapter``. Another format is summarized by generic
rules: a node is an element of a list named ``steps``, ``tasks``, ``jobs``,
``templates``, ``nodes``, ``stages``... (the outermost one on the path)."""


def shape_of(old: Manifest | None, new: Manifest | None) -> str | None:
    """The payload format both snapshots were read as (their manifests'
    ``adapter``), or None when they differ or neither names one."""
    first = old.adapter if old is not None else None
    second = new.adapter if new is not None else None
    return second if first == second else None


def _normal(token: str) -> str:
    return token.lower().replace("_", "").replace("-", "")


def _fits(pattern: Pattern, tokens: Sequence[str]) -> bool:
    """True when ``tokens`` start like ``pattern`` (as far as either goes)."""
    size = min(len(pattern), len(tokens))
    return all(
        want == token or want == "*" or (want == "#" and token.isdigit())
        for want, token in zip(pattern[:size], tokens[:size], strict=True)
    )


def _document(shape: Shape, tokens: Sequence[str]) -> int:
    """How many tokens name the Kubernetes object a path is in (``/0``, ``/items/0``)."""
    if not shape.documents or not tokens:
        return 0
    if tokens[0].isdigit():
        return 1
    return 2 if tokens[0] == "items" and len(tokens) > 1 and tokens[1].isdigit() else 0


def _node_at(shape: Shape | None, tokens: Sequence[str]) -> tuple[str, int] | None:
    """The kind of the node holding the path (or at it), and the length of the
    node's pointer in tokens: the innermost node of a shape, the outermost
    element of a step list by the generic rules."""
    if shape is None:
        step = next(
            (i for i, t in enumerate(tokens[:-1]) if t in _STEP_LISTS and tokens[i + 1].isdigit()),
            None,
        )
        return None if step is None else ("step", step + 2)
    skip = _document(shape, tokens)
    inside = tokens[skip:]
    found = [
        (len(pattern), kind)
        for kind, pattern in shape.nodes
        if len(pattern) <= len(inside) and _fits(pattern, inside)
    ]
    if not found:
        return None
    size, kind = max(found, key=lambda item: item[0])
    return kind, skip + size


def _nodes_below(shape: Shape, tokens: Sequence[str], value: Any) -> dict[str, int]:
    """The nodes inside a value added or removed at a path above them (a
    ``jobs`` mapping, a Kubernetes object, an Argo group of parallel steps):
    the outermost ones, counted by kind."""
    inside = tokens[_document(shape, tokens) :]
    found: list[tuple[tuple[str, ...], str]] = []
    for kind, pattern in shape.nodes:
        if len(pattern) > len(inside) and _fits(pattern, inside):
            found += [(at, kind) for at in _find(value, pattern[len(inside) :], ())]
    counts: dict[str, int] = {}
    kept: list[tuple[str, ...]] = []
    for at, kind in sorted(found, key=lambda item: len(item[0])):
        if any(at[: len(outer)] == outer for outer in kept):
            continue  # inside a node already counted
        kept.append(at)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _find(value: Any, pattern: Pattern, at: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The places in ``value`` that ``pattern`` names."""
    if not pattern:
        yield at
        return
    want, rest = pattern[0], pattern[1:]
    if type(value) is dict and want != "#":
        for key, child in value.items():
            if want in ("*", _normal(str(key))):
                yield from _find(child, rest, (*at, str(key)))
    elif type(value) is list and want == "#":
        for index, child in enumerate(value):
            yield from _find(child, rest, (*at, str(index)))


def summarize(changes: Sequence[Change], adapter: str | None = None) -> DiffSummary:
    """Classify changes by the names on their paths.

    :param adapter: the payload format of both snapshots (:func:`shape_of`):
        where :data:`SHAPES` has it, nodes are found where that format keeps
        them; otherwise (or None) by the generic rules.
    """
    shape = SHAPES.get(adapter) if adapter is not None else None
    connections = shape.connections if shape is not None else _CONNECTIONS
    kinds = shape.kinds if shape is not None else ["step"]
    counts = {kind: {"added": 0, "removed": 0, "moved": 0} for kind in kinds}
    modified: dict[str, set[tuple[str, ...]]] = {kind: set() for kind in kinds}
    flags = dict.fromkeys(
        ("connections", "variables", "images", "commit", "secrets", "settings"), False
    )
    for change in changes:
        raw = change.path.split("/")[1:]
        tokens = [_normal(t) for t in raw]
        if change.secret is not None:
            flags["secrets"] = True
        node = _node_at(shape, tokens)
        exact = node is not None and node[1] == len(tokens)
        if node is not None and exact and change.op in counts[node[0]]:
            counts[node[0]][change.op] += 1
            continue
        if not exact and shape is not None and change.op in ("added", "removed"):
            # A value above nodes (a jobs mapping, an object, a job's steps list):
            # the nodes in it were added or removed.
            below = _nodes_below(shape, tokens, change.new if change.op == "added" else change.old)
            for kind, count in below.items():
                counts[kind][change.op] += count
            if below:
                continue
        if node is not None:
            modified[node[0]].add(tuple(raw[: node[1]]))
        if any(t in connections for t in tokens):
            flags["connections"] = True
        elif any(t in _VARIABLES for t in tokens):
            flags["variables"] = True
        elif tokens and (tokens[-1].endswith("image") or tokens[-1] in _IMAGE_TAGS):
            flags["images"] = True
        elif tokens and _COMMIT.match(tokens[-1]):
            flags["commit"] = True
        elif node is None and change.secret is None:
            flags["settings"] = True
    nodes = tuple(
        NodeChanges(kind=kind, modified=len(modified[kind]), **counts[kind]) for kind in kinds
    )
    return DiffSummary(
        steps_added=sum(n.added for n in nodes),
        steps_removed=sum(n.removed for n in nodes),
        steps_modified=sum(n.modified for n in nodes),
        steps_moved=sum(n.moved for n in nodes),
        connections_changed=flags["connections"],
        variables_changed=flags["variables"],
        images_changed=flags["images"],
        commit_changed=flags["commit"],
        secrets_changed=flags["secrets"],
        settings_changed=flags["settings"],
        nodes=tuple(n for n in nodes if n.added or n.removed or n.modified or n.moved),
    )


# -- applying a diff ---------------------------------------------------------------------


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
