"""Canonical JSON: the content hash must be stable across processes and versions."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from wfaudit_hookspecs import InvalidRequest, canonical_json, check_json, content_hash

GOLDEN = [
    ({"b": 1, "a": [True, False, None]}, b'{"a":[true,false,null],"b":1}'),
    ({"z": {"y": 1, "x": 2}}, b'{"z":{"x":2,"y":1}}'),
    ({"text": "caf\u00e9 \u2603 \U0001f600"}, '{"text":"café ☃ 😀"}'.encode()),
    ({"ctl": 'a\nb\t"c"\\\u0001'}, b'{"ctl":"a\\nb\\t\\"c\\"\\\\\\u0001"}'),
    ([0.1, 1.0, -0.0, 1e16, 1.5e-07, 123456789.125], b"[0.1,1.0,-0.0,1e+16,1.5e-07,123456789.125]"),
    ([2**70, -(2**64)], b"[1180591620717411303424,-18446744073709551616]"),
    ({"\u00e9": 1, "z": 2, "a": 3, "Z": 4}, '{"Z":4,"a":3,"z":2,"é":1}'.encode()),
    ([], b"[]"),
    ({}, b"{}"),
]


@pytest.mark.parametrize(("value", "expected"), GOLDEN)
def test_golden_encodings(value: object, expected: bytes) -> None:
    assert canonical_json(value) == expected
    assert json.loads(expected) == value


def test_hash_is_sha256_of_canonical_bytes() -> None:
    assert content_hash(b"{}") == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def test_hash_is_stable_across_processes_and_hash_seeds() -> None:
    value = {"steps": [{"name": f"s{i}", "env": {"K": i * 0.5}} for i in range(50)], "é": "x"}
    here = content_hash(canonical_json(value))
    script = (
        "import json,sys; from wfaudit_hookspecs import canonical_json, content_hash;"
        "print(content_hash(canonical_json(json.loads(sys.stdin.read()))))"
    )
    for seed in ("0", "1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(value),
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        assert out.stdout.strip() == here


def test_key_order_does_not_matter() -> None:
    a = {"x": 1, "y": {"p": 1, "q": 2}}
    b = {"y": {"q": 2, "p": 1}, "x": 1}
    assert canonical_json(a) == canonical_json(b)


def test_integral_float_and_int_differ() -> None:
    assert canonical_json({"a": 1}) != canonical_json({"a": 1.0})


@pytest.mark.parametrize(
    ("value", "where"),
    [
        # Object keys by position (a key may be a secret): /@0 is the first key.
        ({"a": {1: "x"}}, "/@0"),
        ({"a": [1, math.nan]}, "/@0/1"),
        ({"z": 1, "a": math.inf}, "/@1"),
        ({"a": {"b": b"bytes"}}, "/@0/@0"),
        ({"a": {"b", "c"}}, "/@0"),
        ({"a/b": {"c~d": "\ud800"}}, "/@0/@0"),
    ],
)
def test_non_json_data_is_refused_naming_the_path(value: object, where: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_json(value)
    assert where in str(info.value)
    if where != "/@0" or not isinstance(value["a"], dict):  # type: ignore[index]
        # canonical_json expects checked data; beyond int keys, it refuses too.
        with pytest.raises(InvalidRequest):
            canonical_json(value)


class _Secretish:
    def __repr__(self) -> str:
        return "hunter2-secret"


def test_error_message_never_quotes_the_value() -> None:
    with pytest.raises(InvalidRequest) as info:
        check_json({"password": _Secretish()})
    assert "hunter2" not in str(info.value)
    assert "/@0" in str(info.value)


def test_error_message_never_quotes_a_key() -> None:
    # A key can be a secret: {"https://user:pw@host/repo.git": ...}, an AKIA... id.
    for key in ("https://user:pa55w0rd@git.example.com/r.git", "AKIAQYLPMN5HHHFPZAM2"):
        with pytest.raises(InvalidRequest) as info:
            check_json({"ok": 1, "remotes": {"origin": "x", key: {"w": math.nan}}})
        message = str(info.value)
        assert key not in message and "pa55w0rd" not in message and "remotes" not in message
        assert "/@1/@1/@0" in message


def test_check_json_returns_a_deep_copy() -> None:
    original = {"a": [{"b": 1}], "t": (1, 2)}
    copied = check_json(original)
    assert copied == {"a": [{"b": 1}], "t": [1, 2]}
    copied["a"][0]["b"] = 2
    assert original["a"][0]["b"] == 1
