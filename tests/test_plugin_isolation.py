"""Each plugin's tests stand on the plugin's own feet: the cheap half of ``tox -m plugins``.

``tox -m plugins`` runs each plugin's tests in a virtualenv of its own (only the
plugin, its declared dependencies and its ``test`` extra), from inside the
plugin's directory with no ``conftest.py`` of the repository; it takes minutes
per plugin, so it is not part of the suite (nor of CI). What the suite checks on
every run, in milliseconds:

- no plugin's tests import the repository's ``tests`` package, its root
  ``conftest.py``, ``bench`` or ``docs``;
- the root ``conftest.py`` defines no fixture and no pytest hook (it keeps only
  the Hypothesis profiles) and ``tests/conftest.py`` reaches only ``tests/``. So the
  suite's own run of ``plugins/*/tests`` resolves every fixture exactly as the
  isolated run does: from pytest, the shipped ``wfaudit.pytest_plugin`` and the
  plugin's own tests. A fixture only the repository defined fails there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(path.parent for path in ROOT.glob("plugins/*/tests"))

# What tox.ini's plugin-* environments give pytest, in place of the root's settings.
TOX_PYTEST_OPTIONS = (
    "--rootdir . --confcutdir .",
    "-p pytester --import-mode=importlib --strict-markers -o wfaudit_isolate_env=true",
)


def test_every_plugin_with_tests_is_checked() -> None:
    assert len(PLUGINS) >= 7, "a plugin's tests went missing"
    tox = (ROOT / "tox.ini").read_text(encoding="utf-8")
    for plugin in PLUGINS:
        name = plugin.name.removeprefix("wfaudit-")
        assert f"{name}: {{toxinidir}}/plugins/{plugin.name}" in tox, f"tox.ini lacks {name}"
    command = " ".join(tox.replace("\\\n", " ").split())
    for options in TOX_PYTEST_OPTIONS:
        assert options in command, f"tox.ini's plugin-* command lost {options!r}"
    # ... which are the root's own settings (pyproject.toml), so both runs agree.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"--import-mode=importlib"' in pyproject
    assert '"-p", "pytester"' in pyproject
    assert "wfaudit_isolate_env = true" in pyproject


@pytest.mark.parametrize("plugin", PLUGINS, ids=[path.name for path in PLUGINS])
def test_plugin_tests_import_nothing_of_the_repository(plugin: Path) -> None:
    found = []
    for path in sorted((plugin / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.partition(".")[0] in ("tests", "conftest", "bench", "docs"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {name}")
    assert not found, "\n".join(found)


def test_the_root_conftest_gives_plugins_nothing() -> None:
    tree = ast.parse((ROOT / "conftest.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith("pytest_"):
                found.append(f"conftest.py:{node.lineno}: the hook {node.name}")
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                if "fixture" in text:
                    found.append(f"conftest.py:{node.lineno}: the fixture {node.name}")
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytest_plugins"
            for target in node.targets
        ):
            found.append(f"conftest.py:{node.lineno}: pytest_plugins")
    assert not found, (
        "the root conftest.py must give plugins' tests nothing (tox -m plugins runs them "
        "without it): move these to wfaudit/pytest_plugin.py or tests/conftest.py\n"
        + "\n".join(found)
    )
