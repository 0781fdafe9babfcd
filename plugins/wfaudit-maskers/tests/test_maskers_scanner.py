"""The string scanner's batch: offsets, the cache, and the walk's hand-over."""

from __future__ import annotations

from typing import Any

from wfaudit_maskers import Masker
from wfaudit_maskers import scanner as scanner_module
from wfaudit_maskers.names import NameClassifier
from wfaudit_maskers.scanner import TextScanner

TOKEN = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"


def test_findings_map_back_to_their_string() -> None:
    scanner = TextScanner(NameClassifier())
    texts = [
        "plain text, nothing here",
        f"ünïcødé 漢字 then {TOKEN} end",
        "with a NUL \x00 inside and export API_TOKEN=Zx8kQ2mW9v",
        TOKEN,
    ]
    scans = scanner.scan(texts)
    assert scans[texts[0]].findings == ()
    (finding,) = scans[texts[1]].findings
    assert texts[1][finding.start : finding.end] == TOKEN
    (finding,) = scans[texts[2]].findings
    assert texts[2][finding.start : finding.end] == "Zx8kQ2mW9v"
    (finding,) = scans[texts[3]].findings
    assert (finding.start, finding.end) == (0, len(TOKEN))


def test_clean_strings_are_cached_and_secrets_are_not() -> None:
    scanner = TextScanner(NameClassifier())
    clean, secret = "make test && make lint --jobs 4", f"token {TOKEN}"
    first = scanner.scan([clean, secret])
    assert clean in scanner._cache
    assert secret not in scanner._cache
    again = scanner.scan([clean, secret])
    assert again[clean] is first[clean]
    assert again[secret].findings == first[secret].findings


def test_the_walk_hands_over_unsettled_strings_only(scan: Any, recording_context: Any) -> None:
    config = {
        "dbPassword": f"{TOKEN}",  # settled by its name: one whole mark
        "buildToken": f"x {TOKEN}",  # allowed below: never scanned
        "script": f"echo {TOKEN}",
        "list": [f"{TOKEN}", "short"],
    }
    context = scan(config, masker=Masker(allow_keys=["buildToken"]))
    assert context.masked == {
        "/dbPassword": "keyword",
        "/script#5:45": "pattern:github-pat",
        "/list/0": "pattern:github-pat",
    }


def test_allowed_values_are_not_masked(scan: Any) -> None:
    example = "AKIAIOSFODNN7EXAMPLE"
    config = {"aws_access_key_id": example, "run": f"aws --key {example} x", "other": TOKEN}
    masker = Masker(allow_values=[r"AKIA[A-Z0-9]{9}EXAMPLE"])
    assert scan(config, masker=masker).masked == {"/other": "pattern:github-pat"}


def test_the_string_families_can_all_be_disabled(scan: Any) -> None:
    masker = Masker(disable=["pattern", "embedded", "encoded", "entropy"])
    assert masker.find(TOKEN) == ()
    assert scan({"script": f"echo {TOKEN}"}, masker=masker).masked == {}


def test_a_full_cache_keeps_the_strings_of_the_current_request(monkeypatch: Any) -> None:
    monkeypatch.setattr(scanner_module, "_MAX_CACHE", 4)
    scanner = TextScanner(NameClassifier())
    first = ["make test --jobs 4", "make lint --jobs 4", "old commit 1234abcd"]
    scanner.scan(first)
    assert set(scanner._cache) == set(first)
    assert scanner._word_index["1234abcd"] == {"old commit 1234abcd"}
    second = ["make test --jobs 4", "make lint --jobs 4", "new commit 5678ef01"]
    scans = scanner.scan(second)
    assert set(scanner._cache) == set(second)  # the old request's string went
    assert "1234abcd" not in scanner._word_index
    assert all(scans[text].findings == () for text in second)
