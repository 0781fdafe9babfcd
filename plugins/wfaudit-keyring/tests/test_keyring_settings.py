"""The ``[tool.wfaudit.restore]`` options."""

from __future__ import annotations

from typing import Any

import pytest

from wfaudit_hookspecs import ConfigurationError, RestoreRef, SecretRequest
from wfaudit_keyring import RestoreSettings, Source


def request(path: str, span: tuple[int, int] | None = None, **kw: Any) -> SecretRequest:
    return SecretRequest(path=path, rule="keyword", fingerprint="ab" * 32, span=span, **kw)


def sources(
    options: RestoreSettings, req: SecretRequest, single: bool = True
) -> list[tuple[str, str]]:
    return [(s.kind, s.describe().split(" ", 1)[1]) for s in options.sources(req, single=single)]


def test_absent_table() -> None:
    assert RestoreSettings.from_settings({}) == RestoreSettings()
    assert sources(RestoreSettings(), request("/x")) == []


def test_exact_pointers_then_patterns_then_the_reference_then_the_default_service() -> None:
    options = RestoreSettings.from_settings(
        {
            "restore": {
                "keyring_service": "wfaudit",
                "keyring": {"/steps/*/env/TOKEN": "ci/token", "/steps/0/env/TOKEN": "ci/step0"},
                "env": {"/steps/0/env/TOKEN": "STEP0_TOKEN", "/**/TOKEN": "ANY_TOKEN"},
            }
        }
    )
    req = request("/steps/0/env/TOKEN", restore=RestoreRef(kind="env", target="TOKEN"))
    assert sources(options, req) == [
        ("keyring", "ci/step0"),
        ("env", "STEP0_TOKEN"),
        ("keyring", "ci/token"),
        ("env", "ANY_TOKEN"),
        ("env", "TOKEN"),
        ("keyring", "wfaudit//steps/0/env/TOKEN"),
    ]
    assert sources(options, request("/steps/1/env/OTHER")) == [
        ("keyring", "wfaudit//steps/1/env/OTHER")
    ]


def test_spans_and_patterns() -> None:
    options = RestoreSettings.build(
        env={"/script#12:40": "A", "/script": "B", "/run#*": "C", "/x/*": "D", "/y/?": "E"}
    )
    assert sources(options, request("/script", (12, 40)), single=False) == [("env", "A")]
    # A pointer without a span stands for the only secret of its string.
    assert sources(options, request("/script", (50, 70)), single=True) == [("env", "B")]
    assert sources(options, request("/script", (50, 70)), single=False) == []
    assert sources(options, request("/run", (1, 9))) == [("env", "C")]
    assert sources(options, request("/x/a")) == [("env", "D")]
    assert sources(options, request("/x/a/b")) == []  # * stays within a token
    assert sources(options, request("/y/ab")) == []


def test_a_source_names_its_origin() -> None:
    options = RestoreSettings.build(keyring={"/a": "s/u"})
    (source,) = options.sources(request("/a"), single=True)
    assert source == Source("keyring", "s", "u", "[tool.wfaudit.restore].keyring '/a'")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("x", r"\[tool\.wfaudit\.restore\] must be a table"),
        ({"keyrings": {}}, "unknown option 'keyrings'"),
        ({"env": ["A"]}, r"restore\]\.env must be a table"),
        ({"env": {"dockerPassword": "A"}}, "must be a JSON pointer starting with '/'"),
        ({"env": {"/a": ""}}, "the target must be a non-empty string"),
        ({"env": {"/a": "NOT-A-NAME"}}, "is not an environment variable name"),
        ({"keyring": {"/a": "no-slash"}}, "a keyring target is 'service/username'"),
        ({"keyring": {"/a": "svc/"}}, "a keyring target is 'service/username'"),
        ({"keyring": {"/a": "svc-{pipeline}/u"}}, "unknown placeholder 'pipeline'"),
        ({"env": {"/a#1": "A"}}, "a span is written '#start:end'"),
        ({"keyring_service": ""}, "keyring_service: expected a non-empty string"),
    ],
)
def test_invalid_settings(table: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RestoreSettings.from_settings({"restore": table})
