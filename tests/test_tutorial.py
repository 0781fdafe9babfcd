"""The plugin tutorial's commands, run as written (docs/tutorial-plugin.md).

The only liberty taken: ``pip install`` goes to a temporary directory put on
``PYTHONPATH`` (with ``--no-deps``), so the test never changes the environment
other tests run in.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial-plugin.md"


def tutorial_commands() -> list[str]:
    text = TUTORIAL.read_text(encoding="utf-8")
    block = text.split("<!-- tutorial-commands -->", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_the_tutorial_commands_work(tmp_path: pathlib.Path) -> None:
    commands = tutorial_commands()
    assert commands[0] == "cd docs/examples/wfaudit-acme-masker"
    cwd = ROOT / commands[0].split()[1]
    target = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(target), "WFAUDIT_HOME": str(tmp_path / "home")}
    outputs = []
    for command in commands[1:]:
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = sys.executable
        elif argv[0] == "wfaudit":
            argv = [sys.executable, "-m", "wfaudit", *argv[1:], "--json"]
        if argv[1:4] == ["-m", "pip", "install"]:
            argv += ["--no-deps", "--quiet", "--target", str(target)]
        if argv[1:3] == ["-m", "pytest"]:
            argv += ["-p", "no:cacheprovider"]
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, (
            f"{command!r} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        outputs.append(done.stdout)
    assert "6 passed" in outputs[1]
    plugins = {p["name"]: p for p in json.loads(outputs[2])}
    assert plugins["acme-masker"]["distribution"] == "wfaudit-acme-masker"
    assert plugins["acme-masker"]["hooks"] == ["wfaudit_mask"]
