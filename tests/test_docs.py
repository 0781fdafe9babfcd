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


def test_readme_starts_with_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block == [
        "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt && .venv/bin/wfaudit demo",
        ".venv/bin/python -m pytest",
    ]
    ci = (DOCS.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet -r requirements-dev.txt" in ci
    assert ".venv/bin/python -m pytest" in ci
