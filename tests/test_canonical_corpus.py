"""Canonical JSON stays byte-identical: the content hash of every file of the shared
corpus (``../shared/corpus``) is compared with the one recorded when the hashes were
first taken (tests/canonical_corpus_hashes.json, the first 20 hex digits of each).

A content hash names a stored blob: if the encoding changed, every existing store
would see new hashes for unchanged configs. A faster encoder must keep these.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from wfaudit.loading import load_payload
from wfaudit_hookspecs import canonical_json, check_json, content_hash

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
RECORDED = pathlib.Path(__file__).with_name("canonical_corpus_hashes.json")


def test_corpus_content_hashes_are_unchanged() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    recorded: dict[str, str] = json.loads(RECORDED.read_text(encoding="utf-8"))
    changed = []
    for rel, expected in recorded.items():
        value = load_payload(str(CORPUS / rel))
        encoded = canonical_json(value)
        assert canonical_json(check_json(value)) == encoded
        if not content_hash(encoded).startswith(expected):
            changed.append(rel)
    assert not changed, f"canonical JSON changed for {len(changed)} corpus files: {changed[:5]}"
    assert len(recorded) > 600
