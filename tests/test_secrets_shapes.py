"""The secret shapes of issue #17, through the engine's mask stage.

Each class has several members, the issue's own examples among them. A test
masks a request with the built-in maskers and the engine's ``apply_marks``, then
checks that no form of the planted secret is left anywhere in the masked config
(keys included), that the benign values are kept, and, where keys are masked,
that ``unmask`` puts the original config back.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from typing import Any

import pytest

from wfaudit.masking import KEY_ENCODING, Marks, MaskOutcome, apply_marks, unmask
from wfaudit_hookspecs import TriggerRequest, check_json
from wfaudit_maskers import Masker

MASKER = Masker()
KEY = b"k" * 32


def mask(config: Any, syntax: tuple[tuple[str, re.Pattern[str]], ...] = ()) -> MaskOutcome:
    copied = check_json(config)
    request = TriggerRequest(workflow_id=1, workflow_type="CI", pipeline_id=1, config=config)
    marks = Marks(request, copied, {}, syntax)
    MASKER.scan(marks)
    return apply_marks(marks, copied, KEY, adapter=None, maskers=("maskers",))


def texts(config: Any) -> list[str]:
    """Every string of a config, keys included."""
    out: list[str] = []
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            out.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            out.append(node)
    return out


def leaks(outcome: MaskOutcome, *secrets: str) -> list[str]:
    blob = "\x00".join(texts(outcome.config))
    return [secret for secret in secrets if secret in blob]


def restored(outcome: MaskOutcome, original: Any) -> Any:
    """``unmask`` with each secret found again by its fingerprint in the original."""
    candidates: set[str] = set()
    for text in texts(original):
        candidates.update(text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1))
    by_fingerprint = {hmac.new(KEY, c.encode(), hashlib.sha256).hexdigest(): c for c in candidates}
    values = {f.key: by_fingerprint[f.fingerprint] for f in outcome.manifest.fields}
    return unmask(copy.deepcopy(outcome.config), outcome.manifest.fields, values)


# -- 3. copies of a found secret, whatever characters they hold ----------------------

SPECIAL_SECRETS = [
    "p@ss w0rd; (x)=[y]",
    "Tr0ub4dor&3",
    "a:b=c,d;e",
    "{x}<y>|z'q\"w`e",
    "correct horse battery staple",
    "S3cr3t!@#$%^&*()",
]


@pytest.mark.parametrize("secret", SPECIAL_SECRETS)
def test_every_copy_of_a_found_secret_is_masked(secret: str) -> None:
    config = {
        "dbPassword": secret,
        "backup": {"user": "app", "login": secret},
        "script": f"echo '{secret}' | passwd --stdin app\nexport X=\"{secret}\"",
        "notes": [f"the password is {secret} (do not share)"],
        "byValue": {secret: "primary"},
        "reversed": secret.swapcase(),
        "hex": f"pw={secret.encode().hex()}",
    }
    outcome = mask(config)
    forms = [secret, secret.swapcase(), secret.encode().hex()]
    assert leaks(outcome, *forms) == []
    assert outcome.config["backup"]["user"] == "app"
    assert (
        outcome.config["script"].endswith('"') and "passwd --stdin app" in outcome.config["script"]
    )
    assert restored(outcome, config) == config


def test_a_found_secret_is_masked_inside_longer_words_too() -> None:
    config = {"token": "xQ9#kL2@vB7!", "url": "https://h/cb?state=xQ9#kL2@vB7!&next=1"}
    assert leaks(mask(config), "xQ9#kL2@vB7!") == []


def test_single_words_are_not_searched_for_elsewhere() -> None:
    # A word-like value under a secret name is also a name used all over a config.
    outcome = mask({"secret": "kubernetes-dashboard", "image": "kubernetes-dashboard:v2"})
    assert outcome.config["image"] == "kubernetes-dashboard:v2"


# -- 4. secrets used as mapping keys ----------------------------------------------------

KEY_SECRETS = [
    "https://user:pa55w0rd@git.example.com/repo.git",
    "AKIAQYLPMN5HHHFPZAM2",
    "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
    "xoxb-2817340123-2817340123456-Qm8sT3vN6pL1kR9wZ4yX7cB2",
]


@pytest.mark.parametrize("secret", KEY_SECRETS)
def test_secret_keys_are_masked_and_restored(secret: str) -> None:
    config = {"remotes": {secret: "primary", "origin": "https://git.example.com/app.git"}}
    outcome = mask(config)
    assert leaks(outcome, secret.split("@")[0].split(":")[-1], secret) == []
    remotes = outcome.config["remotes"]
    assert remotes["origin"] == "https://git.example.com/app.git"
    [placeholder] = [k for k in remotes if k != "origin"]
    assert remotes[placeholder] == "primary"
    [field] = [f for f in outcome.manifest.fields if f.encoding == KEY_ENCODING]
    assert field.path == f"/remotes/{placeholder}"
    assert field.key == f"/remotes/{placeholder}#key"
    assert restored(outcome, config) == config


def test_masked_keys_stay_unique_and_nested_paths_follow_them() -> None:
    token = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
    config = {
        "m": {
            token: {"AKIAQYLPMN5HHHFPZAM2": "x", "password": "hunter2hunter2"},
            f"{token} ": "second key holding the same token",
        }
    }
    outcome = mask(config)
    assert leaks(outcome, token, "AKIAQYLPMN5HHHFPZAM2", "hunter2hunter2") == []
    assert len(outcome.config["m"]) == 2
    for field in outcome.manifest.fields:
        node: Any = outcome.config
        tokens = field.path.split("/")[1:]
        for token_ in tokens[:-1] if field.encoding == KEY_ENCODING else tokens:
            node = node[token_]
        if field.encoding == KEY_ENCODING:
            assert tokens[-1] in node
    assert restored(outcome, config) == config


def test_the_value_and_the_key_of_one_entry_can_both_be_masked() -> None:
    config = {"k": {"dbPassword": "s3cr3t-v@lue!", "s3cr3t-v@lue!": "s3cr3t-v@lue!"}}
    outcome = mask(config)
    assert leaks(outcome, "s3cr3t-v@lue!") == []
    keys = {f.key for f in outcome.manifest.fields}
    assert len(keys) == len(outcome.manifest.fields)  # a key and its value: distinct keys
    assert restored(outcome, config) == config


def test_error_messages_never_quote_keys() -> None:
    from wfaudit_hookspecs import InvalidRequest

    secret = "https://user:pa55w0rd@git.example.com/repo.git"
    with pytest.raises(InvalidRequest) as caught:
        check_json({"remotes": {secret: {"weight": float("nan")}}})
    assert "pa55w0rd" not in str(caught.value) and "git.example.com" not in str(caught.value)
    assert "/@0/@0/@0" in str(caught.value)


# -- 5. %-encoded passwords in connection URLs ---------------------------------------------

ENCODED_URLS = [
    ("postgresql://app:%2AAb%40cd@db/app", "*Ab@cd"),
    ("mysql://root:p%40ss%3Aw0rd@db:3306/shop", "p@ss:w0rd"),
    ("amqp://svc:%24ecret%21x@rabbit/vh", "$ecret!x"),
    ("redis://:%2Fa%2Bb%3D9@cache:6379/0", "/a+b=9"),
    ("mongodb+srv://u:Zq%25VAR%25@cluster0.example.net", "Zq%VAR%"),
    ("sqlserver://sa:Pa%20ss%20w0rd@mssql:1433", "Pa ss w0rd"),
]


@pytest.mark.parametrize(("url", "plain"), ENCODED_URLS)
def test_encoded_url_passwords_and_their_decoded_copies_are_masked(url: str, plain: str) -> None:
    encoded = url.split(":", 2)[2].split("@")[0]
    config = {"databaseUrl": url, "script": f"PGPASSWORD='{plain}' psql -h db", "note": plain}
    outcome = mask(config)
    assert leaks(outcome, encoded, plain) == []
    assert outcome.config["databaseUrl"].endswith(url.split("@", 1)[1])


# -- reversed case and hex copies ------------------------------------------------------------


def test_reversed_case_and_hex_copies_are_masked() -> None:
    secret = "Zx8-Lm3_Qr5!"
    config = {
        "apiToken": secret,
        "a": f"TOKEN={secret.swapcase()}",
        "b": secret.encode().hex(),
        "c": secret.encode().hex().upper(),
    }
    outcome = mask(config)
    assert (
        leaks(outcome, secret.swapcase(), secret.encode().hex(), secret.encode().hex().upper())
        == []
    )


# -- declared reference syntax ----------------------------------------------------------------

CRED = (("jenkins-credential", re.compile(r"\$\{cred:(?P<name>[\w.-]+)\}")),)


def test_declared_references_are_never_masked_and_are_listed() -> None:
    config = {
        "npmToken": "${cred:npm}",
        "run": "npm publish --token=${cred:npm-publish}",
        "password": "hunter2${cred:suffix}",
    }
    outcome = mask(config, CRED)
    assert outcome.config["npmToken"] == "${cred:npm}"
    assert "--token=${cred:npm-publish}" in outcome.config["run"]
    # The literal part of a value holding a reference is still masked.
    assert "hunter2" not in outcome.config["password"]
    assert outcome.config["password"].endswith("${cred:suffix}")
    assert ("/npmToken", "jenkins-credential", "npm") in {
        (r.path, r.kind, r.name) for r in outcome.manifest.references
    }
    # Without the declaration, the same values are masked.
    plain = mask(config)
    assert plain.config["npmToken"] != "${cred:npm}"
