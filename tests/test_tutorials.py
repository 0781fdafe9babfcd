"""The adapter, store and restorer tutorials, run from their pages.

Each page holds its plugin's whole code: every fenced block under a
``<!-- file: PATH -->`` comment is a piece of that file, in order (a piece that
starts indented continues a class: one blank line before it, else two). The
test writes the files to a fresh directory, checks they are the example under
``docs/examples/`` (so the folder a reader can ``cd`` into is the page's code),
and runs the page's ``<!-- tutorial-commands -->`` block there, as
``tests/test_tutorial.py`` does for the masker: ``pip install`` into a
temporary directory put on ``PYTHONPATH``, the plugin's own tests with the kits,
and ``wfaudit plugins``.

``python tests/test_tutorials.py`` rewrites the example folders from the pages.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import attrs
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

FILE = re.compile(r"<!-- file: (?P<path>[^ ]+) -->\n```[a-z]*\n(?P<body>.*?)```", re.S)


@attrs.frozen
class Tutorial:
    page: str
    example: str
    plugin: str
    hooks: tuple[str, ...]
    passed: int


TUTORIALS = (
    Tutorial(
        "tutorial-adapter.md",
        "wfaudit-acme-adapter",
        "acme-adapter",
        ("wfaudit_payload_formats", "wfaudit_pre_trigger", "wfaudit_reference_syntax"),
        5,
    ),
    Tutorial("tutorial-store.md", "wfaudit-dict-store", "dict-store", ("wfaudit_open_store",), 18),
    Tutorial(
        "tutorial-restorer.md",
        "wfaudit-vault-file-restorer",
        "vault-file",
        ("wfaudit_restore_secrets",),
        3,
    ),
)


def page_files(page: str) -> dict[str, str]:
    """The files a tutorial page spells out, by path."""
    pieces: dict[str, list[str]] = {}
    for match in FILE.finditer((DOCS / page).read_text(encoding="utf-8")):
        pieces.setdefault(match["path"], []).append(match["body"].rstrip("\n"))
    files = {}
    for path, parts in pieces.items():
        text = parts[0]
        for part in parts[1:]:
            text += ("\n\n" if part.startswith(" ") else "\n\n\n") + part
        files[path] = text + "\n"
    return files


def commands(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    block = text.split("<!-- tutorial-commands -->", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def example_files(example: str) -> dict[str, str]:
    folder = DOCS / "examples" / example
    return {
        str(path.relative_to(folder)): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and "__pycache__" not in path.parts
        and ".egg-info" not in str(path)
        and path.name != "README.md"
    }


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=lambda t: t.page)
def test_the_page_is_the_example(tutorial: Tutorial) -> None:
    on_page = page_files(tutorial.page)
    in_folder = example_files(tutorial.example)
    assert sorted(on_page) == sorted(in_folder), (
        f"docs/{tutorial.page} spells out {sorted(on_page)}, the example has {sorted(in_folder)}"
    )
    for path, text in on_page.items():
        assert text == in_folder[path], (
            f"docs/{tutorial.page} and docs/examples/{tutorial.example}/{path} differ: "
            "edit the page, then run python tests/test_tutorials.py"
        )


def test_the_adapter_pages_payload_is_the_one_its_tests_audit() -> None:
    text = (DOCS / "tutorial-adapter.md").read_text(encoding="utf-8")
    shown = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    module = ast.parse(page_files("tutorial-adapter.md")["tests/test_acme_adapter.py"])
    (run,) = (
        node.value
        for node in module.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "RUN"
    )
    assert shown == ast.literal_eval(run)


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=lambda t: t.page)
def test_the_tutorial_commands_work(tutorial: Tutorial, tmp_path: pathlib.Path) -> None:
    steps = commands(tutorial.page)
    assert steps[0] == f"cd docs/examples/{tutorial.example}"
    cwd = tmp_path / tutorial.example
    for path, text in page_files(tutorial.page).items():
        (cwd / path).parent.mkdir(parents=True, exist_ok=True)
        (cwd / path).write_text(text, encoding="utf-8")
    target = tmp_path / "site"
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "WFAUDIT_HOME": str(tmp_path / "home"),
    }
    env.pop("WFAUDIT_STORE_URL", None)
    outputs = []
    for command in steps[1:]:
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
    assert f"{tutorial.passed} passed" in outputs[1], outputs[1][-2000:]
    plugins = {p["name"]: p for p in json.loads(outputs[2])}
    assert plugins[tutorial.plugin]["distribution"] == tutorial.example
    assert tuple(plugins[tutorial.plugin]["hooks"]) == tutorial.hooks


if __name__ == "__main__":
    for tutorial in TUTORIALS:
        folder = DOCS / "examples" / tutorial.example
        for path, text in page_files(tutorial.page).items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text, encoding="utf-8")
            sys.stdout.write(f"wrote {folder / path}\n")
