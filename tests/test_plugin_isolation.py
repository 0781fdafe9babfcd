"""Each plugin's tests stand on the plugin's own feet: the cheap half of ``tox -m plugins``.

``tox -m plugins`` runs each plugin's tests in a virtualenv of its own (only the
plugin, its declared dependencies and its ``test`` extra), from inside the
plugin's directory; it takes minutes per plugin, so it is not part of the suite.
What the suite checks on every run, in the repository's environment:

- no plugin's tests import the repository's ``tests`` package or its root
  ``conftest.py`` (which keeps only the Hypothesis profiles);
- collected the way tox runs them (the plugin's directory as the root, no
  ``conftest.py`` above it), every fixture a plugin's test asks for is defined by
  pytest, the shipped ``wfaudit.pytest_plugin`` or the plugin's own tests.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(path.parent for path in ROOT.glob("plugins/*/tests"))

# The options of tox.ini's plugin-* environments.
TOX_PYTEST_ARGS = (
    "-c",
    "pyproject.toml",
    "--rootdir",
    ".",
    "--confcutdir",
    ".",
    "-p",
    "no:cacheprovider",
    "-p",
    "pytester",
    "--import-mode=importlib",
    "--strict-markers",
    "-o",
    "wfaudit_isolate_env=true",
)

PROBE = textwrap.dedent(
    """
    import json
    import os


    def pytest_collection_finish(session):
        report = {"missing": [], "conftests": []}
        for item in session.items:
            info = getattr(item, "_fixtureinfo", None)
            if info is None:
                continue
            direct = set(getattr(getattr(item, "callspec", None), "params", {}))
            for name in item.fixturenames:
                if name == "request" or name in direct or name in info.name2fixturedefs:
                    continue
                report["missing"].append(f"{item.nodeid}: {name}")
        for plugin in session.config.pluginmanager.get_plugins():
            path = getattr(plugin, "__file__", None) or ""
            if path.endswith("conftest.py"):
                report["conftests"].append(path)
        with open(os.environ["WFAUDIT_PROBE_REPORT"], "w", encoding="utf-8") as out:
            json.dump(report, out)
    """
)


def test_every_plugin_with_tests_is_checked() -> None:
    assert len(PLUGINS) >= 7, "a plugin's tests went missing"
    tox = (ROOT / "tox.ini").read_text(encoding="utf-8")
    for plugin in PLUGINS:
        name = plugin.name.removeprefix("wfaudit-")
        assert f"{name}: {{toxinidir}}/plugins/{plugin.name}" in tox, f"tox.ini lacks {name}"


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


def probe(plugin: Path, tmp_path: Path) -> dict[str, list[str]]:
    """Collect ``plugin``'s tests as tox runs them; the fixtures nothing defines
    and the conftest.py files read."""
    (tmp_path / "wfaudit_fixture_probe.py").write_text(PROBE, encoding="utf-8")
    report = tmp_path / "report.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        "WFAUDIT_PROBE_REPORT": str(report),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *TOX_PYTEST_ARGS,
            "-p",
            "wfaudit_fixture_probe",
            "--collect-only",
            "-q",
            "tests",
        ],
        cwd=plugin,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found: dict[str, list[str]] = json.loads(report.read_text(encoding="utf-8"))
    return found


@pytest.mark.parametrize("plugin", PLUGINS, ids=[path.name for path in PLUGINS])
def test_plugin_tests_find_every_fixture_without_the_repository(
    plugin: Path, tmp_path: Path
) -> None:
    found = probe(plugin, tmp_path)
    outside = [path for path in found["conftests"] if not Path(path).is_relative_to(plugin)]
    assert not outside, f"conftest.py files outside the plugin were read: {outside}"
    assert not found["missing"], (
        "fixtures neither the shipped wfaudit.pytest_plugin, pytest nor the plugin's "
        "own tests define:\n" + "\n".join(found["missing"])
    )


def test_the_probe_sees_a_fixture_only_the_repository_defined(tmp_path: Path) -> None:
    plugin = tmp_path / "wfaudit-example"
    (plugin / "tests").mkdir(parents=True)
    (plugin / "pyproject.toml").write_text("[project]\nname = 'wfaudit-example'\n")
    (plugin / "tests" / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef own():\n    return 1\n"
    )
    (plugin / "tests" / "test_example.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('n', [1])\n"
        "def test_x(own, store_url, tcp_proxy, tmp_path, n, make_auditor):\n    pass\n"
    )
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    found = probe(plugin, probe_dir)
    assert [line.rpartition(": ")[2] for line in found["missing"]] == ["make_auditor"] * 2
