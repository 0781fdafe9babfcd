"""The plugin: entry point, pluggy registration, the settings-configured default."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pluggy
import pytest

from wfaudit_hookspecs import PROJECT_NAME, ConfigurationError, Stash, hookspecs
from wfaudit_maskers import Masker, plugin


def _manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def test_entry_point_is_found() -> None:
    entry_points = importlib.metadata.entry_points(group="wfaudit")
    found = {ep.name: ep.value for ep in entry_points}
    assert found.get("maskers") == "wfaudit_maskers.plugin"
    assert entry_points["maskers"].load() is plugin


def test_entry_point_loads_into_a_plugin_manager(recording_context: Any) -> None:
    pm = _manager()
    pm.load_setuptools_entrypoints(PROJECT_NAME, name="maskers")
    pm.check_pending()
    assert pm.get_plugin("maskers") is plugin
    context = recording_context({"dbPassword": "s3cr3t"})
    pm.hook.wfaudit_mask(context=context, host=None)
    assert context.masked == {"/dbPassword": "keyword"}


def test_a_masker_instance_is_a_plugin(recording_context: Any) -> None:
    pm = _manager()
    pm.register(Masker(extra_keywords=["pin"]), name="my-maskers")
    pm.check_pending()
    context = recording_context({"pin": "1234", "token": "s3cr3t"})
    pm.hook.wfaudit_mask(context=context, host=None)
    assert context.masked == {"/pin": "keyword", "/token": "keyword"}


class _Host:
    """The part of a host the plugin uses: settings and a stash."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.stash = Stash()


def test_the_masker_is_built_in_configure_and_dropped_in_unconfigure(
    recording_context: Any,
) -> None:
    settings: dict[str, Any] = {"maskers": {"disable": ["keyword"]}}
    host = _Host(settings)
    plugin.wfaudit_configure(host)  # type: ignore[arg-type]
    built = host.stash[plugin.MASKER]
    assert plugin.masker_for(recording_context({}), host) is built  # type: ignore[arg-type]
    # The host's masker is the one configured: a table changed later is not re-read.
    settings["maskers"]["disable"] = []
    context = recording_context({"dbPassword": "s3cr3t"}, settings)
    plugin.wfaudit_mask(context, host)  # type: ignore[arg-type]
    assert context.masked == {}
    plugin.wfaudit_unconfigure(host)  # type: ignore[arg-type]
    assert plugin.MASKER not in host.stash


def test_two_hosts_mask_with_their_own_settings(recording_context: Any) -> None:
    plain, strict = _Host({}), _Host({"maskers": {"disable": ["keyword"]}})
    for host in (plain, strict):
        plugin.wfaudit_configure(host)  # type: ignore[arg-type]
    contexts = [recording_context({"dbPassword": "s3cr3t"}) for _ in range(2)]
    plugin.wfaudit_mask(contexts[0], plain)  # type: ignore[arg-type]
    plugin.wfaudit_mask(contexts[1], strict)  # type: ignore[arg-type]
    assert contexts[0].masked == {"/dbPassword": "keyword"}
    assert contexts[1].masked == {}


def test_without_a_host_the_masker_follows_the_context_settings(recording_context: Any) -> None:
    context = recording_context({"dbPassword": "s3cr3t"}, {"maskers": {"disable": ["keyword"]}})
    plugin.wfaudit_mask(context, None)
    assert context.masked == {}
    context = recording_context({"dbPassword": "s3cr3t"}, {})
    plugin.wfaudit_mask(context, None)
    assert context.masked == {"/dbPassword": "keyword"}


def test_invalid_settings_fail_configure() -> None:
    host = _Host({"maskers": {"disable": ["nope"]}})
    with pytest.raises(ConfigurationError, match="unknown rule 'nope'"):
        plugin.wfaudit_configure(host)  # type: ignore[arg-type]
    assert plugin.MASKER not in host.stash


def test_invalid_settings_fail_the_hook_without_a_host(recording_context: Any) -> None:
    context = recording_context({"dbPassword": "s3cr3t"}, {"maskers": {"disable": ["nope"]}})
    with pytest.raises(ConfigurationError, match="unknown rule 'nope'"):
        plugin.wfaudit_mask(context, None)
    assert context.marks == {}


def test_each_auditor_masks_with_the_masker_its_host_configured(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wfaudit import Auditor

    monkeypatch.setenv("WFAUDIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers")
    config = tmp_path / "wfaudit.toml"
    request = {"workflow_type": "CI", "pipeline_id": "p", "config": {"dbPassword": "s3cr3t"}}
    masked: list[list[str]] = []
    for workflow_id, table in (("1", ""), ("2", '[maskers]\ndisable = ["keyword"]\n')):
        config.write_text(table, encoding="utf-8")
        monkeypatch.setenv("WFAUDIT_CONFIG", str(config))
        with Auditor.from_url(f"sqlite:///{tmp_path / 'store.sqlite3'}", strict=True) as auditor:
            assert isinstance(auditor.host.stash[plugin.MASKER], Masker)
            auditor.audit_trigger(workflow_id=workflow_id, **request)
            snapshot = auditor.get_snapshot(workflow_id, "CI")
            masked.append([field.path for field in snapshot.manifest.fields])
        assert plugin.MASKER not in auditor.host.stash
    assert masked == [["/dbPassword"], []]
    config.write_text('[maskers]\ndisable = ["nope"]\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="unknown rule 'nope'"):
        Auditor.from_url(f"sqlite:///{tmp_path / 'store.sqlite3'}")  # at start, not per audit
