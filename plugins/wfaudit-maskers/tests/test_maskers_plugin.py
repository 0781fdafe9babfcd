"""The plugin: entry point, pluggy registration, the settings-configured default."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pluggy
import pytest

from wfaudit_hookspecs import PROJECT_NAME, ConfigurationError, hookspecs
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
    pm.hook.wfaudit_mask(context=context)
    assert context.masked == {"/dbPassword": "keyword"}


def test_a_masker_instance_is_a_plugin(recording_context: Any) -> None:
    pm = _manager()
    pm.register(Masker(extra_keywords=["pin"]), name="my-maskers")
    pm.check_pending()
    context = recording_context({"pin": "1234", "token": "s3cr3t"})
    pm.hook.wfaudit_mask(context=context)
    assert context.masked == {"/pin": "keyword", "/token": "keyword"}


def test_default_masker_follows_the_settings(recording_context: Any) -> None:
    settings: dict[str, Any] = {"maskers": {"disable": ["keyword"]}}
    first = plugin.masker_for(settings)
    assert plugin.masker_for({"maskers": {"disable": ["keyword"]}}) is first  # reused
    settings["maskers"]["disable"] = []  # changed in place: a new masker
    assert plugin.masker_for(settings) is not first
    context = recording_context({"dbPassword": "s3cr3t"}, settings)
    plugin.wfaudit_mask(context)
    assert context.masked == {"/dbPassword": "keyword"}


def test_invalid_settings_fail_the_hook(recording_context: Any) -> None:
    context = recording_context({"dbPassword": "s3cr3t"}, {"maskers": {"disable": ["nope"]}})
    with pytest.raises(ConfigurationError, match="unknown rule 'nope'"):
        plugin.wfaudit_mask(context)
    assert context.marks == {}
