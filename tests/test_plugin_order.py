"""``wfaudit plugins --hook X`` lists a hook's plugins in call order, wrappers
marked apart from implementations; the documented order is the order of calls."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest

from wfaudit import Auditor, hookimpl
from wfaudit.plugins import make_plugin_manager

DIR_PLUGIN = """
from wfaudit_hookspecs import hookimpl


@hookimpl(wrapper=True)
def wfaudit_persist(snapshot, payload, store):
    return (yield)
"""


def test_plugins_hook_marks_wrappers(tmp_path: pathlib.Path) -> None:
    (tmp_path / "timing_wrapper.py").write_text(DIR_PLUGIN, encoding="utf-8")
    env = {
        **os.environ,
        "WFAUDIT_HOME": str(tmp_path / "home"),
        "WFAUDIT_LOAD_PLUGINS": "sql,timing_wrapper",
    }
    args = ["--plugins-dir", str(tmp_path), "plugins", "--all", "--hook", "wfaudit_persist"]
    done = subprocess.run(
        [sys.executable, "-m", "wfaudit", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "no installed plugin" not in done.stderr, done.stderr
    listed = [(p["name"], p["role"]) for p in json.loads(done.stdout)]
    assert listed == [
        ("timing_wrapper", "wrapper"),
        ("wfaudit.builtin.spool", "wrapper"),
        ("wfaudit.builtin.persist", "implementation"),
    ]
    table = subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        env={**env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    rows = [line for line in table.splitlines() if "timing_wrapper" in line or "persist " in line]
    assert "wrapper" in rows[0] and "implementation" in rows[1], table


class Restorer:
    def __init__(self, value: str) -> None:
        self.value = value

    @hookimpl
    def wfaudit_restore_secrets(self, snapshot: Any, requests: Sequence[Any]) -> dict[str, str]:
        return {r.key: self.value for r in requests}


def test_the_last_registered_restorer_is_asked_first() -> None:
    first, second = Restorer("a"), Restorer("b")
    pm = make_plugin_manager([first, second], load_entrypoints=False)
    order = [name for name, _ in pm.call_order("wfaudit_restore_secrets")]
    assert order.index(pm.get_name(second)) < order.index(pm.get_name(first))
    answers = pm.hook.wfaudit_restore_secrets(snapshot=None, requests=[], settings={})
    assert answers == [{}, {}]


class Masker:
    @hookimpl
    def wfaudit_mask(self, context: Any) -> None:
        from wfaudit_hookspecs.pointer import iter_nodes

        for path, _ in iter_nodes(context.config):
            if path and path[-1] == "password":
                context.mask(path, rule="order-test")


def test_between_two_answers_the_one_matching_the_fingerprint_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """Order decides only between equally good answers: a wrong value from the
    restorer asked first loses to the right one from another."""
    monkeypatch.setenv("WFAUDIT_HOME", str(tmp_path))
    wrong, right = Restorer("not-the-secret"), Restorer("Order-Pa55word-0001")
    with Auditor.from_url(
        "memory://", plugins=[Masker(), right, wrong], load_entrypoints=False, strict=True
    ) as auditor:
        auditor.audit_trigger(
            workflow_id=1,
            workflow_type="CI",
            pipeline_id=1,
            config={"password": "Order-Pa55word-0001"},
        )
        restored = auditor.retrigger_request("1", "CI")
    assert restored.config == {"password": "Order-Pa55word-0001"}


def test_entry_points_are_registered_in_the_order_of_their_names() -> None:
    from wfaudit.plugins import _entry_points

    names = [ep.name for ep in _entry_points()]
    assert names == sorted(names)
    pm = make_plugin_manager()
    registered = [name for name, _ in pm.list_name_plugin() if name in names]
    assert registered == sorted(registered) and len(registered) >= 2
