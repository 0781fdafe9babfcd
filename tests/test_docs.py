"""The docs cannot fall behind the code (datasette's approach)."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

from wfaudit_hookspecs import hookspecs

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
TESTS = pathlib.Path(__file__).resolve().parent


def _generator(name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("generator", "target"), [("gen_hooks", "hooks.md"), ("gen_cli", "cli.md")]
)
def test_generated_reference_is_up_to_date(generator: str, target: str) -> None:
    module = _generator(generator)
    expected = module.render()  # type: ignore[attr-defined]
    actual = (DOCS / target).read_text(encoding="utf-8")
    assert actual == expected, f"docs/{target} is stale: run python docs/{generator}.py"


@pytest.mark.parametrize("hook", hookspecs.__all__)
def test_every_hook_is_documented(hook: str) -> None:
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert ":param" in doc or "register" in doc or "returns" in doc.lower()
    assert f"## `{hook}`" in (DOCS / "hooks.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("hook", hookspecs.__all__)
def test_every_hook_has_a_test(hook: str) -> None:
    pattern = re.compile(rf"def test_hook_{hook}\b")
    assert any(pattern.search(p.read_text(encoding="utf-8")) for p in TESTS.glob("test_*.py")), (
        f"no test named test_hook_{hook} in tests/"
    )


README_COMMANDS = [
    "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/wfaudit demo",
    ".venv/bin/pip install -r requirements-dev.txt && .venv/bin/python -m pytest -n auto --dist loadfile",
]


def test_readme_starts_with_the_two_commands() -> None:
    """The first installs what a user needs and runs the demo, the second the
    development requirements and the suite; CI runs exactly these lines."""
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block == README_COMMANDS
    ci = (DOCS.parent / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for command in README_COMMANDS:
        assert ci.count(command) == 1, f".ci/run does not run {command!r} as written"


def _requirements(name: str) -> set[str]:
    lines = (DOCS.parent / name).read_text(encoding="utf-8").splitlines()
    found = set()
    for line in lines:
        line = line.split("#", 1)[0].strip().removeprefix("-e ").strip()
        if line:
            found.add(line.split("[", 1)[0].removeprefix("./").rstrip("/") or ".")
    return found


def test_the_requirements_install_every_distribution() -> None:
    """requirements.txt (a user's) and requirements-dev.txt (a developer's) both
    name every distribution of the repository; only the second has test extras
    or tools."""
    root = DOCS.parent
    distributions = {"."} | {
        p.parent.relative_to(root).as_posix()
        for p in [*root.glob("hookspecs/pyproject.toml"), *root.glob("plugins/*/pyproject.toml")]
    }
    assert _requirements("requirements.txt") == distributions
    assert _requirements("requirements-dev.txt") == distributions
    user = (root / "requirements.txt").read_text(encoding="utf-8")
    assert "[" not in user and "-e " not in user, "requirements.txt installs no extras"


def test_the_readme_layout_lists_every_plugin() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Repository layout", 1)[1].split("\n## ", 1)[0]
    for plugin in sorted((DOCS.parent / "plugins").glob("*/pyproject.toml")):
        assert f"`plugins/{plugin.parent.name}/`" in layout, plugin.parent.name
