"""Property-based: nested configs with planted secrets never keep a secret.

Hypothesis builds configs of any shape (objects, lists, neutral key names,
filler text, numbers), plants secrets of every format and embedding from the
maskers' ``planted.py`` (fresh random values each time), and places values a
retrigger needs. After the engine applies the maskers' marks, no planted
secret, nor its base64 or URL-encoded form, may remain; the values to keep must.
"""

from __future__ import annotations

import copy
import random
import string
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_secrets_requests import forms, planted, strings
from wfaudit.masking import Marks, apply_marks
from wfaudit_hookspecs import TriggerRequest, check_json
from wfaudit_maskers import Masker

MASKER = Masker()
KEY = b"k" * 32

NEUTRAL_KEYS = (
    "config", "data", "items", "spec", "steps", "script", "run", "args", "notes",
    "metadata", "value", "params", "with", "options", "x-acme", "0", "stage",
)  # fmt: skip
FILLER = string.ascii_letters + string.digits + " ._-"


class Secret(NamedTuple):
    secret: str
    text: str


def _example(name: str, seed: int) -> Secret:
    rng = random.Random(seed)
    if name in planted.FORMATS:
        value = planted.FORMATS[name](rng)
        return Secret(value, value)
    if name in planted.CONTEXT_FORMATS:
        return Secret(*planted.CONTEXT_FORMATS[name](rng))
    example = next(e for e in planted.embedded_examples(seed) if e.name == name)
    return Secret(example.secret, example.text)


_NAMES = sorted(
    {*planted.FORMATS, *planted.CONTEXT_FORMATS, *(e.name for e in planted.embedded_examples())}
)

secrets = st.builds(_example, st.sampled_from(_NAMES), st.integers(0, 2**32))
fillers = st.text(FILLER, max_size=16)


@st.composite
def planted_leaf(draw: st.DrawFn) -> tuple[str, Secret]:
    secret = draw(secrets)
    before, after = draw(fillers), draw(fillers)
    glue = draw(st.sampled_from([" ", "\n", "\t"]))
    return f"{before}{glue}{secret.text}{glue}{after}" if before or after else secret.text, secret


class Tree(NamedTuple):
    config: Any
    secrets: list[Secret]
    keep: list[str]


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    found: list[Secret] = []
    keep: list[str] = []

    def leaf(kind: int) -> Any:
        if kind == 0:
            text, secret = draw(planted_leaf())
            found.append(secret)
            return text
        if kind == 1:
            value = draw(st.sampled_from(planted.KEEP))
            keep.append(value)
            return value
        if kind == 2:
            return draw(fillers)
        return draw(st.one_of(st.integers(), st.booleans(), st.none()))

    def node(depth: int) -> Any:
        shape = draw(st.integers(0, 2 if depth < 4 else 0))
        if shape == 0:
            return leaf(draw(st.integers(0, 3)))
        size = draw(st.integers(1, 4))
        if shape == 1:
            return [node(depth + 1) for _ in range(size)]
        keys = draw(
            st.lists(st.sampled_from(NEUTRAL_KEYS), min_size=size, max_size=size, unique=True)
        )
        return {key: node(depth + 1) for key in keys}

    config = {"root": node(0), "planted": [leaf(0) for _ in range(draw(st.integers(1, 3)))]}
    return Tree(config, found, keep)


def mask(config: Any) -> Any:
    copied = check_json(config)
    request = TriggerRequest(workflow_id=1, workflow_type="CI", pipeline_id=1, config=config)
    marks = Marks(request, copied, {})
    MASKER.scan(marks)
    return apply_marks(marks, copied, KEY, adapter=None, maskers=("maskers",)).config


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_no_planted_secret_survives_masking(tree: Tree) -> None:
    original = copy.deepcopy(tree.config)
    leaves = strings(mask(tree.config))
    assert tree.config == original  # the masker only reads
    for secret in tree.secrets:
        for form in forms(secret.secret):
            assert not any(form in leaf for leaf in leaves), (secret.text[:60], form[:20])
    for value in tree.keep:
        assert value in leaves


# -- cases Hypothesis found, kept as explicit tests (CI runs derandomized) -----------------


def _random_token(seed: int, size: int) -> str:
    rng = random.Random(seed)
    while True:
        token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(size))
        if any(c.isdigit() for c in token) and token.lower() != token != token.upper():
            return token


# Fresh random tokens, and one the masking evaluation (tests/masking_eval) found in clear.
TOKENS_IN_LISTS = [
    *(_random_token(seed, size) for seed, size in ((104, 32), (7, 24), (2026, 40))),
    "q0WxgeqxQlCgCeql4t6KgXC2ywOWOhV6",
]


@pytest.mark.parametrize("key", ["items", "values", "args", "0", "with"])
@pytest.mark.parametrize("token", TOKENS_IN_LISTS, ids=lambda t: f"{len(t)}-chars")
def test_found_a_random_token_in_a_list_under_a_neutral_key(key: str, token: str) -> None:
    # Hypothesis seed 104 (a fresh clone's CI run): a 32-character random token under
    # a neutral key, in a list, was left in clear.
    for items in (["lint", token, 3], [token, "--notify", "mobile"], [token]):
        leaves = strings(mask({"root": {key: items}, "planted": ["plain words"]}))
        for form in forms(token):
            assert not any(form in leaf for leaf in leaves), (
                f"under {key!r} at {items.index(token)}"
            )


PRIVATE_KEY_BLOCK = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "1fH+ZM9TBrKrmGsNmjQ8mT3OA94HhblZa/QFPiyCEs5lkO+nMLpQAK4lXOELxyxe\n"
    "H8ilqtekYJEB1J5/TkPo+QyFcIoCVvQ2hmsCfjdpypYlVoecyxp9Ahc2mHiCjMS3\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    "kept",
    ["3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f", "release-2026.12", "--verbose"],
)
def test_found_a_value_after_a_pem_block_in_a_list_is_no_flag_value(kept: str) -> None:
    # Hypothesis, in a fresh clone's CI run: a PEM block starts with dashes and names
    # a private key, and the string after it in a list was masked as the password
    # of a `--private-key` flag. Only flag-shaped words are flags.
    leaves = strings(mask({"root": [PRIVATE_KEY_BLOCK, kept]}))
    assert kept in leaves
    assert not any("1fH+ZM9TBrKrmGsNmjQ8" in leaf for leaf in leaves)
    # A real flag in a list still takes the secret after it.
    leaves = strings(mask({"args": ["--private-key", "Qz8Lm2Xw7Rt5Kb1Nc4fYp"]}))
    assert "Qz8Lm2Xw7Rt5Kb1Nc4fYp" not in leaves
