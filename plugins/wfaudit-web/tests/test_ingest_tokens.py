"""Scopes: from the environment and ``[tool.wfaudit.web] tokens``, none implying
another; and the ingest limits from the settings."""

from __future__ import annotations

import re
from typing import Any

import pytest

from wfaudit_hookspecs import ConfigurationError
from wfaudit_web.access import Tokens
from wfaudit_web.ingest import Limits

READ = "read-token-0123456789abcdef"
WRITE = "write-token-0123456789abcdef"
REPLAY = "replay-token-0123456789abcdef"


def test_each_variable_grants_its_own_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFAUDIT_WEB_TOKEN", READ)
    monkeypatch.setenv("WFAUDIT_INGEST_TOKEN", WRITE)
    monkeypatch.setenv("WFAUDIT_RETRIGGER_TOKEN", REPLAY)
    tokens = Tokens.from_settings({}, tenant="team-a")
    for token, scope in ((READ, "read"), (WRITE, "write"), (REPLAY, "retrigger")):
        access = tokens.check(token)
        assert access is not None and access.scopes == {scope} and access.tenant == "team-a"


def test_one_token_in_two_variables_gets_both_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFAUDIT_WEB_TOKEN", READ)
    monkeypatch.setenv("WFAUDIT_INGEST_TOKEN", READ)
    monkeypatch.delenv("WFAUDIT_RETRIGGER_TOKEN", raising=False)
    access = Tokens.from_settings({}).check(READ)
    assert access is not None and access.scopes == {"read", "write"}


def test_the_tokens_table_takes_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WFAUDIT_WEB_TOKEN", "WFAUDIT_INGEST_TOKEN", "WFAUDIT_RETRIGGER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI_TOKEN", WRITE)
    monkeypatch.setenv("OPS_TOKEN", READ)
    options = {
        "web": {
            "tokens": [
                {"name": "ci", "env": "CI_TOKEN", "tenant": "team-a", "scopes": ["write", "read"]},
                {"name": "ops", "env": "OPS_TOKEN"},
            ]
        }
    }
    tokens = Tokens.from_settings(options)
    ci, ops = tokens.check(WRITE), tokens.check(READ)
    assert ci is not None and ci.scopes == {"read", "write"} and ci.tenant == "team-a"
    assert ops is not None and ops.scopes == {"read"}  # the default: read only
    assert not ops.allows("write") and not ci.allows("retrigger")


@pytest.mark.parametrize(
    ("scopes", "words"),
    [
        (["admin"], "unknown scope(s) admin"),
        ("write", "list of strings"),
        ([], "at least one"),
        ([1], "list of strings"),
    ],
)
def test_bad_scopes_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, scopes: Any, words: str
) -> None:
    monkeypatch.setenv("CI_TOKEN", WRITE)
    options = {"web": {"tokens": [{"env": "CI_TOKEN", "scopes": scopes}]}}
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        Tokens.from_settings(options)


def test_a_token_is_bound_to_one_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A_TOKEN", WRITE)
    monkeypatch.setenv("B_TOKEN", WRITE)
    options = {
        "web": {
            "tokens": [
                {"env": "A_TOKEN", "tenant": "team-a", "scopes": ["write"]},
                {"env": "B_TOKEN", "tenant": "team-b", "scopes": ["read"]},
            ]
        }
    }
    with pytest.raises(ConfigurationError, match="one tenant") as raised:
        Tokens.from_settings(options)
    assert WRITE not in str(raised.value)


def test_the_limits_come_from_the_settings() -> None:
    assert Limits.from_settings({}) == Limits()
    limits = Limits.from_settings(
        {"web": {"max_body_bytes": 1024, "request_timeout": 5, "concurrency": 2, "queue": 0}}
    )
    assert limits == Limits(max_body_bytes=1024, timeout=5.0, concurrency=2, queue=0)
    for bad in (
        {"concurrency": 0},
        {"max_body_bytes": "big"},
        {"queue": 1.5},
        {"concurrency": True},
    ):
        with pytest.raises(ConfigurationError, match=r"web\."):
            Limits.from_settings({"web": bad})
