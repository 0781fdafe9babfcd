"""``wfaudit new-plugin`` writes packages that pass their own kit, and
``--plugins-dir`` / ``WFAUDIT_PLUGINS_DIR`` load them without packaging."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from wfaudit.plugins import make_plugin_manager
from wfaudit_hookspecs import ConfigurationError

KITS = {
    # kind: (tests that pass, hooks the plugin implements)
    "masker": (5, ["wfaudit_mask"]),
    "adapter": (3, ["wfaudit_payload_formats", "wfaudit_pre_trigger"]),
    "restorer": (2, ["wfaudit_restore_secrets"]),
    "store": (19, ["wfaudit_open_store"]),
}


def wfaudit(*args: str, cwd: pathlib.Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("kind", sorted(KITS))
def test_a_new_plugin_passes_its_own_kit(kind: str, tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "WFAUDIT_HOME": str(tmp_path / "home")}
    env.pop("WFAUDIT_PLUGINS_DIR", None)
    made = wfaudit(
        "new-plugin", kind, f"acme-{kind}", "--dir", str(tmp_path), cwd=tmp_path, env=env
    )
    assert made.returncode == 0, made.stderr
    package = tmp_path / f"wfaudit-acme-{kind}"
    module = f"wfaudit_acme_{kind}"
    assert sorted(p.name for p in package.rglob("*") if p.is_file()) == sorted(
        ["README.md", "pyproject.toml", f"{module}.py", f"test_{module}.py"]
    )
    pyproject = (package / "pyproject.toml").read_text(encoding="utf-8")
    assert f'acme-{kind} = "{module}"' in pyproject
    assert 'dependencies = ["wfaudit-hookspecs~=0.1"]' in pyproject

    passed, hooks = KITS[kind]
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tests.returncode == 0 and f"{passed} passed" in tests.stdout, tests.stdout[-3000:]

    listed = wfaudit("--plugins-dir", ".", "plugins", "--json", cwd=package, env=env)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins[module]["hooks"] == hooks
    assert plugins[module]["distribution"] == str(package.resolve())


def test_new_plugin_refuses_bad_input_in_one_line(tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "WFAUDIT_HOME": str(tmp_path / "home")}
    (tmp_path / "wfaudit-taken").mkdir()
    here = str(tmp_path)
    for args, message in [
        (["masker", "Acme_Token", "--dir", here], "Error: a plugin name is lower-case letters"),
        (["masker", "taken", "--dir", here], "exists already"),
        (["masker", "ok", "--dir", str(tmp_path / "missing")], "is not a directory"),
    ]:
        done = wfaudit("new-plugin", *args, cwd=tmp_path, env=env)
        assert done.returncode == 1, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "home")
    assert left == ["wfaudit-taken"], f"a refused new-plugin left {left}"


PLUGIN = """
from wfaudit_hookspecs import hookimpl


@hookimpl
def wfaudit_workflow_types(register):
    register("FROM_A_DIR", "declared by a module of a plugins directory")
"""


def test_the_plugins_dir_variable_loads_modules_with_hooks(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dir_plugin_types.py").write_text(PLUGIN, encoding="utf-8")
    (tmp_path / "helper_without_hooks.py").write_text("X = 1\n", encoding="utf-8")
    (tmp_path / "test_not_a_plugin.py").write_text(PLUGIN, encoding="utf-8")
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    monkeypatch.setenv("WFAUDIT_PLUGINS_DIR", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = make_plugin_manager()
    assert "FROM_A_DIR" in pm.workflow_types
    names = {info.name: info for info in pm.describe()}
    assert names["dir_plugin_types"].distribution == str(tmp_path.resolve())
    assert "helper_without_hooks" not in names and "test_not_a_plugin" not in names
    assert names["broken_plugin"].error == "RuntimeError: boom"

    monkeypatch.setenv("WFAUDIT_DISABLE_PLUGINS", "dir_plugin_types")
    assert "FROM_A_DIR" not in make_plugin_manager().workflow_types


def test_a_plugins_dir_that_is_not_a_directory_is_an_error(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_PLUGINS_DIR", str(tmp_path / "nope"))
    with pytest.raises(ConfigurationError, match="which is not a directory"):
        make_plugin_manager()


def test_a_folder_module_shadowed_by_an_installed_one_is_said(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A newcomer changed a plugin in --plugins-dir after `pip install .`: the
    installed copy ran and the folder's was ignored without a word."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "wfaudit_maskers.py").write_text(
        "from wfaudit import hookimpl\n\n\n@hookimpl\ndef wfaudit_mask(context):\n    return None\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("WFAUDIT_PLUGINS_DIR", str(folder))
    with caplog.at_level("WARNING"):
        pm = make_plugin_manager()
    assert "wfaudit_maskers" in caplog.text and "same name" in caplog.text
    plugin = pm.get_plugin("wfaudit_maskers")
    assert plugin is None or str(folder) not in str(getattr(plugin, "__file__", ""))


def test_plugins_dir_leaves_the_environment_as_it_was(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run in process (a test's CliRunner), --plugins-dir must not stay in
    os.environ: later subprocesses would inherit a folder that is gone."""
    from click.testing import CliRunner

    from wfaudit.cli import cli

    monkeypatch.delenv("WFAUDIT_PLUGINS_DIR", raising=False)
    result = CliRunner().invoke(cli, ["--plugins-dir", str(tmp_path), "plugins", "--json"])
    assert result.exit_code == 0, result.output
    assert "WFAUDIT_PLUGINS_DIR" not in os.environ
