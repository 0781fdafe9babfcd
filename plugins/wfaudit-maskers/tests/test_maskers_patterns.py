"""Value patterns: every credential format of the catalog, alone and inside other text."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import pytest

from wfaudit_hookspecs import ConfigurationError
from wfaudit_maskers import CATALOG, Masker, ValuePattern

MASKER = Masker()


def covering(text: str, secret: str) -> list[str]:
    """Rules of the findings that cover every occurrence of ``secret`` in ``text``."""
    findings = MASKER.find(text)
    start = text.find(secret)
    assert start >= 0
    return [f.rule for f in findings if f.start <= start and f.end >= start + len(secret)]


def test_the_catalog_has_at_least_30_named_formats() -> None:
    names = [pattern.name for pattern in CATALOG]
    assert len(names) == len(set(names))
    assert len(names) >= 30
    for pattern in CATALOG:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", pattern.name)
        assert pattern.description
        assert all(len(prefix) >= 2 for prefix in pattern.prefixes)
        assert pattern.prefixes or pattern.contains or pattern.needles, pattern.name


def test_every_format_has_a_planted_example(planted: ModuleType) -> None:
    planted_names = {example.name for example in planted.format_examples()}
    assert {pattern.name for pattern in CATALOG} <= planted_names | {"slack-webhook"}


def test_each_format_is_found(format_example: Any) -> None:
    assert format_example.rule in covering(format_example.text, format_example.secret)


CONTEXTS = (
    "{s}",
    "export ACME_VALUE={s}",
    "curl -fsS -H 'X-Thing: {s}' https://api.example.com",
    '{{"config": {{"value": "{s}"}}}}',
    "./run.sh --target prod {s} && echo done",
    "https://api.example.com/v1?x=1&value={s}",
    "line one\n  value: {s}\nline three",
)


@pytest.mark.parametrize("context", CONTEXTS)
def test_bare_formats_are_found_anywhere_in_a_string(planted: ModuleType, context: str) -> None:
    for example in planted.format_examples():
        if example.text != example.secret:
            continue  # formats recognised by their context are tested alone
        text = context.format(s=example.secret)
        assert covering(text, example.secret), f"{example.name} in {context!r}"


def test_only_the_secret_span_is_masked(planted: ModuleType) -> None:
    token = planted.FORMATS["github-pat"](__import__("random").Random(1))
    text = f"git push https://github.com/acme/app.git && echo {token} > ~/.token"
    findings = MASKER.find(text)
    assert [(text[f.start : f.end], f.rule) for f in findings] == [(token, "pattern:github-pat")]


def test_kubernetes_service_account_tokens_are_named(planted: ModuleType) -> None:
    rng = __import__("random").Random(3)
    token = planted.FORMATS["kubernetes-sa-token"](rng)
    assert covering(token, token) == ["pattern:kubernetes-sa-token"]


@pytest.mark.parametrize(
    "text",
    [
        "sk-learn-is-a-python-package-for-machine-learning",  # no digits, one case
        "eyJub3QiOiJhIGp3dCJ9.eyJub3QiOiJhIGp3dCJ9",  # two parts, no signature part
        "AKIA-not-a-key",
        "ghp_short",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
        "pk_live_0123456789abcdefABCDEF01",  # a publishable key is public
        "key-value store",
        "SKIP_TESTS_ON_CI_WITH_A_LONG_NAME",
    ],
)
def test_lookalikes_are_not_masked(text: str) -> None:
    assert MASKER.find(text) == ()


def test_values_to_keep_are_not_masked(planted: ModuleType) -> None:
    for value in planted.KEEP:
        for text in (value, f"image: {value}", f"git checkout {value} && make"):
            assert MASKER.find(text) == (), text


def test_a_pattern_can_be_disabled_alone(planted: ModuleType) -> None:
    example = next(e for e in planted.format_examples() if e.name == "github-pat")
    masker = Masker(disable=["pattern:github-pat", "entropy"])
    assert masker.find(example.text) == ()
    assert Masker(disable=["pattern"]).find(example.text)[0].rule == "entropy"


def test_patterns_from_configuration(scan: Any) -> None:
    settings = {
        "maskers": {
            "patterns": {
                "acme-token": "acme_[0-9a-f]{32}",
                "acme-session": {"regex": "sess=(?P<s>[A-Za-z0-9]{20,})", "needles": ["sess="]},
                "acme-pin": {
                    "regex": "pin (?P<s>[0-9]{6})",
                    "needles": ["PIN"],
                    "ignore_case": True,
                },
            }
        }
    }
    token = "acme_" + "0123456789abcdef" * 2
    config = {
        "script": f"deploy --key {token} --opt sess=Ab3dEf6hIj9kLm2nOp5q --PIN 123456",
        "note": "no secret here",
    }
    context = scan(config, settings=settings)
    applied = context.applied()
    assert token not in applied["script"]
    assert "Ab3dEf6hIj9kLm2nOp5q" not in applied["script"]
    assert "123456" not in applied["script"]
    assert applied["script"] == "deploy --key <masked> --opt sess=<masked> --PIN <masked>"
    assert set(context.masked.values()) == {
        "pattern:acme-token",
        "pattern:acme-session",
        "pattern:acme-pin",
    }


def test_patterns_in_code() -> None:
    # A prefix-dispatched pattern sees tokens of 16 characters or more.
    pattern = ValuePattern(name="acme", regex=re.compile(r"acme_[0-9]{12}"), prefixes=("acme_",))
    masker = Masker(patterns=[pattern], disable=["entropy"])
    text = "token acme_123456789012 ok"
    assert [(f.start, f.end, f.rule) for f in masker.find(text)] == [(6, 23, "pattern:acme")]
    masker = Masker(patterns={"acme": r"acme_[0-9]{12}"}, disable=["pattern:acme"])
    assert masker.find(text) == ()


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ({"Bad Name": "x+"}, "a pattern name must be lower-case"),
        ({"p": "("}, "invalid regex"),
        ({"p": "x*"}, "matches the empty string"),
        ({"p": {"regex": "x+", "needle": ["x"]}}, "unknown key 'needle'"),
        ({"p": {"regex": "x+", "needles": "x"}}, "needles must be a list"),
        ({"p": {"regex": "x+", "ignore_case": "yes"}}, "ignore_case must be true or false"),
        ({"p": 3}, "expected a regex string or a table"),
        ("acme", "expected a table of name = regex"),
    ],
)
def test_bad_patterns_are_refused(patterns: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Masker.from_settings({"maskers": {"patterns": patterns}})
