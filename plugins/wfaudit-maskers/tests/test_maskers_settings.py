"""The ``[tool.wfaudit.maskers]`` options: disable, extra keywords and fields, allow_keys."""

from __future__ import annotations

from typing import Any

import pytest

from wfaudit_hookspecs import ConfigurationError
from wfaudit_maskers import RULE_NAMES, Masker, MaskerSettings

CONFIG = {
    "dockerPassword": "s3cr3t",
    "dbPassword": "s3cr3t",
    "secretName": "ci",
    "run": "echo ${{ secrets.X }}",
    "pin": "1234",
    "vendorBlob": {"opaque": "s3cr3t"},
    "buildToken": "s3cr3t",
    "env": [{"name": "BUILD_TOKEN", "value": "s3cr3t"}],
}


def test_rule_names() -> None:
    assert RULE_NAMES == (
        "known-field",
        "reference",
        "keyword",
        "pattern",
        "embedded",
        "encoded",
        "entropy",
    )
    assert Masker().rules == RULE_NAMES


def test_defaults(scan: Any) -> None:
    context = scan(CONFIG)
    assert context.masked == {
        "/dockerPassword": "known-field",
        "/dbPassword": "keyword",
        "/buildToken": "keyword",
        "/env/0/value": "keyword",
    }
    assert {(r.pointer, r.rule) for r in context.refs} == {
        ("/secretName", "reference"),
        ("/run", "reference"),
    }


def test_disable_keyword(scan: Any) -> None:
    context = scan(CONFIG, settings={"maskers": {"disable": ["keyword"]}})
    assert context.masked == {"/dockerPassword": "known-field"}


def test_disable_known_field_leaves_the_keyword_rule(scan: Any) -> None:
    context = scan(CONFIG, settings={"maskers": {"disable": ["known-field"]}})
    assert context.masked["/dockerPassword"] == "keyword"


def test_disable_reference(scan: Any) -> None:
    context = scan(CONFIG, settings={"maskers": {"disable": ["reference"]}})
    assert context.refs == []
    assert "/dbPassword" in context.masked


def test_disable_everything(scan: Any) -> None:
    context = scan(CONFIG, masker=Masker(disable=RULE_NAMES))
    assert context.masked == {}
    assert context.refs == []


def test_extra_keywords(scan: Any) -> None:
    masker = Masker(extra_keywords=["pin", "signing salt"])
    context = scan({**CONFIG, "SIGNING_SALT": "s3cr3t", "pin_length": 4}, masker)
    assert context.masked["/pin"] == "keyword"
    assert context.masked["/SIGNING_SALT"] == "keyword"
    assert "/pin_length" not in context.masked  # qualifiers still apply


def test_extra_fields_are_masked_whole(scan: Any) -> None:
    context = scan(CONFIG, masker=Masker(extra_fields=["vendor_blob"]))
    assert context.masked["/vendorBlob"] == "known-field"


@pytest.mark.parametrize("style", ["buildToken", "build_token", "BUILD-TOKEN"])
def test_allow_keys(scan: Any, style: str) -> None:
    context = scan(CONFIG, settings={"maskers": {"allow_keys": [style]}})
    assert "/buildToken" not in context.masked
    assert "/env/0/value" not in context.masked  # a pair named BUILD_TOKEN too
    assert "/dbPassword" in context.masked


def test_allowed_key_still_descends() -> None:
    masker = Masker(allow_keys=["credentials"])
    assert not masker.classify("credentials").secret


def test_from_settings_without_a_table() -> None:
    assert Masker.from_settings({}).rules == RULE_NAMES
    assert Masker.from_settings({"maskers": None}).rules == RULE_NAMES
    assert MaskerSettings.from_settings({"store": "sqlite:///x"}) == MaskerSettings()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("keyword", r"\[tool\.wfaudit\.maskers\] must be a table, not str"),
        ({"disable": "keyword"}, r"disable: expected a list of strings, not str"),
        ({"disable": ["keywords"]}, r"unknown rule 'keywords'; the rules are known-field"),
        ({"disable": [1]}, r"disable: every item must be a string, not int"),
        ({"extra_keywords": [""]}, r"extra_keywords: items must not be empty"),
        ({"extra_keywords": ["__"]}, r"'__' has no letters or digits"),
        ({"extra_fields": 3}, r"extra_fields: expected a list of strings, not int"),
        ({"allow_keys": [None]}, r"allow_keys: every item must be a string, not NoneType"),
        ({"allow_key": ["x"]}, r"unknown option 'allow_key'; the options are allow_keys"),
    ],
)
def test_invalid_settings(table: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Masker.from_settings({"maskers": table})


def test_invalid_settings_in_code() -> None:
    with pytest.raises(ConfigurationError, match="unknown rule 'entropyy'"):
        Masker(disable=["entropyy"])
    with pytest.raises(ConfigurationError, match="expected a list of strings"):
        Masker(extra_keywords="pin")


def test_settings_must_be_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match="must be a table"):
        MaskerSettings.from_settings(["maskers"])  # type: ignore[arg-type]
