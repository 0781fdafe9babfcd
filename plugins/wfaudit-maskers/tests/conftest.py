"""Fixtures of the masker tests: a recording MaskContext and the fake requests."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path as FilePath
from types import ModuleType
from typing import Any, NamedTuple

import pytest

from wfaudit_hookspecs import Path, RestoreRef, TriggerRequest, to_pointer
from wfaudit_maskers import Masker

PLACEHOLDER = "<masked>"


def _load(stem: str) -> ModuleType:
    # Tests run with --import-mode=importlib: a sibling module is loaded by path,
    # under a name no other plugin's tests can clash with.
    name = f"wfaudit_maskers_tests_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FilePath(__file__).with_name(f"{stem}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Mark(NamedTuple):
    rule: str
    span: tuple[int, int] | None
    restore: RestoreRef | None


class Ref(NamedTuple):
    pointer: str
    kind: str
    name: str
    rule: str


class RecordingContext:
    """A MaskContext test double: records marks and references, keeps the config.

    It fails a test on the spot when a masker marks the same value twice (whole,
    or the same span), marks a path that does not exist, or gives a span outside
    its string.
    """

    def __init__(self, config: Any, settings: Mapping[str, Any] | None = None) -> None:
        self._config = config
        self._settings = settings or {}
        self.marks: dict[Path, Mark] = {}
        self.span_marks: dict[Path, list[Mark]] = {}
        self.key_marks: dict[Path, Mark] = {}
        self.refs: list[Ref] = []

    @property
    def request(self) -> TriggerRequest:
        return TriggerRequest(
            workflow_id="42", workflow_type="CI", pipeline_id="7", config=self._config
        )

    @property
    def config(self) -> Any:
        return self._config

    @property
    def settings(self) -> Mapping[str, Any]:
        return self._settings

    @property
    def reference_syntax(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return ()

    def mask(
        self,
        path: Path,
        *,
        rule: str,
        span: tuple[int, int] | None = None,
        restore: RestoreRef | None = None,
        key: bool = False,
    ) -> None:
        if key:
            parent = self._value(path[:-1])
            assert isinstance(parent, dict) and path[-1] in parent, "a key that is not there"
            assert path not in self.key_marks, f"key {to_pointer(path)} marked twice"
            self.key_marks[path] = Mark(rule, None, restore)
            return
        node = self._config
        for token in path:
            node = node[token]  # KeyError / IndexError: a path that does not exist
        if span is None:
            assert path not in self.marks, f"{to_pointer(path)} marked twice"
            self.marks[path] = Mark(rule, span, restore)
            return
        assert isinstance(node, str), f"span marked in a non-string at {to_pointer(path)}"
        start, end = span
        assert 0 <= start < end <= len(node), f"bad span {span} at {to_pointer(path)}"
        spans = self.span_marks.setdefault(path, [])
        assert all(m.span != span for m in spans), f"{to_pointer(path)}#{span} marked twice"
        spans.append(Mark(rule, span, restore))

    def reference(self, path: Path, *, kind: str, name: str, rule: str = "") -> None:
        self.refs.append(Ref(to_pointer(path), kind, name, rule))

    def is_masked(self, path: Path) -> bool:
        return any(path[:i] in self.marks for i in range(len(path) + 1))

    # -- views for assertions -------------------------------------------------------

    @property
    def masked(self) -> dict[str, str]:
        """pointer -> rule, ``pointer#start:end`` -> rule for spans, and
        ``pointer#key`` -> rule for keys."""
        out = {to_pointer(p): m.rule for p, m in self.marks.items()}
        out.update((f"{to_pointer(p)}#key", m.rule) for p, m in self.key_marks.items())
        for path, marks in self.span_marks.items():
            for m in marks:
                assert m.span is not None
                out[f"{to_pointer(path)}#{m.span[0]}:{m.span[1]}"] = m.rule
        return out

    @property
    def restores(self) -> dict[str, str | None]:
        """pointer -> env restore target."""
        return {
            to_pointer(p): m.restore.target if m.restore else None for p, m in self.marks.items()
        }

    @property
    def references(self) -> set[tuple[str, str, str]]:
        """(pointer, kind, name) of every reference."""
        return {(r.pointer, r.kind, r.name) for r in self.refs}

    def secrets(self) -> list[str]:
        """The texts masked (whole strings and spans)."""
        out: list[str] = []
        for path in self.marks:
            value = self._value(path)
            if isinstance(value, str):
                out.append(value)
        for path, marks in self.span_marks.items():
            value = self._value(path)
            out.extend(value[m.span[0] : m.span[1]] for m in marks if m.span)
        return out

    def _value(self, path: Path) -> Any:
        node = self._config
        for token in path:
            node = node[token]
        return node

    def applied(self) -> Any:
        """A copy of the config with every masked value replaced, as the engine would."""
        out = copy.deepcopy(self._config)
        for path, marks in self.span_marks.items():
            if self.is_masked(path):
                continue
            node = out
            for token in path[:-1]:
                node = node[token]
            text = node[path[-1]]
            for m in sorted(marks, key=lambda m: m.span or (0, 0), reverse=True):
                assert m.span is not None
                text = text[: m.span[0]] + PLACEHOLDER + text[m.span[1] :]
            node[path[-1]] = text
        for path in sorted(self.marks, key=len):
            node = out
            for token in path[:-1]:
                node = node[token]
            node[path[-1]] = PLACEHOLDER
        return out

    def leaked(self, mark: str) -> list[str]:
        """Pointers of strings still holding ``mark`` after masking."""
        found: list[str] = []

        def visit(node: Any, path: Path) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    visit(value, (*path, key))
            elif isinstance(node, list):
                for index, value in enumerate(node):
                    visit(value, (*path, index))
            elif isinstance(node, str) and mark in node:
                found.append(to_pointer(path))

        visit(self.applied(), ())
        return found


Scan = Callable[..., RecordingContext]


@pytest.fixture
def scan() -> Scan:
    """``scan(config, masker=None, settings=None)``: run a masker, return the recording.

    Also checks that the masker left the config as it was.
    """

    def run(
        config: Any, masker: Masker | None = None, settings: Mapping[str, Any] | None = None
    ) -> RecordingContext:
        before = json.dumps(config, sort_keys=True)
        context = RecordingContext(config, settings)
        (masker or Masker.from_settings(context.settings)).scan(context)
        assert json.dumps(config, sort_keys=True) == before, "the masker changed the config"
        return context

    return run


@pytest.fixture(scope="session")
def fakes() -> ModuleType:
    return _load("fakes")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``format_example`` and ``embedded_example``: one test per planted secret."""
    for name, make in (
        ("format_example", "format_examples"),
        ("embedded_example", "embedded_examples"),
    ):
        if name in metafunc.fixturenames:
            examples = getattr(_load("planted"), make)()
            metafunc.parametrize(name, examples, ids=[e.name for e in examples])


@pytest.fixture(scope="session")
def planted() -> ModuleType:
    """Realistic fakes of every credential format and embedding (``planted.py``)."""
    return _load("planted")


@pytest.fixture
def recording_context() -> type[RecordingContext]:
    return RecordingContext
