"""The local trigger agent (``WFAUDIT_AGENT=1``, wfaudit/agent.py; issue #18).

Real processes throughout: ``wfaudit trigger`` in fresh interpreters, the agent
they start, a real SQLite store. A trigger the agent audited is recognised by
what the client process left imported (neither SQLAlchemy nor the engine); the
answers must be the in-process ones, store down (spooled, exit 0) and
``--strict`` included. Every test stops the agents it started and checks that
none is left running.
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import stat
import time
from collections.abc import Iterator

import pytest

from tests.test_cli import SECRET
from tests.test_cli_startup import modules_after
from wfaudit import agent


def _home() -> pathlib.Path:
    return pathlib.Path(os.environ["WFAUDIT_HOME"])


def _agent_processes(home: pathlib.Path) -> list[int]:
    """The pids of the agents running for ``home`` (from /proc: Linux)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"wfaudit.agent" in args and any(str(home).encode() in arg for arg in args):
            found.append(int(entry.name))
    return found


@pytest.fixture
def agent_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """``WFAUDIT_AGENT=1`` for the test; its agents stopped (and gone) afterwards."""
    monkeypatch.setenv("WFAUDIT_AGENT", "1")
    monkeypatch.setenv("WFAUDIT_AGENT_IDLE", "60")
    home = _home()
    try:
        yield home
    finally:
        agent.stop_all(home)
        deadline = time.monotonic() + 30
        while _agent_processes(home) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _agent_processes(home) == []


@pytest.fixture
def sqlite_url(tmp_path: pathlib.Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}?busy_timeout=100&retry_deadline=0.5"


@pytest.fixture
def request_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"pipelineName": "ci-7", "dockerPassword": SECRET}))
    return path


def trigger(
    url: str, path: pathlib.Path, workflow_id: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, set[str], str]:
    args = ("--store", url, "trigger", str(path), "--type", "CI", "--pipeline-id", "7")
    return modules_after(*args, "--workflow-id", workflow_id, *extra, env=env)


def by_agent(modules: set[str]) -> bool:
    return "sqlalchemy" not in modules and "wfaudit.auditor" not in modules


def wait_for_agent(home: pathlib.Path) -> pathlib.Path:
    deadline = time.monotonic() + 60
    while True:
        sockets = sorted((home / "agent").glob("*.sock"))
        if sockets:
            return sockets[0]
        assert time.monotonic() < deadline, "no agent started"
        time.sleep(0.05)


def started(url: str, request_file: pathlib.Path) -> pathlib.Path:
    """The first trigger: audited in process, and the agent started."""
    code, modules, out = trigger(url, request_file, "1")
    assert code == 0, out
    assert not by_agent(modules)
    assert out.startswith("audited: CI 1, snapshot ") and "(new snapshot, 1 masked)" in out
    return wait_for_agent(_home())


def test_the_agent_answers_as_the_command_does(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    socket_path = started(sqlite_url, request_file)
    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    # The store URL (which may hold a password) is not on a command line others can read.
    [pid] = _agent_processes(agent_on)
    assert b"store.sqlite3" not in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()

    code, modules, out = trigger(sqlite_url, request_file, "2")
    assert code == 0 and by_agent(modules), out
    assert out.startswith("audited: CI 2, snapshot ") and out.endswith("(new snapshot, 1 masked)\n")
    code, modules, out = trigger(sqlite_url, request_file, "2")
    assert code == 0 and by_agent(modules), out
    assert "(already audited (no-op), 1 masked)" in out

    code, modules, out = trigger(sqlite_url, request_file, "3", "--json")
    assert code == 0 and by_agent(modules), out
    answer = json.loads(out)
    assert answer["ok"] is True and answer["created"] is True and answer["masked"] == 1
    assert answer["ref"]["workflow_id"] == "3"

    # Bad input: one line, exit 1, as in process (a conflicting second trigger).
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"pipelineName": "ci-7", "dockerPassword": SECRET + "-x"}))
    code, modules, out = trigger(sqlite_url, other, "2")
    assert code == 1 and by_agent(modules), out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "already audited" in lines[0]
    assert SECRET not in out
    assert "Traceback" not in out

    # What the agent stored is what the engine stores: the snapshot is there, masked.
    shown = json.loads(
        modules_after("--store", sqlite_url, "show", "2", "--type", "CI", "--json")[2]
    )
    assert shown["workflow_id"] == "2" and SECRET not in json.dumps(shown)


def test_store_down_the_agent_spools_and_strict_fails(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    started(sqlite_url, request_file)
    code, _, out = trigger(sqlite_url, request_file, "1", "--strict")  # the strict agent
    assert code == 0, out
    holder = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, modules, out = trigger(sqlite_url, request_file, "2")
        assert code == 0 and by_agent(modules), out
        assert out.startswith("spooled: ") and "wfaudit drain" in out
        code, modules, out = trigger(sqlite_url, request_file, "3", "--strict")
        assert code == 1 and by_agent(modules), out
        assert out.strip().startswith("Error: ") and len(out.strip().splitlines()) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    spooled = sorted((agent_on / "spool").rglob("*.wfspool"))
    assert len(spooled) == 1
    assert SECRET.encode() not in spooled[0].read_bytes()


def test_another_configuration_is_never_answered_by_a_stale_agent(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path
) -> None:
    first = started(sqlite_url, request_file)
    # Another setting: another key, so the running agent is not used for it.
    code, modules, out = trigger(sqlite_url, request_file, "2", env={"WFAUDIT_ZSTD_LEVEL": "5"})
    assert code == 0 and not by_agent(modules), out
    deadline = time.monotonic() + 60
    while len(list((agent_on / "agent").glob("*.sock"))) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert first.exists()
    code, modules, out = trigger(sqlite_url, request_file, "3")
    assert code == 0 and by_agent(modules), out


def test_an_unsafe_agent_directory_is_not_used(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path
) -> None:
    (agent_on / "agent").mkdir(mode=0o755)
    (agent_on / "agent").chmod(0o755)  # whatever the umask
    for run in ("1", "2"):
        code, modules, out = trigger(sqlite_url, request_file, run)
        assert code == 0 and not by_agent(modules), out
        assert out.startswith(f"audited: CI {run}, ")
    time.sleep(0.5)
    assert list((agent_on / "agent").iterdir()) == []
    assert _agent_processes(agent_on) == []


@pytest.mark.parametrize("value", ["0", "false", "no"])
def test_without_the_agent_nothing_is_started(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, request_file: pathlib.Path, value: str
) -> None:
    monkeypatch.setenv("WFAUDIT_AGENT", value)
    code, modules, out = trigger(sqlite_url, request_file, "1")
    assert code == 0 and not by_agent(modules), out
    assert not (_home() / "agent").exists()


def test_a_bad_agent_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, request_file: pathlib.Path
) -> None:
    monkeypatch.setenv("WFAUDIT_AGENT", "maybe")
    code, _, out = trigger(sqlite_url, request_file, "1")
    assert code == 1 and out.startswith("Error: ") and "WFAUDIT_AGENT" in out, out


def test_the_agent_stores_what_the_process_would(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A YAML payload (integer keys, a date) audited by the agent, then the same run
    in process: a no-op on the same snapshot, so the content stored was the same."""
    started(sqlite_url, request_file)
    odd = tmp_path / "request.yaml"
    odd.write_text("pipelineName: ci-7\nports:\n  8080: web\nsince: 2026-01-02\n")
    code, modules, out = trigger(sqlite_url, odd, "2")
    assert code == 0, out
    snapshot = out.split("snapshot ")[1].split()[0]
    code, modules, again = trigger(sqlite_url, odd, "2", env={"WFAUDIT_AGENT": "0"})
    assert code == 0 and not by_agent(modules), again
    assert f"snapshot {snapshot} (already audited (no-op)" in again


def test_after_a_key_rotation_the_agent_writes_with_the_new_key(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path
) -> None:
    """An agent holding the old key could not write any more (the store records the
    new key's id): it reloads the key when the key file changes."""
    started(sqlite_url, request_file)
    code, modules, out = trigger(sqlite_url, request_file, "2")
    assert code == 0 and by_agent(modules), out
    code, _, out = modules_after("--store", sqlite_url, "keys", "rotate")
    assert code == 0, out
    code, modules, out = trigger(sqlite_url, request_file, "3")
    assert code == 0 and by_agent(modules), out
    assert out.startswith("audited: CI 3, ") and "(new snapshot, 1 masked)" in out
    code, modules, out = trigger(sqlite_url, request_file, "4", env={"WFAUDIT_AGENT": "0"})
    assert code == 0 and not by_agent(modules), out

    def fingerprints(run: str) -> list[str]:
        args = ("--store", sqlite_url, "show", run, "--type", "CI", "--json")
        shown = json.loads(modules_after(*args)[2])
        return [field["fingerprint"] for field in shown["manifest"]["fields"]]

    # The agent's fingerprints after the rotation are the new key's, as in process.
    assert fingerprints("3") == fingerprints("4") != fingerprints("2")
