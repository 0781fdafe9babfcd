"""docs/secrets.md cannot fall behind the maskers' and restorer's rules and options."""

from __future__ import annotations

import pathlib
import re

from wfaudit_keyring.settings import PLACEHOLDERS
from wfaudit_maskers import CATALOG, RULE_NAMES, MaskerSettings
from wfaudit_maskers.scanner import text_rule_names

DOC = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "secrets.md").read_text("utf-8")


def test_every_rule_is_documented() -> None:
    for rule in (*RULE_NAMES, *text_rule_names()):
        assert f"`{rule}`" in DOC, f"docs/secrets.md does not mention {rule}"


def test_the_count_of_formats_is_right() -> None:
    formats = [rule for rule in text_rule_names() if rule.startswith("pattern:")]
    assert len(formats) >= len(CATALOG) >= 30
    assert f"{len(formats)} formats recognised" in DOC


def test_every_option_is_documented() -> None:
    for option in MaskerSettings.__dataclass_fields__:
        assert re.search(rf"^{option} = ", DOC, re.M) or f"[tool.wfaudit.maskers.{option}]" in DOC
    for placeholder in PLACEHOLDERS:
        assert f"{{{placeholder}}}" in DOC
    assert "keyring_service = " in DOC
