"""False positives: the real workflows of the corpus are masked exactly where they should be.

Every document of ``/work/shared/corpus`` (Argo, Tekton, GitHub Actions, and the
history of three busy workflow files) goes through the maskers. Those files hold
commands, URLs, digests, pinned action SHAs and cache keys, and no secret but
the placeholder credentials of Tekton's ``kind: Secret`` examples (masked, as
they must be) and two Tekton resolver parameters named ``token``. Anything else
masked is a false positive, and fails here.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest

from tests.test_secrets_requests import ROOT
from wfaudit.loading import load_payload
from wfaudit.masking import Marks
from wfaudit_hookspecs import InvalidRequest, TriggerRequest, to_pointer
from wfaudit_maskers import Masker

MASKER = Masker()
"""One masker for the whole corpus, as the plugin keeps one per process."""

CORPUS = pathlib.Path(os.environ.get("WFAUDIT_CORPUS", ROOT.parent / "shared" / "corpus"))

EXPECTED_OUTSIDE_SECRETS = {
    # Tekton resolver parameters named "token" whose values name a Secret: the
    # name says "token", so they are masked (restorable) rather than guessed at.
    ("tekton/pipelineruns__beta__http-resolver-credentials.yaml",
     "/1/spec/pipelineSpec/tasks/0/taskRef/params/2/value"): "keyword",
    ("tekton/pipelineruns__beta__http-resolver-credentials.yaml",
     "/1/spec/pipelineSpec/tasks/0/taskRef/params/3/value"): "known-field",
    ("tekton/pipelineruns__no-ci__git-resolver-custom-apiurl.yaml",
     "/spec/pipelineSpec/tasks/0/taskRef/params/3/value"): "keyword",
    ("tekton/pipelineruns__no-ci__git-resolver-custom-secret.yaml",
     "/spec/pipelineSpec/tasks/0/taskRef/params/3/value"): "known-field",
}  # fmt: skip


# Corpus files that give a key twice in one mapping: refused as written
# (wfaudit.loading: one of the two values would be silently lost).
DUPLICATE_KEYS = frozenset({"argo-workflows/k8s-patch-json-workflow.yaml"})


def corpus_files() -> list[pathlib.Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))


def secret_entries(document: Any, prefix: str = "") -> set[str]:
    """Pointers of the values under data/stringData of every ``kind: Secret`` object."""
    found: set[str] = set()
    if isinstance(document, list):
        for index, item in enumerate(document):
            found |= secret_entries(item, f"{prefix}/{index}")
    elif isinstance(document, dict):
        if document.get("kind") == "Secret":
            for block in ("data", "stringData"):
                for key, value in (document.get(block) or {}).items():
                    if value not in (None, ""):
                        found.add(f"{prefix}/{block}/{key}")
        for key, value in document.items():
            if isinstance(value, dict | list):
                found |= secret_entries(value, f"{prefix}/{key}")
    return found


def masks(config: Any) -> dict[str, str]:
    request = TriggerRequest(workflow_id=1, workflow_type="CI", pipeline_id=1, config=config)
    marks = Marks(request, config, {})
    MASKER.scan(marks)
    out = {to_pointer(path): mark.rule for path, mark in marks.whole.items()}
    for path, span_marks in marks.spans.items():
        for mark in span_marks:
            assert mark.span is not None
            out[f"{to_pointer(path)}#{mark.span[0]}:{mark.span[1]}"] = mark.rule
    return out


@pytest.mark.skipif(not corpus_files(), reason=f"no corpus at {CORPUS}")
def test_the_corpus_is_masked_exactly_where_expected() -> None:
    files = corpus_files()
    assert len(files) >= 600
    unexpected: list[str] = []
    missing: list[str] = []
    seen_outside = set()
    for path in files:
        name = path.relative_to(CORPUS).as_posix()
        if name in DUPLICATE_KEYS:
            with pytest.raises(InvalidRequest, match="duplicate key at /"):
                load_payload(str(path))
            continue
        config = load_payload(str(path))
        found = masks(config)
        in_secrets = secret_entries(config)
        for pointer, rule in found.items():
            if pointer in in_secrets and rule == "known-field":
                continue
            if EXPECTED_OUTSIDE_SECRETS.get((name, pointer)) == rule:
                seen_outside.add((name, pointer))
                continue
            unexpected.append(f"{name} {pointer} {rule}")
        missing += [f"{name} {pointer}" for pointer in in_secrets - set(found)]
    assert unexpected == []
    assert missing == []
    assert seen_outside == set(EXPECTED_OUTSIDE_SECRETS)
