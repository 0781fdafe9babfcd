"""Encoded variants: base64 and URL-encoded secrets, and copies of the secrets found."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import pytest

from wfaudit_maskers import Masker
from wfaudit_maskers.encoded import b64_text, is_user_password, url_decoded, variants

MASKER = Masker()

PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def rules(text: str) -> list[tuple[str, str]]:
    return [(text[f.start : f.end], f.rule) for f in MASKER.find(text)]


@pytest.mark.parametrize(
    "plain",
    [
        PEM,
        "robot$ci:Zx9!kQ2pW",
        "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6",
        '{"auths":{"registry.example.com":{"auth":"cm9ib3Q6aHVudGVyMg=="}}}',
        "apiVersion: v1\nusers:\n- name: ci\n  user:\n    token: kU8qR3vX6zA9cE2gJ5m\n",
    ],
)
def test_base64_of_a_secret_is_masked_whole(plain: str) -> None:
    token = b64(plain)
    assert rules(f"echo {token} | base64 -d > out") == [(token, "encoded:base64")]
    urlsafe = base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=")
    assert rules(urlsafe) == [(urlsafe, "encoded:base64")]


@pytest.mark.parametrize(
    "plain",
    [
        "Hello, world\n",
        '{"temps": [34, 27, 15]}',
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
        "localhost:5000",
    ],
)
def test_base64_of_public_text_is_kept(plain: str) -> None:
    assert rules(b64(plain)) == []


def test_a_url_encoded_url_with_a_password() -> None:
    inner = quote("https://ci:Pa55w0rd!x@repo.example.com/simple", safe="")
    text = f"pip install --index-url https://proxy.example.com/?target={inner} acme"
    assert rules(text) == [(inner, "encoded:url")]


def test_helpers() -> None:
    assert b64_text(b64("just text here")) == "just text here"
    assert b64_text("3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f") is None  # hex: a digest
    assert b64_text(base64.b64encode(bytes(range(40))).decode()) is None  # binary
    assert is_user_password("robot:hunter22")
    assert not is_user_password("localhost:5000")
    assert not is_user_password("https://x")
    assert url_decoded("a%40b") == "a@b"
    assert url_decoded("plain") is None
    assert variants("p@ss w0rd!") == {
        "p@ss w0rd!",
        "p%40ss%20w0rd%21",
        "p%40ss+w0rd%21",
        "P@SS W0RD!",  # reversed case
        "70407373207730726421",  # hex, both cases (no letters here)
    }
    assert variants("Abc123456") == {
        "Abc123456",
        "aBC123456",
        "416263313233343536",
        "416263313233343536".upper(),
    }


def test_copies_of_a_secret_found_by_name_are_masked(scan: Any) -> None:
    password = "Qz7!mK2#vB9x"
    config = {
        "env": {"DB_PASSWORD": password},
        "notes": f"the same value again {password} (rotate monthly)",
        "steps": [
            {"run": f"echo {b64('app:' + password)} > auth.b64"},
            {"run": f"curl 'https://x.example.com/login?u=app&p={quote(password, safe='')}'"},
            {"run": "echo nothing secret here, really nothing"},
        ],
    }
    context = scan(config)
    applied = context.applied()
    assert context.leaked(password) == []
    assert b64("app:" + password) not in applied["steps"][0]["run"]
    assert quote(password, safe="") not in applied["steps"][1]["run"]
    assert applied["notes"] == "the same value again <masked> (rotate monthly)"
    assert context.masked["/notes#21:33"] == "encoded:copy"
    assert applied["steps"][2]["run"] == "echo nothing secret here, really nothing"


def test_word_like_secrets_are_not_searched_elsewhere(scan: Any) -> None:
    # A value that is also a name (a placeholder) must not mask the name.
    config = {
        "secret": {"kind": "Secret", "stringData": {"ninja": "SECRET_PASSWORD"}},
        "env": [
            {"name": "SECRET_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
        ],
    }
    context = scan(config)
    assert context.masked == {"/secret/stringData/ninja": "known-field"}


def test_disabling_copies(scan: Any) -> None:
    config = {"env": {"API_TOKEN": "Kq8vN3xZ5bT1"}, "run": "deploy Kq8vN3xZ5bT1"}
    context = scan(config, settings={"maskers": {"disable": ["encoded:copy"]}})
    assert context.masked == {"/env/API_TOKEN": "keyword"}
