"""The local trigger agent (``WFAUDIT_AGENT=1``, wfaudit/agent.py; issue #18).

Real processes throughout: ``wfaudit trigger`` in fresh interpreters, the agent
they start, a real SQLite store. A trigger the agent audited is recognised by
what the client process left imported (neither SQLAlchemy nor the engine); the
answers must be the in-process ones, store down (spooled, exit 0) and
``--strict`` included. Every test stops the agents it started and checks that
none is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_cli import SECRET
from tests.test_cli_startup import modules_after
from wfaudit import agent


def _home() -> pathlib.Path:
    return pathlib.Path(os.environ["WFAUDIT_HOME"])


@pytest.fixture
def agent_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """``WFAUDIT_AGENT=1`` for the test; its agents stopped (and gone) afterwards."""
    monkeypatch.setenv("WFAUDIT_AGENT", "1")
    monkeypatch.setenv("WFAUDIT_AGENT_IDLE", "60")
    home = _home()
    try:
        yield home
    finally:
        stop_agents(home)


def stop_agents(home: pathlib.Path) -> None:
    """Stop ``home``'s agents, those still starting (not listening yet) included."""
    deadline = time.monotonic() + 60
    while agent.processes(home):
        agent.stop_all(home)
        assert time.monotonic() < deadline, "agents still running"
        time.sleep(0.1)


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
    [pid] = agent.processes(agent_on)
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
    assert agent.processes(agent_on) == []


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


# -- the default, and every way an agent may go stale (issue #18) ---------------------


def test_the_agent_is_the_default(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, request_file: pathlib.Path
) -> None:
    """Without WFAUDIT_AGENT (or with it empty) a trigger starts an agent, which the
    next one uses; the pytest plugin's isolated environment had set it to 0."""
    monkeypatch.delenv("WFAUDIT_AGENT")
    monkeypatch.setenv("WFAUDIT_AGENT_IDLE", "60")
    home = _home()
    try:
        started(sqlite_url, request_file)
        code, modules, out = trigger(sqlite_url, request_file, "2", env={"WFAUDIT_AGENT": ""})
        assert code == 0 and by_agent(modules), out
        assert "(new snapshot, 1 masked)" in out
    finally:
        stop_agents(home)


def _wait_gone(home: pathlib.Path, pids: list[int] | None = None) -> None:
    """Wait until the agents ``pids`` (all of ``home``'s) exited: 20 s at most, well
    within their idle time (60 s), so that they exited because they were stale."""
    deadline = time.monotonic() + 20
    while True:
        running = agent.processes(home)
        if pids is not None:
            running = [pid for pid in running if pid in pids]
        if not running:
            return
        assert time.monotonic() < deadline, f"agents still running: {running}"
        time.sleep(0.05)


def _ask_directly(socket_path: pathlib.Path, url: str) -> agent.Answer | None:
    """A trigger sent to the agent at ``socket_path`` with its own key, as a client
    of its configuration would: its answer, or None (stale, or gone)."""
    key = socket_path.stem
    fields: dict[str, Any] = {
        "workflow_id": "direct",
        "workflow_type": "CI",
        "pipeline_id": "7",
        "triggered_by": None,
        "trigger_kind": "manual",
        "tenant": None,
        "labels": {},
        "format": None,
        "parent": None,
        "attempt": 1,
    }
    request: dict[str, Any] = {"key": key, "fields": fields, "config": {"pipelineName": "ci-7"}}
    request.update(strict=False, as_json=False)
    return agent._ask(socket_path, key, json.dumps(request).encode())


def _snapshots(tmp_path: pathlib.Path, workflow_id: str) -> int:
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM snapshots WHERE workflow_id = ?", (workflow_id,)
        ).fetchone()
    return int(count)


def test_a_deleted_store_is_never_written_by_the_stale_agent(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """The agent's open SQLite connection would write into the deleted file, lost:
    it checks the file (device, inode) before each trigger, answers stale and exits;
    the trigger is audited in process, into the new store."""
    started(sqlite_url, request_file)
    code, modules, out = trigger(sqlite_url, request_file, "2")
    assert code == 0 and by_agent(modules), out
    pids = agent.processes(agent_on)
    for path in tmp_path.glob("store.sqlite3*"):
        path.unlink()
    code, modules, out = trigger(sqlite_url, request_file, "3")
    assert code == 0 and not by_agent(modules), out
    assert out.startswith("audited: CI 3, ") and "(new snapshot, 1 masked)" in out
    _wait_gone(agent_on, pids)
    assert _snapshots(tmp_path, "3") == 1 and _snapshots(tmp_path, "2") == 0
    # The next trigger starts a new agent on the new store, the one after uses it.
    trigger(sqlite_url, request_file, "4")
    wait_for_agent(agent_on)
    code, modules, out = trigger(sqlite_url, request_file, "5")
    assert code == 0 and by_agent(modules), out
    assert _snapshots(tmp_path, "5") == 1


def test_a_migrated_store_is_never_written_by_the_stale_agent(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A newer wfaudit migrated the store: the agent (of the older code) answers
    stale and exits, and the trigger is audited in process, as without the agent."""
    started(sqlite_url, request_file)
    code, modules, out = trigger(sqlite_url, request_file, "2")  # the agent opens the store
    assert code == 0 and by_agent(modules), out
    pids = agent.processes(agent_on)
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:
        db.execute("UPDATE wfaudit_alembic_version SET version_num = '9999_future'")
    code, modules, out = trigger(sqlite_url, request_file, "3")
    # In process: the store this code cannot use is unavailable, the audit spooled.
    assert code == 0 and not by_agent(modules), out
    assert out.startswith("spooled: the store is unavailable; CI 3 ")
    _wait_gone(agent_on, pids)
    assert _snapshots(tmp_path, "3") == 0
    code, modules, out = trigger(sqlite_url, request_file, "4", "--strict")
    assert code == 1 and not by_agent(modules), out
    assert out.startswith("Error: ") and "9999_future" in out


def test_changed_settings_or_plugins_make_the_agent_stale(
    monkeypatch: pytest.MonkeyPatch,
    agent_on: pathlib.Path,
    sqlite_url: str,
    request_file: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    """The settings file, a plugin module, an installed distribution: each change
    gives the trigger another key (audited in process), and the agent of the old
    configuration, asked with its own key, answers stale and exits."""
    settings = tmp_path / "wfaudit.toml"
    settings.write_text("zstd_level = 3\n")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setenv("WFAUDIT_CONFIG", str(settings))
    monkeypatch.setenv("WFAUDIT_PLUGINS_DIR", str(plugins))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))

    def change_settings() -> None:
        settings.write_text("zstd_level = 4\n")

    def add_plugin() -> None:
        (plugins / "extra_plugin.py").write_text("VALUE = 1\n")

    def install_distribution() -> None:
        info = site / "extra_dist-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-dist\nVersion: 1.0\n")

    for run, change in enumerate((change_settings, add_plugin, install_distribution), start=1):
        old = sorted((agent_on / "agent").glob("*.sock"))
        code, _, out = trigger(sqlite_url, request_file, f"{run}-a")
        assert code == 0, out
        socket_path = wait_for_agent_other_than(agent_on, old)
        code, modules, out = trigger(sqlite_url, request_file, f"{run}-b")
        assert code == 0 and by_agent(modules), out
        pids = agent.processes(agent_on)
        change()
        code, modules, out = trigger(sqlite_url, request_file, f"{run}-c")
        assert code == 0 and not by_agent(modules), (change.__name__, out)
        assert _ask_directly(socket_path, sqlite_url) is None, change.__name__
        _wait_gone(agent_on, pids)
        assert _snapshots(tmp_path, "direct") == 0
        stop_agents(agent_on)


def wait_for_agent_other_than(home: pathlib.Path, old: list[pathlib.Path]) -> pathlib.Path:
    deadline = time.monotonic() + 60
    while True:
        new = [path for path in (home / "agent").glob("*.sock") if path not in old]
        if new:
            return new[0]
        assert time.monotonic() < deadline, "no agent started"
        time.sleep(0.05)


def test_an_agent_killed_before_it_answers_loses_nothing(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """The agent dies holding the request: the client gets no complete answer and
    audits in process; the snapshot is stored once."""
    started(sqlite_url, request_file)
    [pid] = agent.processes(agent_on)
    os.kill(pid, signal.SIGSTOP)
    args = ("--store", sqlite_url, "trigger", str(request_file), "--type", "CI")
    client = subprocess.Popen(
        [sys.executable, "-m", "wfaudit", *args, "--pipeline-id", "7", "--workflow-id", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3)  # the client connected and sent the request, waiting for the answer
        assert client.poll() is None
        os.kill(pid, signal.SIGKILL)
        out, _ = client.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, out
    assert out.startswith("audited: CI 2, ") and "(new snapshot, 1 masked)" in out
    assert _snapshots(tmp_path, "2") == 1


KILLER_PLUGIN = """
import os
import signal
import sys

from wfaudit import hookimpl


@hookimpl
def wfaudit_event(kind, snapshot, data, settings, host):
    main = getattr(sys.modules["__main__"], "__spec__", None)
    if kind == "snapshot.audited" and main is not None and main.name == "wfaudit.agent":
        os.kill(os.getpid(), signal.SIGKILL)  # after the commit, before the answer
"""


def test_an_agent_killed_after_storing_is_not_stored_twice(
    monkeypatch: pytest.MonkeyPatch,
    agent_on: pathlib.Path,
    sqlite_url: str,
    request_file: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    """The agent stored the snapshot and died before answering: the client audits
    again in process, which finds the same run with the same content (a no-op)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "killer_plugin.py").write_text(KILLER_PLUGIN)
    monkeypatch.setenv("WFAUDIT_PLUGINS_DIR", str(plugins))
    started(sqlite_url, request_file)
    [pid] = agent.processes(agent_on)
    code, modules, out = trigger(sqlite_url, request_file, "2")
    assert code == 0 and not by_agent(modules), out
    assert out.startswith("audited: CI 2, ") and "(already audited (no-op), 1 masked)" in out
    _wait_gone(agent_on, [pid])
    assert _snapshots(tmp_path, "2") == 1


def test_concurrent_first_triggers_start_one_agent(
    agent_on: pathlib.Path, sqlite_url: str, request_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    args = ("--store", sqlite_url, "trigger", str(request_file), "--type", "CI")
    clients = [
        subprocess.Popen(
            [sys.executable, "-m", "wfaudit", *args, "--pipeline-id", "7", "--workflow-id", str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(4)
    ]
    outs = [client.communicate(timeout=180)[0] for client in clients]
    assert [client.returncode for client in clients] == [0] * 4, outs
    wait_for_agent(agent_on)
    time.sleep(2)  # a second agent, had one been started, would be running by now
    assert len(agent.processes(agent_on)) == 1
    assert len(list((agent_on / "agent").glob("*.sock"))) == 1
    assert [_snapshots(tmp_path, str(i)) for i in range(4)] == [1] * 4


@pytest.mark.wfaudit_backends("postgresql")
def test_a_migrated_postgresql_store_makes_the_agent_stale(
    store_url: str, agent_on: pathlib.Path, request_file: pathlib.Path
) -> None:
    """PostgreSQL has no file to check: the schema revision is checked before each
    trigger; changed, the agent answers stale and exits, and the command in process
    refuses the store as it would without an agent."""
    import sqlalchemy as sa

    started(store_url, request_file)
    code, modules, out = trigger(store_url, request_file, "2")
    assert code == 0 and by_agent(modules), out
    pids = agent.processes(agent_on)
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE wfaudit_alembic_version SET version_num = 'x'"))
    finally:
        engine.dispose()
    code, modules, out = trigger(store_url, request_file, "3", "--strict")
    assert code == 1 and not by_agent(modules), out
    assert out.startswith("Error: ") and "revision x" in out, out
    _wait_gone(agent_on, pids)


NOISY_PLUGIN = f"""
import logging
import sys

from wfaudit import hookimpl


@hookimpl
def wfaudit_configure(host):
    print("noisy plugin: {SECRET}", file=sys.stderr)
    logging.getLogger("noisy").warning("noisy plugin: %s", "{SECRET}")
"""


def test_the_agent_log_never_holds_what_was_printed(
    monkeypatch: pytest.MonkeyPatch,
    agent_on: pathlib.Path,
    sqlite_url: str,
    request_file: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    """What the agent's code prints outside a trigger's answer (a plugin's warning,
    a log record) may quote secrets: it never reaches the agent's log file."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "noisy_plugin.py").write_text(NOISY_PLUGIN)
    monkeypatch.setenv("WFAUDIT_PLUGINS_DIR", str(plugins))
    socket_path = started(sqlite_url, request_file)
    code, modules, out = trigger(sqlite_url, request_file, "2")
    assert code == 0 and by_agent(modules), out
    stop_agents(agent_on)
    log = socket_path.with_suffix(".log")
    assert log.exists() and stat.S_IMODE(log.stat().st_mode) == 0o600
    assert SECRET not in log.read_text()
