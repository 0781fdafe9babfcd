"""The prefilter of the adapters' Kubernetes secret walk finds what the full walk finds.

``check_json`` remembers the key names of the copy it made last in a thread
(``checked_keys``); ``secret_references`` skips its walk of that copy when no key can
name a secret. Every file of the shared corpus and the demo requests are searched
both ways: the checked copy (the prefilter applies) and a plain copy (it does not).
"""

from __future__ import annotations

import copy
import pathlib
import threading

import pytest

from wfaudit.demo import demo_requests
from wfaudit.loading import load_payload
from wfaudit_hookspecs import check_json
from wfaudit_hookspecs.adapters.kubernetes import secret_references
from wfaudit_hookspecs.canonical import checked_keys

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


def _payloads() -> list[object]:
    payloads: list[object] = [request.config for request in demo_requests()]
    if CORPUS.is_dir():
        for path in sorted(CORPUS.rglob("*.y*ml")):
            try:
                payloads.append(load_payload(str(path)))
            except Exception:  # noqa: S112 - a file that is no JSON data is no request
                continue
    return payloads


def test_prefiltered_walk_finds_what_the_full_walk_finds() -> None:
    payloads = _payloads()
    skipped = found = 0
    for payload in payloads:
        full = secret_references(copy.deepcopy(payload), "k8s")
        checked = check_json(payload)
        assert checked_keys(checked) is not None
        assert secret_references(checked, "k8s") == full
        found += bool(full)
        skipped += not full
    if CORPUS.is_dir():
        assert found > 20  # the corpus names secrets: the prefilter did not hide them
        assert skipped > 20


def test_checked_keys_only_for_the_latest_copy_of_this_thread() -> None:
    first = check_json({"a": {"secretKeyRef": {"name": "s"}}, "b": [{"c": 1}]})
    assert checked_keys(first) == frozenset({"a", "secretKeyRef", "name", "b", "c"})
    assert checked_keys(copy.deepcopy(first)) is None
    second = check_json({"x": 1})
    assert checked_keys(first) is None
    assert checked_keys(second) == frozenset({"x"})
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(checked_keys(second)))
    thread.start()
    thread.join()
    assert seen == [None]


def test_a_refused_value_leaves_no_keys() -> None:
    good = check_json({"a": 1})
    with pytest.raises(Exception, match="key"):
        check_json({"a": {1: "x"}})
    assert checked_keys(good) == frozenset({"a"})
