"""High-entropy tokens, the last resort, and what they must leave alone."""

from __future__ import annotations

import random
import string
from typing import Any

import pytest

from wfaudit_maskers import Masker
from wfaudit_maskers.entropy import looks_random, shannon

ALPHABETS = {
    "base62": string.ascii_letters + string.digits,
    "base64": string.ascii_letters + string.digits + "+/",
    "base64url": string.ascii_letters + string.digits + "-_",
}


@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
@pytest.mark.parametrize("size", [24, 32, 40, 64])
def test_random_tokens_are_found(alphabet: str, size: int) -> None:
    rng = random.Random(size)
    tokens = ["".join(rng.choice(ALPHABETS[alphabet]) for _ in range(size)) for _ in range(300)]
    found = sum(looks_random(token) for token in tokens)
    assert found / len(tokens) >= 0.9


@pytest.mark.parametrize(
    "token",
    [
        "3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f",  # commit SHA
        "9b7f1d0e3c2a4b6d8f0e1c3a5b7d9f1e3c5a7b9d0f2e4c6a8b0d2f4e6a8c0e2f",  # SHA-256
        "123e4567-e89b-12d3-a456-426614174000",  # UUID
        "01HV6Z3QK9M8X7W6V5T4S3R2Q1",  # ULID
        "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
        "h1:Mx7n2ZkMv9e0gvPeAIRjLB8nd9jwU/UDT1KkmqzEfEY=",
        "mingw-w64-ucrt-x86_64-openssl",
        "runtimeEnvironmentVariables2024",
        "container-on-exit-fp8r5-3252557200",
        "bld-1/CMakeFiles/CMakeOutput",
        "src/main/java/com/acme/Service42Impl",
        "v1.28.3-rc.1+build.20240501",
        "nginx-7c5ddbdf54-x2bqk-runner-abc12",
        "abcdefghijklmnopqrstuvwxy1234567890",
        "Linux-cargo-3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b",
        "ThisIsACamelCaseIdentifier2024Name",
    ],
)
def test_what_a_retrigger_needs_is_kept(token: str) -> None:
    assert not looks_random(token)


def test_shannon() -> None:
    assert shannon("aaaa") == 0
    assert shannon("abcd") == 2


def test_entropy_in_a_config(scan: Any) -> None:
    token = "q8Xz3LmN0pR7tV2wY5aB9cD1eF4gH6jK"
    config = {
        "settings": {"endpoint": "https://api.example.com", "value": token},
        "imageDigest": "sha256:" + "ab" * 32,
        "integrity": "Zr9Ya4MnO1qS8uW3xZ6bC0dE2fG5hI7kL=",  # a checksum by its name
        "run": f"./notify --to ops {token[::-1]}",
    }
    context = scan(config)
    assert context.masked == {"/settings/value": "entropy", "/run#18:50": "entropy"}


def test_entropy_can_be_tuned_and_disabled(scan: Any) -> None:
    token = "q8Xz3LmN0pR7tV2wY5aB9cD1"  # 24 characters
    assert scan({"v": token}).masked == {"/v": "entropy"}
    masker = Masker(entropy_min_length=32)
    assert scan({"v": token}, masker=masker).masked == {}
    assert scan({"v": token}, settings={"maskers": {"disable": ["entropy"]}}).masked == {}


def test_public_keys_and_certificates_are_kept() -> None:
    rng = random.Random(9)
    body = "\n".join("".join(rng.choice(ALPHABETS["base64"]) for _ in range(64)) for _ in range(4))
    masker = Masker()
    for kind in ("CERTIFICATE", "PUBLIC KEY", "PGP PUBLIC KEY BLOCK", "CERTIFICATE REQUEST"):
        text = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"
        assert masker.find(text) == (), kind
    ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq8Xz3LmN0pR7tV2wY5aB9cD1eF4gH6jKs ci@acme"
    assert masker.find(ssh) == ()
    assert masker.find(f"github.com {ssh}") == ()
    private = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    assert [f.rule for f in masker.find(private)] == ["pattern:private-key"]


LOW_ENTROPY_RANDOM = [
    # Hypothesis seed 104: a 32-character random token, in a list under a neutral key.
    "OssvGCHbhUaGOQvveguUiC8lFEuCAlbU",
    # Random draws whose letters fall in long same-case runs, or repeat.
    "U43FZUmOhOfhmhvzvfzqmShhpRST1Kdb",
    "nqrxnZiaqDaaEqu68GfmubcqIVOzFsrc",
    "SkqyapqipLNURBPHxqisoseYVCjfv3IF",
    "WwkyqBI1ZmRoTcuqrpPFKGFXliHfqLer",
    # The masking evaluation (seed 3): an upper-case run with vowels (IVCIAZCI).
    "2bRcRe346UrjgOulzanbsIVCIAZCITnP",
]


@pytest.mark.parametrize("token", LOW_ENTROPY_RANDOM)
def test_random_tokens_in_the_lower_tail_are_found(scan: Any, token: str) -> None:
    assert looks_random(token)
    config = {"root": "3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f", "planted": [token]}
    assert scan(config).masked == {"/planted/0": "entropy"}


def test_random_tokens_are_found_at_least_9999_times_in_10000() -> None:
    # Uniform draws of 20 to 64 letters and digits, with all three classes.
    rng = random.Random(104)
    alphabet = string.ascii_letters + string.digits
    missed = 0
    for size in (20, 24, 32, 48, 64):
        for _ in range(2000):
            token = "".join(rng.choice(alphabet) for _ in range(size))
            if not (any(c.isdigit() for c in token) and token.lower() != token != token.upper()):
                continue
            missed += not looks_random(token)
    assert missed <= 3  # fewer than 1 in 10,000 expected (10,000 draws), with margin


@pytest.mark.parametrize(
    "name",
    [
        "runtimeEnvironmentVariables2",
        "AbstractSingletonProxyFactoryBean1",
        "kubernetesVersion1Upgrade",
        "getHTTPResponseCode200Handler",
        "buildConfigurationStrength2",
        "mainWerrorUnitybatchNocertdataCurltestsWin64",
    ],
)
def test_identifiers_made_of_words_are_kept(name: str) -> None:
    assert not looks_random(name)
