"""Every distribution of the repository builds into a wheel, as docs/releasing.md
builds them, and the wheels are what a release publishes: one per pyproject.toml,
with its version, its entry points, its data files, and requirements on each other
that the versions built satisfy.

The build is the page's own command (its ``dist`` is a temporary directory here).
"""

from __future__ import annotations

import email.parser
import pathlib
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "releasing.md"


def distributions() -> dict[str, dict[str, Any]]:
    """Every distribution of the repository: its name → its ``[project]`` table."""
    found = {}
    for path in [ROOT / "pyproject.toml", *sorted(ROOT.glob("hookspecs/pyproject.toml"))]:
        found[path.parent.name] = path
    for path in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        found[path.parent.name] = path
    projects = {}
    for path in found.values():
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        projects[canonicalize_name(project["name"])] = project
    return projects


def build_command() -> str:
    """The page's build command: the block run by this test."""
    text = PAGE.read_text(encoding="utf-8")
    block = text.split("<!-- run-by: tests/test_release.py -->", 1)[1]
    block = block.split("```sh\n", 1)[1].split("```", 1)[0]
    (command,) = [line for line in block.splitlines() if line.strip()]
    return command


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, zipfile.ZipFile]:
    """The page's command, run by bash from the repository's root with this
    interpreter's pip, into a temporary ``dist``."""
    dist = tmp_path_factory.mktemp("dist")
    command = build_command()
    assert command.startswith(".venv/bin/pip wheel ") and " --wheel-dir dist " in command
    command = command.replace(".venv/bin/pip", f"{shlex.quote(sys.executable)} -m pip", 1)
    command = command.replace("--wheel-dir dist", f"--quiet --wheel-dir {shlex.quote(str(dist))}")
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {
        canonicalize_name(wheel.name.split("-", 1)[0]): zipfile.ZipFile(wheel)
        for wheel in dist.glob("*.whl")
    }


def metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(wheel.read(name).decode())


def test_one_wheel_per_distribution_with_its_version(wheels: dict[str, zipfile.ZipFile]) -> None:
    projects = distributions()
    assert set(wheels) == set(projects)
    for name, wheel in wheels.items():
        assert metadata(wheel)["Version"] == projects[name]["version"], name


def test_the_wheels_require_each_other_at_the_versions_built(
    wheels: dict[str, zipfile.ZipFile],
) -> None:
    versions = {name: metadata(wheel)["Version"] for name, wheel in wheels.items()}
    for name, wheel in wheels.items():
        for line in metadata(wheel).get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            other = canonicalize_name(requirement.name)
            if other in versions:
                assert requirement.specifier.contains(versions[other]), (name, line)


def test_the_wheels_hold_their_entry_points_and_data(wheels: dict[str, zipfile.ZipFile]) -> None:
    for name, project in distributions().items():
        wheel = wheels[name]
        declared = project.get("entry-points", {}).get("wfaudit", {})
        if declared:
            (points,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
            text = wheel.read(points).decode()
            for key, target in declared.items():
                assert re.search(rf"^{re.escape(key)} = {re.escape(target)}$", text, re.M)
    core = wheels["wfaudit"].namelist()
    for data in ("wfaudit/py.typed", "wfaudit/demo_data/ci.json", "wfaudit/cli.py"):
        assert data in core
    assert not any(n.startswith(("tests/", "wfaudit_sql/")) for n in core)
