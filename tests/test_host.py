"""The plugin host: the lifecycle hooks, the Host protocol and its Stash, and the
typed hook calls of wfaudit/host.py (the only engine module that calls hooks)."""

from __future__ import annotations

import ast
import datetime
import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from wfaudit import Auditor, hookimpl
from wfaudit.host import EngineHost
from wfaudit.plugins import make_plugin_manager
from wfaudit.spool import SPOOL
from wfaudit.testing.recorder import HookRecorder
from wfaudit_hookspecs import (
    ConfigurationError,
    EventKind,
    Host,
    MetricsPage,
    PluginError,
    SnapshotRecord,
    Stash,
    StashKey,
    TriggerRequest,
)
from wfaudit_hookspecs.retention import RetentionRun

from .conftest import KeyNameMasker

ENGINE = pathlib.Path(__file__).resolve().parents[1] / "wfaudit"

STATE: StashKey[list[str]] = StashKey("test.state")


class Lifecycle:
    """Records its configure/unconfigure calls; keeps its state in the host's stash."""

    def __init__(self, name: str, calls: list[str], *, fail: str | None = None) -> None:
        self.name = name
        self.calls = calls
        self.fail = fail
        self.hosts: list[Host] = []

    @hookimpl
    def wfaudit_configure(self, host: Host) -> None:
        self.calls.append(f"configure {self.name}")
        self.hosts.append(host)
        host.stash.setdefault(STATE, []).append(self.name)
        if self.fail == "configure":
            raise ConfigurationError(f"{self.name} is set up wrong")

    @hookimpl
    def wfaudit_unconfigure(self, host: Host) -> None:
        self.calls.append(f"unconfigure {self.name}")
        if self.fail == "unconfigure":
            raise RuntimeError("boom")
        host.stash.get(STATE, []).remove(self.name)


def _request(workflow_id: str = "7") -> TriggerRequest:
    return TriggerRequest(
        workflow_id=workflow_id,
        workflow_type="CI",
        pipeline_id="p",
        config={"image": "app:1", "password": "hunter2-hunter2"},
    )


def test_hook_wfaudit_configure(make_auditor: Callable[..., Auditor]) -> None:
    calls: list[str] = []
    first, second = Lifecycle("first", calls), Lifecycle("second", calls)
    auditor = make_auditor(KeyNameMasker(), first, second, tenant="acme")
    # Last registered first, as every hook call; once per host.
    assert calls == ["configure second", "configure first"]
    host = first.hosts[0]
    assert host is auditor.host and second.hosts == [host]
    assert isinstance(host, Host)
    assert host.tenant == "acme" and host.store is auditor.store
    assert host.home == auditor.settings.home
    assert host.settings is auditor.settings.options
    assert "CI" in host.workflow_types
    assert host.stash[STATE] == ["second", "first"]
    # The built-in spool built its state in the same stash.
    assert host.stash[SPOOL].spool.root == auditor.spool.root


def test_hook_wfaudit_unconfigure(make_auditor: Callable[..., Auditor]) -> None:
    calls: list[str] = []
    first = Lifecycle("first", calls)
    broken = Lifecycle("broken", calls, fail="unconfigure")
    last = Lifecycle("last", calls)
    auditor = make_auditor(KeyNameMasker(), first, broken, last)
    calls.clear()
    auditor.close()
    # Reverse order of configure; a failing one is logged and the others still run.
    assert calls == ["unconfigure first", "unconfigure broken", "unconfigure last"]
    assert auditor.host.stash[STATE] == ["broken"]
    assert SPOOL not in auditor.host.stash  # the spool's drainer was stopped and dropped
    auditor.close()  # twice: nothing is unconfigured twice
    assert len(calls) == 3


def test_a_failed_configure_unconfigures_the_plugins_configured_before(
    make_auditor: Callable[..., Auditor],
) -> None:
    calls: list[str] = []
    early = Lifecycle("early", calls)
    failing = Lifecycle("failing", calls, fail="configure")
    with pytest.raises(ConfigurationError, match="failing is set up wrong"):
        make_auditor(KeyNameMasker(), failing, early)
    assert calls == ["configure early", "configure failing", "unconfigure early"]


def test_the_spool_lives_from_configure_to_unconfigure(
    make_auditor: Callable[..., Auditor],
) -> None:
    auditor = make_auditor(KeyNameMasker())
    service = auditor.spool_service
    assert service is not None and auditor.spool is service.spool
    service.drainer.kick()
    auditor.close()
    assert auditor.spool_service is None
    assert not any(t.name == "wfaudit-spool-drain" and t.is_alive() for t in _drainers(service))


def _drainers(service: Any) -> list[threading.Thread]:
    thread = service.drainer._thread
    if thread is not None:
        thread.join(5)
    return [thread] if thread is not None else []


def test_blocking_the_spool_plugin_leaves_nothing_running(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql")
    pm = make_plugin_manager([KeyNameMasker()])
    pm.unregister(name="wfaudit.builtin.spool")
    pm.set_blocked("wfaudit.builtin.spool")
    store = pm.hooks.open_store(store_url, create=True)
    assert store is not None
    from wfaudit.settings import Settings

    auditor = Auditor(store, pm, Settings.load(store_url=store_url), spool_root=tmp_path)
    try:
        assert auditor.spool_service is None and not auditor.circuit_open
        assert auditor.audit_trigger(_request()).ok
        report = auditor.drain_spool()  # the files on disk can still be drained by hand
        assert report.ok and report.replayed == 0
    finally:
        auditor.close()


class Observer:
    def __init__(self, name: str, heard: list[str], *, fail: bool = False) -> None:
        self.name, self.heard, self.fail = name, heard, fail

    @hookimpl
    def wfaudit_event(
        self, kind: str, snapshot: SnapshotRecord, data: Mapping[str, Any], settings: Any
    ) -> None:
        self.heard.append(self.name)
        if self.fail:
            raise RuntimeError("observer down")


def test_observers_are_isolated_without_touching_pluggy(
    make_auditor: Callable[..., Auditor], caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[str] = []
    first, loud, last = (
        Observer("first", heard),
        Observer("loud", heard, fail=True),
        Observer("last", heard),
    )
    auditor = make_auditor(KeyNameMasker(), first, loud, last)
    recorder = HookRecorder(auditor.plugin_manager)
    assert auditor.audit_trigger(_request()).ok
    # Last registered first; the one that raises does not silence the one after it.
    assert heard == ["last", "loud", "first"]
    assert "the wfaudit_event observer" in caplog.text and "RuntimeError" in caplog.text
    # pluggy's implementation objects keep the plugins' own functions.
    impls = auditor.plugin_manager.hook.wfaudit_event.get_hookimpls()
    assert {impl.function.__func__ for impl in impls if hasattr(impl.function, "__func__")} == {
        Observer.wfaudit_event
    }
    recorder.close()
    heard.clear()
    loud.fail = False
    recorder = HookRecorder(auditor.plugin_manager)
    auditor.host.notify(EventKind.OUTCOME, auditor.history()[0], {"status": "failed"})
    assert heard == ["last", "loud", "first"]
    assert recorder.names() == ["wfaudit_event"]  # one hook call when nobody fails
    recorder.close()


def test_a_stash_is_typed_by_its_keys() -> None:
    stash = Stash()
    count: StashKey[int] = StashKey("count")
    other: StashKey[int] = StashKey("count")  # same name, another key
    assert count not in stash and stash.get(count, None) is None
    stash[count] = 1
    assert stash[count] == 1 and other not in stash
    assert stash.setdefault(count, 5) == 1 and stash.setdefault(other, 5) == 5
    assert stash.pop(count, None) == 1 and count not in stash
    del stash[other]
    assert len(stash) == 0 and "item" in repr(stash)
    with pytest.raises(KeyError):
        stash[count]


def test_an_engine_host_is_a_host() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    host = EngineHost(
        pm.hooks,
        settings={},
        home=pathlib.Path("/nonexistent"),
        tenant=None,
        store_url="sqlite:///x",
        strict=False,
    )
    assert isinstance(host, Host) and host.store is None and host.workflow_types == {}
    assert host.spool_depth() == 0  # a host without an auditor spools nothing


class Scraper:
    """A metrics plugin: its page names the host's tenant and spool depth."""

    def __init__(self, *, wrong: bool = False, abstain: bool = False) -> None:
        self.wrong = wrong
        self.abstain = abstain
        self.hosts: list[Host] = []

    @hookimpl
    def wfaudit_metrics(self, host: Host) -> object:
        self.hosts.append(host)
        if self.abstain:
            return None
        if self.wrong:
            return b"spool_depth 0"
        body = f"tenant {host.tenant} spool_depth {host.spool_depth()}"
        return MetricsPage(body=body.encode(), content_type="text/plain; version=0.0.4")


def test_hook_wfaudit_metrics(make_auditor: Callable[..., Auditor]) -> None:
    assert make_auditor().host.metrics() is None  # no metrics plugin: /metrics is 404
    abstaining, scraper = Scraper(abstain=True), Scraper()
    auditor = make_auditor(KeyNameMasker(), scraper, abstaining, tenant="team-a")
    record, canonical = auditor.snapshot_of(
        TriggerRequest(workflow_id=7, workflow_type="CI", pipeline_id="p", config={"a": 1})
    )
    auditor.spool.write(record, auditor.whole_blob(record, canonical))
    page = auditor.host.metrics()
    assert page == MetricsPage(b"tenant team-a spool_depth 1", "text/plain; version=0.0.4")
    assert abstaining.hosts == scraper.hosts == [auditor.host]  # the first answer is kept
    with pytest.raises(PluginError, match="bytes from wfaudit_metrics"):
        make_auditor(Scraper(wrong=True)).host.metrics()


def _calls_hooks(path: pathlib.Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in ("hook", "_hook"):
            return True
    return False


def test_only_the_host_module_calls_hooks() -> None:
    """No engine module but wfaudit/host.py touches a pluggy ``hook`` relay"""
    offenders = sorted(
        str(path.relative_to(ENGINE))
        for path in ENGINE.rglob("*.py")
        if path.name != "host.py" and _calls_hooks(path)
    )
    assert offenders == []


class HostReader:
    """A masker and observer that reads its state from the stash of the host it is given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    @hookimpl
    def wfaudit_configure(self, host: Host) -> None:
        host.stash[STATE] = ["configured"]

    @hookimpl
    def wfaudit_mask(self, context: Any, host: Host | None) -> None:
        self.seen.append(("mask", host and host.stash[STATE]))

    @hookimpl
    def wfaudit_event(self, kind: str, host: Host | None) -> None:
        self.seen.append((kind, host and host.stash[STATE]))

    @hookimpl
    def wfaudit_audit_error(self, error: BaseException, host: Host | None) -> None:
        self.seen.append(("error", host and host.stash[STATE]))

    @hookimpl
    def wfaudit_retention_run(self, run: RetentionRun, host: Host | None) -> None:
        self.seen.append(("retention", host and host.stash[STATE]))


def test_mask_and_observer_hooks_are_given_the_host(
    make_auditor: Callable[..., Auditor],
) -> None:
    reader = HostReader()
    auditor = make_auditor(reader)
    assert auditor.audit_trigger(_request()).ok
    auditor.record_outcome("7", "CI", "failed", "docker login -p hunter2-hunter2")
    bad = auditor.audit_trigger(TriggerRequest(**{**_fields(), "workflow_type": "NOPE"}))
    assert not bad.ok
    now = datetime.datetime.now(datetime.UTC)
    auditor.notify_retention_run(
        RetentionRun(id="r1", tenant=None, started_on=now, finished_on=now, ok=False, owner="test")
    )
    configured = ["configured"]
    assert reader.seen == [
        ("mask", configured),  # the audit
        (EventKind.AUDITED, configured),
        ("mask", configured),  # the outcome's reason, masked like a config
        (EventKind.OUTCOME, configured),
        ("error", configured),
        ("retention", configured),
    ]


def _fields() -> dict[str, Any]:
    request = _request()
    return {
        "workflow_id": request.workflow_id,
        "workflow_type": request.workflow_type,
        "pipeline_id": request.pipeline_id,
        "config": request.config,
    }


PROBE_PLUGIN = """
import os

from wfaudit import hookimpl
from wfaudit.cli import pass_state
from wfaudit_hookspecs import StashKey

STARTED = StashKey("probe.started")


def _log(line):
    with open(os.environ["PROBE_LOG"], "a", encoding="utf-8") as log:
        log.write(line + "\\n")


@hookimpl
def wfaudit_configure(host):
    host.stash[STARTED] = "connection"
    _log("configure")


@hookimpl
def wfaudit_unconfigure(host):
    _log("unconfigure " + host.stash.pop(STARTED, "nothing"))


@hookimpl
def wfaudit_register_commands(cli):
    @cli.command("probe")
    @pass_state
    def probe(state):
        with state.auditor(create=True) as auditor:
            _log("probe uses " + auditor.host.stash[STARTED])
"""


def test_cli_commands_configure_and_unconfigure_once_per_auditor(
    tmp_path: pathlib.Path,
) -> None:
    """A plugin's command registered by ``wfaudit_register_commands`` opens its
    auditor through the CLI state: that auditor's host configures the plugins
    once, the command reads the stash, and the end of the command unconfigures
    them once. A built-in command does the same."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "lifecycle_probe.py").write_text(PROBE_PLUGIN, encoding="utf-8")
    log = tmp_path / "probe.log"
    env = {
        **os.environ,
        "WFAUDIT_HOME": str(tmp_path / "home"),
        "WFAUDIT_STORE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "WFAUDIT_LOAD_PLUGINS": "sql,lifecycle_probe",
        "WFAUDIT_PLUGINS_DIR": str(plugins),
        "PROBE_LOG": str(log),
    }
    for args, expected in (
        (["probe"], ["configure", "probe uses connection", "unconfigure connection"]),
        (["stats"], ["configure", "unconfigure connection"]),
    ):
        log.unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "wfaudit", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert log.read_text(encoding="utf-8").splitlines() == expected, args
