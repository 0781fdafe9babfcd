"""Fixtures of the cross-package tests (the root conftest.py gives ``store_url``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wfaudit import Auditor, hookimpl
from wfaudit_hookspecs import MaskContext
from wfaudit_hookspecs.pointer import iter_nodes


class KeyNameMasker:
    """A test double of a masker: masks every value whose key is in ``names``."""

    def __init__(self, *names: str) -> None:
        self.names = set(names) or {"password", "token"}
        self.calls = 0

    @hookimpl
    def wfaudit_mask(self, context: MaskContext) -> None:
        self.calls += 1
        for path, _value in iter_nodes(context.config):
            if path and path[-1] in self.names:
                context.mask(path, rule="test.key-name")


@pytest.fixture
def make_auditor(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Auditor]]:
    """Build auditors on the test's store, with only the sql plugin's entry point
    loaded (so engine tests do not depend on the maskers' rules) unless
    ``entry_points`` names more."""
    opened: list[Auditor] = []

    def make(*plugins: object, entry_points: str = "sql", **kwargs: Any) -> Auditor:
        monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", entry_points)
        auditor = Auditor.from_url(kwargs.pop("url", store_url), plugins=plugins, **kwargs)
        opened.append(auditor)
        return auditor

    yield make
    for auditor in opened:
        auditor.close()


@pytest.fixture
def auditor(make_auditor: Callable[..., Auditor]) -> Auditor:
    """An auditor with a test masker (``password`` and ``token`` keys)."""
    return make_auditor(KeyNameMasker())
