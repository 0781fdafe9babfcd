"""Structured diffs: exact on the corpus history, moves as moves, secrets as fingerprints."""

from __future__ import annotations

import copy
import itertools
import json
import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import KeyNameMasker
from wfaudit import Auditor
from wfaudit.diff import apply_changes, diff_configs, summarize
from wfaudit.loading import load_payload
from wfaudit.testing import find_secrets

HISTORY = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus" / "history"
SERIES = sorted(p for p in HISTORY.iterdir() if p.is_dir()) if HISTORY.is_dir() else []


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten by index (the naive view), for an independent comparison."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}/{key.replace('~', '~0').replace('/', '~1')}"))
        return out or {prefix: {}}
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(_leaves(item, f"{prefix}/{index}"))
        return out or {prefix: []}
    return {prefix: value}


@pytest.mark.skipif(not SERIES, reason="../shared/corpus/history is not there")
@pytest.mark.parametrize("series", SERIES, ids=lambda p: p.name)
def test_consecutive_versions_diff_exactly(series: pathlib.Path) -> None:
    versions = [load_payload(str(path)) for path in sorted(series.glob("*.yml"))]
    assert len(versions) >= 2
    for old, new in itertools.pairwise(versions):
        changes = diff_configs(old, new)
        # Complete: the changes rebuild the newer file from the older one.
        assert apply_changes(old, changes) == new
        # Exact: where no list was re-matched by name, the changed leaves are
        # exactly those an index-by-index comparison of the two files finds.
        if not any(c.op == "moved" for c in changes) and all(
            (c.op != "added" or not c.path.rsplit("/", 1)[1].isdigit()) for c in changes
        ):
            naive_old, naive_new = _leaves(old), _leaves(new)
            differing = {
                p
                for p in naive_old.keys() | naive_new.keys()
                if naive_old.get(p, ...) != naive_new.get(p, ...)
            }
            covered = {
                p
                for p in differing
                if any(p == c.path or p.startswith(c.path + "/") for c in changes)
            }
            assert covered == differing
        for change in changes:
            if change.op == "modified":
                assert change.old != change.new


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
    summary = summarize(changes)
    assert (summary.steps_moved, summary.steps_modified, summary.steps_added) == (1, 1, 0)


def test_inserting_a_step_does_not_modify_the_later_ones() -> None:
    old = {"steps": [{"name": "build"}, {"name": "test"}, {"name": "push"}]}
    new = {"steps": [{"name": "build"}, {"name": "lint"}, {"name": "test"}, {"name": "push"}]}
    changes = diff_configs(old, new)
    assert [(c.op, c.path) for c in changes] == [("added", "/steps/1")]
    assert summarize(changes).words() == "1 step added"


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
