"""Structured diffs: exact on the corpus history, moves as moves, secrets as fingerprints."""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import itertools
import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from tests.conftest import KeyNameMasker
from wfaudit import Auditor
from wfaudit.diff import (
    SECRET_STATUSES,
    Change,
    SnapshotDiff,
    apply_changes,
    diff_configs,
    line_diff,
    shape_for,
    shape_of,
    summarize,
)
from wfaudit.history_render import diff_header, side_by_side, unified_lines
from wfaudit.loading import load_payload
from wfaudit.plugins import make_plugin_manager
from wfaudit.testing import find_secrets
from wfaudit_hookspecs import (
    DiffShape,
    Manifest,
    PluginError,
    Snapshot,
    TriggerRequest,
    hookimpl,
)
from wfaudit_hookspecs.shapes import shape_nodes

HISTORY = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus" / "history"
SERIES = sorted(p for p in HISTORY.iterdir() if p.is_dir()) if HISTORY.is_dir() else []


# -- an independent model of a minimal diff, for the corpus ------------------------
#
# Written from the two parsed files alone, without wfaudit.diff: nodes are paired
# (objects key by key; lists of uniquely named objects by name; other lists by
# difflib over each element's json.dumps(sort_keys=True), a replaced run again by
# the elements' identities, equal-length runs element-wise), and what is left is
# a change at the first node where the two files part.

NAMES = ("name", "id", "key")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _resolve(document: Any, pointer: str) -> Any:
    """The node at a JSON pointer (an assertion fails when there is none)."""
    node = document
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise AssertionError(f"no node at {pointer}") from None
    return node


def _json(value: Any) -> str:
    """A value with its types (``1``, ``1.0`` and ``true`` differ), key order aside."""
    return json.dumps(value, sort_keys=True)


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list)


def _leaves(value: Any, pointer: str) -> set[str]:
    """The pointers of the scalars (and empty containers) in ``value``."""
    if isinstance(value, dict) and value:
        return {p for k, v in value.items() for p in _leaves(v, f"{pointer}/{_escape(k)}")}
    if isinstance(value, list) and value:
        return {p for i, v in enumerate(value) for p in _leaves(v, f"{pointer}/{i}")}
    return {pointer}


def _unique_name(old: list[Any], new: list[Any]) -> str | None:
    """The key under which every element of both (non-empty) lists has a name
    (text or a whole number) unique in its list."""
    if not old or not new:
        return None
    for key in NAMES:
        names = [
            [item.get(key) if isinstance(item, dict) else None for item in side]
            for side in (old, new)
        ]
        if all(
            isinstance(n, str | int) and not isinstance(n, bool) for side in names for n in side
        ) and all(len(set(side)) == len(side) for side in names):
            return key
    return None


def _identity(item: Any, otherwise: str) -> str:
    """An element's name, id or key, else the action it uses (without the ref)."""
    if isinstance(item, dict):
        for key in NAMES:
            value = item.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return json.dumps([key, value])
        if isinstance(item.get("uses"), str):
            return json.dumps(["uses", item["uses"].split("@")[0]])
    return otherwise


def _lcs(a: list[Any], b: list[Any]) -> int:
    """The length of a longest common subsequence (dynamic programming)."""
    row = [0] * (len(b) + 1)
    for x in a:
        previous, row = row, [0]
        for j, y in enumerate(b):
            row.append(previous[j] + 1 if x == y else max(previous[j + 1], row[j]))
    return row[-1]


class Expected:
    """The changes a minimal diff of ``old`` to ``new`` reports."""

    def __init__(self, old: Any, new: Any) -> None:
        self.changes: set[tuple[str, str]] = set()  # (op, path): added, removed, modified
        self.moves: set[tuple[str, str]] = set()  # (path, from) in lists aligned by content
        self.named_moves: dict[str, int] = {}  # list path (new) -> fewest moves by name
        self.old_of: dict[str, str] = {}  # paired nodes: new pointer -> old pointer
        self.new_of: dict[str, str] = {}
        self._compare(old, new, "", "")

    def _compare(self, old: Any, new: Any, at_old: str, at_new: str) -> None:
        self.old_of[at_new], self.new_of[at_old] = at_old, at_new
        if old == new and _json(old) == _json(new):
            return  # nothing below changed (``==`` alone finds 1 and true equal)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in old.keys() | new.keys():
                token = "/" + _escape(key)
                if key not in new:
                    self.changes.add(("removed", at_old + token))
                elif key not in old:
                    self.changes.add(("added", at_new + token))
                else:
                    self._compare(old[key], new[key], at_old + token, at_new + token)
        elif isinstance(old, list) and isinstance(new, list):
            name = _unique_name(old, new)
            pairs, gone, came = (
                self._by_name(old, new, name, at_new)
                if name
                else self._by_content(old, new, at_old, at_new)
            )
            self.changes |= {("removed", f"{at_old}/{i}") for i in gone}
            self.changes |= {("added", f"{at_new}/{j}") for j in came}
            for i, j in pairs:
                self._compare(old[i], new[j], f"{at_old}/{i}", f"{at_new}/{j}")
        elif _json(old) != _json(new):
            self.changes.add(("modified", at_new))

    def _by_name(
        self, old: list[Any], new: list[Any], name: str, at_new: str
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        where = {item[name]: i for i, item in enumerate(old)}
        pairs = [(where[item[name]], j) for j, item in enumerate(new) if item[name] in where]
        kept = {item[name] for item in new}
        shared_old = [item[name] for item in old if item[name] in kept]
        shared_new = [new[j][name] for _, j in pairs]
        self.named_moves[at_new] = len(pairs) - _lcs(shared_old, shared_new)
        gone = [i for i, item in enumerate(old) if item[name] not in kept]
        return pairs, gone, [j for j, item in enumerate(new) if item[name] not in where]

    def _by_content(
        self, old: list[Any], new: list[Any], at_old: str, at_new: str
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        before, after = [_json(x) for x in old], [_json(x) for x in new]
        pairs, gone, came = _align(old, new, before, after)
        # An unchanged element taken out in one place and put in another moved;
        # the others are aligned again without it.
        moves: dict[int, int] = {}  # new index -> old index
        for j in came:
            source = next(
                (i for i in gone if before[i] == after[j] and i not in moves.values()), None
            )
            if source is not None:
                moves[j] = source
        if not moves:
            return pairs, gone, came
        olds = [i for i in range(len(old)) if i not in moves.values()]
        news = [j for j in range(len(new)) if j not in moves]
        pairs, gone, came = _align(
            [old[i] for i in olds],
            [new[j] for j in news],
            [before[i] for i in olds],
            [after[j] for j in news],
        )
        self.moves |= {(f"{at_new}/{j}", f"{at_old}/{i}") for j, i in moves.items()}
        return (
            [(olds[i], news[j]) for i, j in pairs] + [(i, j) for j, i in moves.items()],
            [olds[i] for i in gone],
            [news[j] for j in came],
        )


def _align(
    old: list[Any], new: list[Any], before: list[str], after: list[str]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs, old elements left alone, new ones: difflib over the elements'
    JSON, a replaced run again over their identities, equal-length runs pairing up."""
    pairs: list[tuple[int, int]] = []
    gone: list[int] = []
    came: list[int] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after).get_opcodes():
        if tag == "equal":
            pairs += zip(range(i1, i2), range(j1, j2), strict=True)
        elif tag != "replace":
            gone += range(i1, i2)
            came += range(j1, j2)
        else:
            left = [_identity(old[i], f"\0old {i}") for i in range(i1, i2)]
            right = [_identity(new[j], f"\0new {j}") for j in range(j1, j2)]
            for sub, a1, a2, b1, b2 in difflib.SequenceMatcher(None, left, right).get_opcodes():
                if sub == "equal" or a2 - a1 == b2 - b1:
                    pairs += zip(range(i1 + a1, i1 + a2), range(j1 + b1, j1 + b2), strict=True)
                else:
                    gone += range(i1 + a1, i1 + a2)
                    came += range(j1 + b1, j1 + b2)
    return pairs, gone, came


def _covered(ops: set[tuple[str, str]], old: Any, new: Any) -> set[tuple[str, str]]:
    """The leaves of both files that changes cover: ``-`` old, ``+`` new, ``~`` both."""
    out: set[tuple[str, str]] = set()
    for op, path in ops:
        if op == "added":
            out |= {("+", p) for p in _leaves(_resolve(new, path), path)}
        elif op == "removed":
            out |= {("-", p) for p in _leaves(_resolve(old, path), path)}
        else:
            out.add(("~", path))
    return out


def _absent(path: str, counterpart: dict[str, str], other: Any) -> bool:
    """True when the node at ``path`` has nothing facing it in the other file: its
    parent's counterpart lacks the key, or (a list element) it is paired with no
    element there."""
    parent, token = path.rsplit("/", 1)
    if parent not in counterpart:
        return False  # the parent itself faces nothing: the change is too fine
    facing = _resolve(other, counterpart[parent])
    if isinstance(facing, dict):
        return token.replace("~1", "/").replace("~0", "~") not in facing
    return isinstance(facing, list) and path not in counterpart


def check_exact(old: Any, new: Any, changes: list[Change]) -> None:
    """Assert that ``changes`` is the minimal, complete diff of ``old`` to ``new``."""
    # (a) Complete: the changes rebuild the newer file, types included.
    assert _json(apply_changes(old, changes)) == _json(new)
    expected = Expected(old, new)
    reported = [(c.op, c.path, c.from_path) for c in changes]
    assert len(set(reported)) == len(reported), "a change is reported twice"
    # (b) Minimal: a modification is of a value, or of a value's type; what is
    # added or removed really has nothing facing it in the other file.
    for change in changes:
        if change.op == "modified":
            assert change.path in expected.old_of, change
            before = _resolve(old, expected.old_of[change.path])
            after = _resolve(new, change.path)
            assert (_json(before), _json(after)) == (_json(change.old), _json(change.new))
            assert _json(before) != _json(after)
            whole = _is_container(before) and type(before) is type(after)
            assert not whole, f"{change.path}: a whole container reported as modified"
        elif change.op == "added":
            assert _json(_resolve(new, change.path)) == _json(change.new)
            assert _absent(change.path, expected.old_of, old), change.path
        elif change.op == "removed":
            assert _json(_resolve(old, change.path)) == _json(change.old)
            assert _absent(change.path, expected.new_of, new), change.path
        else:
            assert change.op == "moved" and expected.old_of.get(change.path) == change.from_path
    # (c) Exact: the leaves the changes cover are those the model finds changed.
    ops = {(c.op, c.path) for c in changes if c.op != "moved"}
    assert _covered(ops, old, new) == _covered(expected.changes, old, new)
    moves = {(c.path, c.from_path or "") for c in changes if c.op == "moved"}
    by_content = {m for m in moves if m in expected.moves}
    assert by_content == expected.moves
    by_name: dict[str, int] = {}
    for path, _ in moves - by_content:
        by_name[path.rsplit("/", 1)[0]] = by_name.get(path.rsplit("/", 1)[0], 0) + 1
    assert by_name == {k: n for k, n in expected.named_moves.items() if n}


@functools.cache
def _versions(series: pathlib.Path) -> tuple[tuple[pathlib.Path, str], ...]:
    """The series' files, parsed once per test session (kept as JSON text, so
    that no test can change another's data)."""
    return tuple(
        (path, json.dumps(load_payload(str(path)))) for path in sorted(series.glob("*.yml"))
    )


def _corpus_pairs(series: pathlib.Path) -> Iterator[tuple[str, Any, Any]]:
    paths = [path for path, _ in _versions(series)]
    assert len(paths) >= 2
    versions = [json.loads(text) for _, text in _versions(series)]
    for (_, old), (path, new) in itertools.pairwise(zip(paths, versions, strict=True)):
        yield path.name, old, new


@pytest.mark.skipif(not SERIES, reason="../shared/corpus/history is not there")
@pytest.mark.parametrize("series", SERIES, ids=lambda p: p.name)
def test_consecutive_versions_diff_exactly(series: pathlib.Path) -> None:
    """Every consecutive pair of every series: complete, minimal and exact."""
    checked = 0
    for name, old, new in _corpus_pairs(series):
        try:
            check_exact(old, new, diff_configs(old, new))
        except AssertionError as error:
            raise AssertionError(f"{series.name} -> {name}: {error}") from error
        checked += 1
    assert checked == len(list(series.glob("*.yml"))) - 1


def _top_level(old: Any, new: Any) -> list[Change]:
    """A coarse stand-in: one change per top-level key that differs."""
    return [
        Change(op="modified", path=f"/{_escape(k)}", old=old[k], new=new[k])
        if k in old and k in new
        else Change(op="added", path=f"/{_escape(k)}", new=new[k])
        if k in new
        else Change(op="removed", path=f"/{_escape(k)}", old=old[k])
        for k in sorted(old.keys() | new.keys())
        if _json(old.get(k)) != _json(new.get(k))
    ]


def _by_index(old: Any, new: Any, at: str = "") -> list[Change]:
    """A naive stand-in: lists compared index by index (the diff before issue #6)."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(old.keys() | new.keys())
        return [
            c
            for k in keys
            for c in _by_index(old.get(k, ...), new.get(k, ...), f"{at}/{_escape(k)}")
        ]
    if isinstance(old, list) and isinstance(new, list):
        size = max(len(old), len(new))
        return [
            c
            for i in range(size)
            for c in _by_index(
                old[i] if i < len(old) else ..., new[i] if i < len(new) else ..., f"{at}/{i}"
            )
        ]
    if old is ...:
        return [Change(op="added", path=at, new=new)]
    if new is ...:
        return [Change(op="removed", path=at, old=old)]
    return [Change(op="modified", path=at, old=old, new=new)] if _json(old) != _json(new) else []


@pytest.mark.skipif(not SERIES, reason="../shared/corpus/history is not there")
@pytest.mark.parametrize(
    "coarse",
    [
        lambda old, new: [Change(op="modified", path="", old=old, new=new)],
        _top_level,
        _by_index,
        lambda old, new: [c for c in diff_configs(old, new) if c.op != "added"],  # incomplete
    ],
    ids=["whole-document", "top-level-keys", "index-by-index", "incomplete"],
)
def test_the_exactness_check_rejects_a_coarse_diff(
    coarse: Callable[[Any, Any], list[Change]],
) -> None:
    """The check of the corpus test fails, on every pair where it reports
    differently, for diffs that rebuild the file but report too coarsely (or
    leave changes out)."""
    rejected = 0
    for series in SERIES:
        for _, old, new in _corpus_pairs(series):
            wrong = coarse(old, new)
            if {(c.op, c.path) for c in wrong} != {(c.op, c.path) for c in diff_configs(old, new)}:
                with pytest.raises(AssertionError):
                    check_exact(old, new, wrong)
                rejected += 1
    assert rejected >= 20


def test_steps_moved_in_a_list_are_moves() -> None:
    old = {"jobs": {"test": {"steps": [{"name": n, "run": f"make {n}"} for n in "abcde"]}}}
    new = copy.deepcopy(old)
    steps = new["jobs"]["test"]["steps"]
    steps.insert(0, steps.pop(3))  # d moves to the front
    steps[2]["run"] = "make b --fast"
    changes = diff_configs(old, new)
    assert [(c.op, c.path, c.from_path) for c in changes] == [
        ("moved", "/jobs/test/steps/0", "/jobs/test/steps/3"),
        ("modified", "/jobs/test/steps/2/run", None),
    ]
    assert apply_changes(old, changes) == new
    check_exact(old, new, changes)
    summary = summarize(changes)
    assert (summary.steps_moved, summary.steps_modified, summary.steps_added) == (1, 1, 0)


def test_inserting_a_step_does_not_modify_the_later_ones() -> None:
    old = {"steps": [{"name": "build"}, {"name": "test"}, {"name": "push"}]}
    new = {"steps": [{"name": "build"}, {"name": "lint"}, {"name": "test"}, {"name": "push"}]}
    changes = diff_configs(old, new)
    assert [(c.op, c.path) for c in changes] == [("added", "/steps/1")]
    assert summarize(changes).words() == "1 step added"


def test_an_unnamed_step_inserted_or_removed_is_one_change() -> None:
    steps = [{"uses": "actions/checkout@v4"}, {"run": "make"}, {"run": "make test"}]
    old = {"jobs": {"test": {"steps": steps}}}
    new = copy.deepcopy(old)
    new["jobs"]["test"]["steps"].insert(1, {"run": "make lint"})
    changes = diff_configs(old, new)
    assert [(c.op, c.path) for c in changes] == [("added", "/jobs/test/steps/1")]
    assert [(c.op, c.path) for c in diff_configs(new, old)] == [("removed", "/jobs/test/steps/1")]
    check_exact(old, new, changes)
    assert summarize(changes).words() == "1 step added"


def test_a_replaced_run_pairs_steps_by_name_or_action() -> None:
    old = {"steps": [{"uses": "actions/checkout@v3"}, {"uses": "actions/setup-go@v4"}]}
    new = {
        "steps": [
            {"uses": "actions/checkout@v4"},
            {"uses": "actions/cache@v1"},
            {"uses": "actions/setup-go@v5", "with": {"go-version": "1.23"}},
        ]
    }
    changes = diff_configs(old, new)
    assert [(c.op, c.path) for c in changes] == [
        ("modified", "/steps/0/uses"),
        ("added", "/steps/1"),
        ("modified", "/steps/2/uses"),
        ("added", "/steps/2/with"),
    ]
    check_exact(old, new, changes)
    # Without a common identity, runs of equal length pair up; others do not.
    assert [(c.op, c.path) for c in diff_configs([1, 2, 3], [1, 5, 3])] == [("modified", "/1")]
    assert [(c.op, c.path) for c in diff_configs(["a", "b", "c"], ["a", "x", "y", "c"])] == [
        ("removed", "/1"),
        ("added", "/1"),
        ("added", "/2"),
    ]


def test_an_unnamed_step_moved_is_a_move() -> None:
    old = {"steps": [{"run": "make"}, {"run": "make test"}, {"run": "make lint"}]}
    new = {"steps": [{"run": "make lint"}, {"run": "make"}, {"run": "make test --fast"}]}
    changes = diff_configs(old, new)
    assert [(c.op, c.path, c.from_path) for c in changes] == [
        ("moved", "/steps/0", "/steps/2"),
        ("modified", "/steps/2/run", None),
    ]
    check_exact(old, new, changes)
    assert apply_changes(old, changes) == new


def _latest(series: str) -> Any:
    return json.loads(_versions(HISTORY / series)[-1][1])


@pytest.mark.skipif(not SERIES, reason="../shared/corpus/history is not there")
def test_steps_moved_in_a_real_workflow_are_single_moves() -> None:
    """The corpus has no move between versions; these are made from its files."""
    old = _latest("prometheus__prometheus__ci.yml")
    # golangci: every step named, matched by name.
    named = copy.deepcopy(old)
    steps = named["jobs"]["golangci"]["steps"]
    steps.insert(1, steps.pop(5))  # "Lint with slicelabels" before "Install Go"
    changes = diff_configs(old, named)
    assert [(c.op, c.path, c.from_path) for c in changes] == [
        ("moved", "/jobs/golangci/steps/1", "/jobs/golangci/steps/5")
    ]
    check_exact(old, named, changes)
    # test_go: unnamed steps, aligned by content.
    unnamed = copy.deepcopy(old)
    steps = unnamed["jobs"]["test_go"]["steps"]
    steps.append(steps.pop(2))
    changes = diff_configs(old, unnamed)
    assert [(c.op, c.path, c.from_path) for c in changes] == [
        ("moved", f"/jobs/test_go/steps/{len(steps) - 1}", "/jobs/test_go/steps/2")
    ]
    check_exact(old, unnamed, changes)
    for moved in (named, unnamed):
        summary = summarize(diff_configs(old, moved))
        assert (summary.steps_moved, summary.steps_added, summary.steps_removed) == (1, 0, 0)


@pytest.mark.skipif(not SERIES, reason="../shared/corpus/history is not there")
def test_real_insertions_of_unnamed_steps() -> None:
    """Two pairs of the review: index by index they gave 19 and 85 changes."""
    tokio = dict(_versions(HISTORY / "tokio-rs__tokio__ci.yml"))
    old, new = (json.loads(text) for path, text in tokio.items() if path.name[:3] in ("014", "015"))
    changes = diff_configs(old, new)
    assert [(c.op, c.path) for c in changes] == [("added", "/jobs/test-uring/steps/0")]
    prometheus = dict(_versions(HISTORY / "prometheus__prometheus__ci.yml"))
    old, new = (
        json.loads(text) for path, text in prometheus.items() if path.name[:3] in ("019", "020")
    )
    changes = diff_configs(old, new)
    assert not [c for c in changes if c.op == "modified"]  # no step after an edit "modified"
    # In each of ten jobs, two promci steps became one promci-setup (or build) step.
    assert sum(c.op == "removed" for c in changes) == 20
    assert sum(c.op == "added" for c in changes) == 11


def test_env_entries_are_matched_by_name() -> None:
    old = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    new = {"env": [{"name": "B", "value": "3"}, {"name": "A", "value": "1"}]}
    changes = diff_configs(old, new)
    assert ("modified", "/env/0/value") in [(c.op, c.path) for c in changes]
    assert apply_changes(old, changes) == new


def test_summary_words() -> None:
    old = {
        "image": "app:1",
        "commitHash": "a" * 40,
        "env": {"X": "1"},
        "timeout": 5,
        "needs": ["a"],
    }
    new = {
        "image": "app:2",
        "commitHash": "b" * 40,
        "env": {"X": "2"},
        "timeout": 6,
        "needs": ["b"],
    }
    assert (
        summarize(diff_configs(old, new)).words()
        == "dependencies, variables, image, commit, settings"
    )


def test_a_diff_where_only_a_secret_changed_reveals_nothing(
    make_auditor: Callable[..., Auditor],
) -> None:
    auditor = make_auditor(KeyNameMasker())
    first, second = "old-S3cret-Value-111", "new-S3cret-Value-222"
    base = {"registry": "registry.example.org", "password": first}
    auditor.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id=7, config=base)
    auditor.audit_trigger(
        workflow_id=2, workflow_type="CI", pipeline_id=7, config={**base, "password": second}
    )
    auditor.audit_trigger(
        workflow_id=3, workflow_type="CI", pipeline_id=7, config={**base, "password": second}
    )
    diff = auditor.diff(auditor.get_snapshot(1, "CI"), auditor.get_snapshot(2, "CI"))
    (change,) = diff.changes
    assert (change.path, change.secret) == ("/password", "changed")
    assert diff.summary.words() == "secrets"
    from wfaudit.render import to_json_data

    text = json.dumps(to_json_data(diff))
    assert not find_secrets([first, second], texts=[("diff", text), ("repr", repr(diff))])
    same = auditor.diff(auditor.get_snapshot(2, "CI"), auditor.get_snapshot(3, "CI"))
    assert same.identical and same.changes == ()


def test_a_secret_rotated_in_an_unnamed_step_is_told_apart_from_an_insertion(
    make_auditor: Callable[..., Auditor],
) -> None:
    """Unnamed steps align by content; a placeholder's fingerprint does not make
    the step holding a rotated secret a different step."""
    auditor = make_auditor(KeyNameMasker())
    first, second = "old-S3cret-Value-333", "new-S3cret-Value-444"

    def steps(password: str, inserted: bool) -> dict[str, Any]:
        listed = [{"run": "docker login", "password": password}, {"run": "make"}]
        return {"steps": ([{"run": "git fetch"}] if inserted else []) + listed}

    for number, (password, inserted) in enumerate(
        [(first, False), (second, True), (second, False)], start=1
    ):
        auditor.audit_trigger(
            workflow_id=number, workflow_type="CI", pipeline_id=9, config=steps(password, inserted)
        )
    rotated = auditor.diff(auditor.get_snapshot(1, "CI"), auditor.get_snapshot(2, "CI"))
    assert [(c.op, c.path, c.secret) for c in rotated.changes] == [
        ("added", "/steps/0", None),
        ("modified", "/steps/1/password", "changed"),
    ]
    assert rotated.summary.words() == "1 step added, 1 step modified, secrets"
    removed = auditor.diff(auditor.get_snapshot(2, "CI"), auditor.get_snapshot(3, "CI"))
    assert [(c.op, c.path, c.secret) for c in removed.changes] == [("removed", "/steps/0", None)]
    from wfaudit.render import to_json_data

    text = json.dumps(to_json_data(rotated)) + json.dumps(to_json_data(removed))
    assert not find_secrets([first, second], texts=[("diff", text), ("repr", repr(rotated))])


# -- the summary: nodes where the payload format keeps them --------------------------


def _version(series: str, number: int) -> Any:
    return next(
        json.loads(text)
        for path, text in _versions(HISTORY / series)
        if path.name.startswith(f"{number:03d}_")
    )


@pytest.mark.skipif(not SERIES, reason="../shared/corpus/history is not there")
def test_the_engine_summarizes_with_the_shape_the_adapter_declared(
    make_auditor: Callable[..., Auditor],
) -> None:
    """numpy's linux.yml, versions 001 and 002: the job aarch64_test appears. The
    ``ci`` plugin declares the github-actions shape (its own tests check the
    shape); the snapshots' manifests name the format, so the engine's diff and
    timeline count a job. The generic rules alone say ``settings``."""
    old, new = (_version("numpy__numpy__linux.yml", n) for n in (1, 2))
    changes = diff_configs(old, new)
    assert summarize(changes).words() == "settings"
    auditor = make_auditor(KeyNameMasker(), entry_points="sql,ci")
    assert set(auditor.plugin_manager.diff_shapes) >= {"github-actions", "devtron", "tekton"}
    for number, config in ((1, old), (2, new)):
        result = auditor.audit_trigger(
            workflow_id=number, workflow_type="CI", pipeline_id="numpy", config=config
        )
        assert result.ok, result.error
    diff = auditor.diff("1:CI", "2:CI")
    assert diff.summary.words() == "1 job added"
    assert [entry.changed for entry in auditor.timeline(pipeline_id="numpy")] == [
        "1 job added",
        "first snapshot",
    ]


class _PhasesAdapter:
    """A format whose nodes are the elements of ``phases``, declared with its shape."""

    shape = DiffShape(nodes=shape_nodes([("phase", [("phases", "#")])]))

    @hookimpl
    def wfaudit_payload_formats(self, register: Callable[..., None]) -> None:
        register("phases", ["CI"], "a list of phases", shape=self.shape)

    @hookimpl
    def wfaudit_pre_trigger(self, request: TriggerRequest) -> TriggerRequest | None:
        if not isinstance(request.config, dict) or "phases" not in request.config:
            return None
        return attrs.evolve(request, format="phases")


def test_a_shape_declared_through_the_hook_counts_that_formats_nodes(
    make_auditor: Callable[..., Auditor],
) -> None:
    old = {"phases": [{"name": "build"}], "on": "push"}
    new = {"phases": [{"name": "build"}, {"name": "test"}], "on": "push"}
    auditor = make_auditor(_PhasesAdapter(), KeyNameMasker(), entry_points="sql")
    assert auditor.plugin_manager.diff_shapes == {"phases": _PhasesAdapter.shape}
    for number, config in ((1, old), (2, new)):
        result = auditor.audit_trigger(
            workflow_id=number, workflow_type="CI", pipeline_id="p", config=config
        )
        assert result.ok, result.error
    assert auditor.diff("1:CI", "2:CI").summary.words() == "1 phase added"
    # Without the shape: the generic rules (``phases`` is no step list's name).
    assert summarize(diff_configs(old, new)).words() == "settings"


def test_a_shape_that_is_not_a_diff_shape_fails_plugin_set_up() -> None:
    class Broken:
        @hookimpl
        def wfaudit_payload_formats(self, register: Callable[..., None]) -> None:
            register("broken", ["CI"], "", shape={"nodes": []})

    with pytest.raises(PluginError, match="shape must be a DiffShape"):
        make_plugin_manager([Broken()], load_entrypoints=False)


def test_the_format_is_the_one_both_manifests_name() -> None:
    github = Manifest(adapter="github-actions")
    assert shape_of(github, Manifest(adapter="github-actions")) == "github-actions"
    assert shape_of(github, Manifest(adapter="argo")) is None
    assert shape_of(github, Manifest()) is None
    assert shape_of(None, None) is None
    shape = DiffShape(nodes=(("job", ("jobs", "*")),))
    assert shape_for({"github-actions": shape}, github, github) is shape
    assert shape_for({"github-actions": shape}, github, Manifest(adapter="argo")) is None
    assert shape_for(None, github, github) is None


# -- secrets: the status of every masked field ---------------------------------------

# Test secrets sharing no substring of more than 2 characters.
ROTATED_FROM, ROTATED_TO = "Jq4vX9sLt2Rb", "Wm7cK3yHn5Ez"
KEPT, ADDED, DROPPED = "Ud8gF1pSa6Vo", "Yr2hB7kQx4Ci", "Ne5tZ0wMj9Lg"


def _statuses(diff: SnapshotDiff) -> dict[str, tuple[str, ...]]:
    return {status: getattr(diff.secrets, status) for status in SECRET_STATUSES}


def _check_every_masked_field(diff: SnapshotDiff, old: Snapshot, new: Snapshot) -> None:
    """Each masked field of the newer snapshot is changed, unchanged or added;
    each of the older one is paired (changed, unchanged) or removed."""
    secrets = diff.secrets
    old_paths = {f.path for f in old.manifest.fields}
    new_paths = {f.path for f in new.manifest.fields}
    paired = secrets.changed + secrets.unchanged
    assert sorted(paired + secrets.added) == sorted(new_paths)
    assert set(secrets.removed) <= old_paths
    assert len(paired) + len(secrets.removed) == len(old_paths)
    assert secrets.counts == {s: len(getattr(secrets, s)) for s in SECRET_STATUSES}


def test_every_masked_field_has_a_status_and_no_value_shows(
    make_auditor: Callable[..., Auditor],
) -> None:
    auditor = make_auditor(KeyNameMasker())
    first = {
        "token": KEPT,
        "steps": [{"run": "docker login", "password": ROTATED_FROM}, {"run": "make"}],
        "deploy": {"password": DROPPED},
    }
    second = {
        "token": KEPT,
        "steps": [
            {"run": "git fetch", "password": ADDED},
            {"run": "docker login", "password": ROTATED_TO},
            {"run": "make"},
        ],
    }
    for number, config in enumerate([first, second, second], start=1):
        result = auditor.audit_trigger(
            workflow_id=number, workflow_type="CI", pipeline_id=5, config=config
        )
        assert result.ok, result.error
    one, two, three = (auditor.get_snapshot(n, "CI") for n in (1, 2, 3))
    diff = auditor.diff(one, two)
    assert _statuses(diff) == {
        "changed": ("/steps/1/password",),  # the login step, one further down
        "unchanged": ("/token",),
        "added": ("/steps/0/password",),
        "removed": ("/deploy/password",),
    }
    assert diff.secrets.words() == "1 changed, 1 unchanged, 1 added, 1 removed"
    _check_every_masked_field(diff, one, two)
    # Identical configs: every secret unchanged, by the manifests alone.
    same = auditor.diff(two, three)
    assert same.identical and same.changes == ()
    assert sorted(same.secrets.unchanged) == ["/steps/0/password", "/steps/1/password", "/token"]
    assert same.secrets.words() == "3 unchanged"
    _check_every_masked_field(same, two, three)
    # Backwards: added and removed swap.
    back = auditor.diff(two, one)
    assert (back.secrets.added, back.secrets.removed) == (
        ("/deploy/password",),
        ("/steps/0/password",),
    )

    from wfaudit.render import to_json_data

    data = to_json_data(diff)
    assert data["secrets"] == {
        "changed": ["/steps/1/password"],
        "unchanged": ["/token"],
        "added": ["/steps/0/password"],
        "removed": ["/deploy/password"],
        "counts": {"changed": 1, "unchanged": 1, "added": 1, "removed": 1},
    }
    console = Console(record=True, width=160, color_system=None)
    for view in (diff, same, back):
        for line in diff_header(view):
            console.print(line)
        for line in unified_lines(view):
            console.print(line)
        console.print(side_by_side(view))
    text = console.export_text()
    assert "secrets: 1 changed, 1 unchanged, 1 added, 1 removed" in text
    assert "secrets: 3 unchanged" in text
    texts = [("views", text), ("json", json.dumps([to_json_data(d) for d in (diff, same, back)]))]
    texts += [("repr", repr((diff, same, back)))]
    assert not find_secrets([ROTATED_FROM, ROTATED_TO, KEPT, ADDED, DROPPED], texts=texts)


def _with_tokens(config: Any) -> Any:
    """A token in every step, which is the same exactly when the step is."""
    doc = copy.deepcopy(config)
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            step["token"] = hashlib.sha256(_json(step).encode()).hexdigest()[:24]
    return doc


@pytest.mark.skipif(not SERIES, reason="../shared/corpus/history is not there")
@pytest.mark.parametrize(
    ("series", "numbers", "added", "removed"),
    [
        ("tokio-rs__tokio__ci.yml", (14, 15), 1, 0),
        ("prometheus__prometheus__ci.yml", (19, 20), 11, 20),
    ],
)
def test_secrets_of_steps_that_moved_down_are_unchanged(
    make_auditor: Callable[..., Auditor],
    series: str,
    numbers: tuple[int, int],
    added: int,
    removed: int,
) -> None:
    """Real insertions and removals of unnamed steps (see
    test_real_insertions_of_unnamed_steps): the secrets of the steps inserted
    are added, of those removed removed; the others, at new indices, unchanged."""
    auditor = make_auditor(KeyNameMasker())
    configs = [_with_tokens(_version(series, n)) for n in numbers]
    for number, config in enumerate(configs, start=1):
        assert auditor.audit_trigger(
            workflow_id=number, workflow_type="CI", pipeline_id=series, config=config
        ).ok
    old, new = (auditor.get_snapshot(n, "CI") for n in (1, 2))
    diff = auditor.diff(old, new)
    steps = sum(len(job.get("steps", [])) for job in configs[1]["jobs"].values())
    assert diff.secrets.counts == {
        "changed": 0,
        "unchanged": steps - added,
        "added": added,
        "removed": removed,
    }
    _check_every_masked_field(diff, old, new)
    assert {c.path + "/token" for c in diff.changes if c.op == "added"} == set(diff.secrets.added)


_script_lines = st.lists(
    st.sampled_from(["make", "make test", "cd app", "", "echo ok"]), max_size=25
)


@given(before=_script_lines, after=_script_lines, context=st.integers(0, 4))
def test_line_diff_is_diff_u(before: list[str], after: list[str], context: int) -> None:
    """The line diff of scripts (the CLI's and the web view's) is what ``diff -u``
    shows: the same hunks, headers and lines as difflib's unified diff."""
    old, new = "\n".join(before), "\n".join(after)
    expected = [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=context)
        if not line.startswith(("---", "+++"))
    ]
    shown = []
    for hunk in line_diff(old, new, context):
        shown.append(hunk.header())
        shown.extend(mark + line for mark, line in hunk.lines)
        assert hunk.old_end - hunk.old_start == sum(m != "+" for m, _ in hunk.lines)
        assert hunk.new_end - hunk.new_start == sum(m != "-" for m, _ in hunk.lines)
    assert shown == expected


def test_line_diff_of_a_one_line_change_in_a_long_script() -> None:
    old = "\n".join(f"step {n}" for n in range(100))
    new = old.replace("step 50", "step fifty")
    (hunk,) = line_diff(old, new, 2)
    assert hunk.header() == "@@ -49,5 +49,5 @@"
    assert [m for m, _ in hunk.lines] == [" ", " ", "-", "+", " ", " "]
    assert (hunk.old_start, hunk.old_end) == (48, 53)
