"""Every file of the shared corpus, audited through the adapter it belongs to.

The corpus (``../shared/corpus`` from the repository root: Argo Workflows and
Tekton examples, GitHub Actions workflows, and 60 successive versions of three
busy workflow files) is read at test time, unmodified. For each file the test
checks that the snapshot's identity is filled, that the stored masked config
is the original with exactly the masked values replaced, and that every secret
reference the file makes -- counted here, independently of the adapters -- is
listed in the manifest. The history series check one snapshot per version and
one blob per distinct version: versions that changed only comments or layout
are unchanged as data and reuse the previous version's blob.

The per-file test shares one SQLite store per module: 640 fresh stores would
cost about a minute on their own, and store behaviour is not what is under test.
"""

from __future__ import annotations

import copy
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from wfaudit import Auditor
from wfaudit.loading import load_payload
from wfaudit_hookspecs import (
    InvalidRequest,
    Snapshot,
    TriggerKind,
    TriggerRequest,
    canonical_json,
)
from wfaudit_hookspecs.pointer import get_at, parse_pointer, set_at, to_pointer

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
# Corpus files that give a key twice in one mapping: refused as written
# (wfaudit.loading: one of the two values would be silently lost).
DUPLICATE_KEYS = frozenset({"argo-workflows/k8s-patch-json-workflow.yaml"})
ENTRY_POINTS = "sql,maskers,ci,cd"
PLACEHOLDER = re.compile(r"\[masked:[0-9a-f]{16}\]")
ARGO_KINDS = {
    "Workflow",
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "CronWorkflow",
    "WorkflowEventBinding",
}
# Upstream examples whose metadata.name/generateName is nested one level too deep
# (under labels or an annotation): nothing in them names the pipeline.
NAMELESS = {"argo-workflows/fun-with-gifs.yaml", "argo-workflows/k8s-jobs.yaml"}


@attrs.frozen
class Case:
    """One corpus file and how it is triggered."""

    rel: str
    workflow_type: str
    kind: str  # argo, tekton, github-actions (with a run context), history (bare)
    number: int  # the case's position: a distinct GitHub run id

    @property
    def path(self) -> pathlib.Path:
        return CORPUS / self.rel


def _cases() -> list[Any]:
    if not CORPUS.is_dir():
        reason = f"the shared corpus is not at {CORPUS} (see the issue: ../shared/corpus)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    cases: list[Case] = []
    deployment = ("PRE_CD", "POST_CD")
    for index, path in enumerate(sorted((CORPUS / "argo-workflows").glob("*.y*ml"))):
        cases.append(Case(_rel(path), deployment[index % 2], "argo", len(cases)))
    for index, path in enumerate(sorted((CORPUS / "tekton").glob("*.y*ml"))):
        workflow_type = "CI" if path.name.startswith("pipelineruns") else deployment[index % 2]
        cases.append(Case(_rel(path), workflow_type, "tekton", len(cases)))
    for path in sorted((CORPUS / "github-actions").glob("*/*.y*ml")):
        cases.append(Case(_rel(path), "CI", "github-actions", len(cases)))
    for path in sorted((CORPUS / "history").glob("*/*.y*ml")):
        cases.append(Case(_rel(path), "CI", "history", len(cases)))
    return [pytest.param(case, id=case.rel) for case in cases]


def _rel(path: pathlib.Path) -> str:
    return path.relative_to(CORPUS).as_posix()


CASES = _cases()


@pytest.fixture(scope="module")
def corpus_auditor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Auditor]:
    """One strict auditor with the installed adapters and maskers, on one SQLite store."""
    home = tmp_path_factory.mktemp("corpus")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFAUDIT_HOME", str(home))
        patch.setenv("WFAUDIT_LOAD_PLUGINS", ENTRY_POINTS)
        for name in ("WFAUDIT_STORE_URL", "WFAUDIT_ALLOW_UNMASKED", "WFAUDIT_DISABLE_PLUGINS"):
            patch.delenv(name, raising=False)
        auditor = Auditor.from_url(f"sqlite:///{home / 'corpus.sqlite3'}", strict=True)
    try:
        yield auditor
    finally:
        auditor.close()


# -- what a file should give, worked out here and not by the adapters -----------


def _github_context(case: Case, run_id: int) -> dict[str, Any]:
    owner_repo, file = case.rel.split("/")[1:]
    repository = owner_repo.replace("__", "/")
    return {
        "event_name": "push",
        "ref": "refs/heads/main",
        "sha": "0" * 40,
        "repository": repository,
        "workflow_ref": f"{repository}/.github/workflows/{file}@refs/heads/main",
        "run_id": str(run_id),
        "run_attempt": "1",
        "actor": "corpus-bot",
    }


def expected_format(case: Case, config: Any) -> str | None:
    if case.kind in ("github-actions", "history"):
        return "github-actions"
    documents = config if isinstance(config, list) else [config]
    group = "argoproj.io/" if case.kind == "argo" else "tekton.dev/"
    kinds = ARGO_KINDS if case.kind == "argo" else {"PipelineRun", "TaskRun"}
    ours = [
        doc
        for doc in documents
        if str(doc.get("apiVersion", "")).startswith(group) and doc.get("kind") in kinds
    ]
    return case.kind if ours else None  # a lone ConfigMap, PVC or ResourceQuota: generic


def k8s_references(node: Any, pointer: str = "", parent: str = "") -> Iterator[tuple[str, str]]:
    """``(pointer, secret name)`` of every Kubernetes secret a manifest names."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from k8s_references(item, f"{pointer}/{index}", pointer)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = f"{pointer}/{to_pointer((key,))[1:]}"
        selector = _selector(value, {"name", "key", "optional", "namespace"})
        if selector and (key in ("secretKeyRef", "secretRef") or re.fullmatch(r"\w+Secret", key)):
            yield here, selector
        elif key == "secretName" and isinstance(value, str) and value.strip():
            yield here, value.strip()
        elif key == "secret" and parent.endswith("/sources"):
            name = _selector(value, {"name", "items", "optional"})
            if name:
                yield here, name
        elif key == "imagePullSecrets" or (
            key == "secrets" and node.get("kind") == "ServiceAccount"
        ):
            for index, item in enumerate(value if isinstance(value, list) else []):
                name = _selector(item, {"name"})
                if name:
                    yield f"{here}/{index}", name
        yield from k8s_references(value, here, pointer)


def _selector(value: Any, allowed: set[str]) -> str | None:
    if not isinstance(value, dict) or not set(value) <= allowed:
        return None
    name, key = value.get("name"), value.get("key")
    if not isinstance(name, str) or not name.strip():
        return None
    return f"{name.strip()}/{key.strip()}" if isinstance(key, str) and key.strip() else name.strip()


_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_NAMES = re.compile(
    r"secrets\s*\.\s*([A-Za-z_][\w-]*)|secrets\s*\[\s*['\"]([^'\"]+)['\"]\s*\]|(github\s*\.\s*token)\b"
)


def github_references(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """``(pointer, secret name)`` of every secret a workflow's expressions name."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{pointer}/{to_pointer((key,))[1:]}"
            if key == "secrets" and value == "inherit" and pointer.split("/")[-2:-1] == ["jobs"]:
                yield here, "*"
            elif key == "if" and isinstance(value, str) and "${{" not in value:
                yield from ((here, name) for name in _secret_names(value))
            else:
                yield from github_references(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from github_references(item, f"{pointer}/{index}")
    elif isinstance(node, str):
        for expression in _EXPRESSION.findall(node):
            yield from ((pointer, name) for name in _secret_names(expression))


def _secret_names(expression: str) -> Iterator[str]:
    for dotted, indexed, token in _NAMES.findall(expression):
        yield dotted or indexed or ("GITHUB_TOKEN" if token else "")


def expected_masked_config(original: Any, snapshot: Snapshot) -> Any:
    """The original with the snapshot's masked values in place of the secrets.

    Whole values must be placeholders; a string with masked spans must keep
    every unmasked piece of the original, in order.
    """
    expected = copy.deepcopy(original)
    spans: dict[str, list[tuple[int, int]]] = {}
    for field in snapshot.manifest.fields:
        if field.span is not None:
            spans.setdefault(field.path, []).append(field.span)
            continue
        path = parse_pointer(field.path, expected)
        stored = get_at(snapshot.config, path)
        assert isinstance(stored, str) and PLACEHOLDER.fullmatch(stored), field.path
        set_at(expected, path, stored)
    for pointer, ranges in spans.items():
        path = parse_pointer(pointer, expected)
        text, stored = get_at(expected, path), get_at(snapshot.config, path)
        cursor, position = 0, 0
        for start, end in [*sorted(ranges), (len(stored), len(stored))]:
            assert start == len(stored) or PLACEHOLDER.fullmatch(stored[start:end]), pointer
            piece = stored[cursor:start]
            found = text.find(piece, position)
            assert found >= position, f"{pointer}: unmasked text changed"
            position, cursor = found + len(piece), end
        set_at(expected, path, stored)
    return expected


def _under(pointer: str, masked: set[str]) -> bool:
    return any(pointer == m or pointer.startswith(m + "/") for m in masked)


# -- the tests ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_every_corpus_file_is_audited_through_its_adapter(
    case: Case, corpus_auditor: Auditor
) -> None:
    if case.rel in DUPLICATE_KEYS:
        with pytest.raises(InvalidRequest, match="duplicate key at /"):
            load_payload(str(case.path))
        return
    original = load_payload(str(case.path))
    run_id = 10_000 + case.number
    if case.kind == "github-actions":
        config: Any = {"workflow": original, "github": _github_context(case, run_id)}
        workflow_id, pipeline_id = "-", "-"
    elif case.kind == "history":
        config = original
        workflow_id, pipeline_id = f"corpus:{case.rel}", case.rel.split("/")[1]
    else:
        config = original
        workflow_id, pipeline_id = f"corpus:{case.rel}", "-"
    fmt = expected_format(case, original)
    if fmt is None:  # nothing to read an identity from: the caller gives it
        pipeline_id = f"corpus:{case.rel}"
    request = TriggerRequest(
        workflow_id=workflow_id,
        workflow_type=case.workflow_type,
        pipeline_id=pipeline_id,
        config=config,
    )
    if case.rel in NAMELESS:
        with pytest.raises(InvalidRequest, match=r"pipeline id '-' .* does not carry one"):
            corpus_auditor.audit_trigger(request)
        request = attrs.evolve(request, pipeline_id=f"corpus:{case.rel}")

    result = corpus_auditor.audit_trigger(request)
    assert result.ok and result.ref is not None, result.error

    # The identity is filled (from the payload where the caller passed "-").
    snapshot = corpus_auditor.get_snapshot(result.ref.workflow_id, case.workflow_type)
    assert snapshot.manifest.adapter == fmt
    assert "-" not in (snapshot.workflow_id, snapshot.pipeline_id)
    if case.kind == "github-actions":
        context = config["github"]
        assert snapshot.workflow_id == f"{run_id}-1"
        assert snapshot.pipeline_id == context["workflow_ref"].partition("@")[0]
        assert (snapshot.triggered_by, snapshot.trigger_kind) == ("corpus-bot", TriggerKind.WEBHOOK)
        assert snapshot.labels["repository"] == context["repository"]
    else:
        assert snapshot.workflow_id == f"corpus:{case.rel}"

    # The masked config round-trips: the original, with exactly the masked values replaced.
    assert snapshot.config == expected_masked_config(config, snapshot)

    # Every reference the file makes is listed, under the adapter's rule (unless a
    # masker masked the object that holds it: then there is nothing left to refer to).
    masked = {f.path for f in snapshot.manifest.fields if f.span is None}
    if fmt == "github-actions":
        base = "/workflow" if case.kind == "github-actions" else ""
        made = set(github_references(original, base))
    else:
        made = set(k8s_references(config))
    listed = {
        (ref.path, ref.name)
        for ref in snapshot.manifest.references
        if fmt is not None and ref.rule.startswith(f"{fmt}.")
    }
    expected = {ref for ref in made if not _under(ref[0], masked)} if fmt else set()
    assert listed == expected
    assert len(listed) == len(expected)


def _history_series() -> list[Any]:
    if not (CORPUS / "history").is_dir():
        reason = f"the shared corpus is not at {CORPUS}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    return sorted(p.name for p in (CORPUS / "history").iterdir() if p.is_dir())


def _count(store_url: str, table: str, pipeline_id: str | None = None) -> int:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            query = f"SELECT count(*) FROM {table}"  # noqa: S608 - fixed table names
            if pipeline_id is None:
                return int(connection.execute(sa.text(query)).scalar_one())
            query += " WHERE pipeline_id = :pipeline"
            return int(connection.execute(sa.text(query), {"pipeline": pipeline_id}).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.wfaudit_backends("sqlite")
@pytest.mark.parametrize("series", _history_series())
def test_history_series_gives_one_snapshot_per_version_and_reuses_blobs(
    series: str, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", ENTRY_POINTS)
    versions = sorted((CORPUS / "history" / series).glob("*.yml"))
    with Auditor.from_url(store_url, strict=True) as auditor:

        def audit(index: int, config: Any) -> str:
            result = auditor.audit_trigger(
                workflow_id=f"{series}#{index:03d}",
                workflow_type="CI",
                pipeline_id=series,
                config=config,
            )
            assert result.ok and result.created and result.ref is not None, result.error
            return result.ref.content_hash

        configs = [load_payload(str(version)) for version in versions]
        hashes = [audit(index, config) for index, config in enumerate(configs)]
        # Every file differs (SOURCES.md), but some only in comments or layout: as
        # data they are unchanged versions, and must share the previous blob.
        distinct = {canonical_json(config) for config in configs}
        assert len(set(hashes)) == len(distinct)
        for index in range(1, len(configs)):
            unchanged = configs[index] == configs[index - 1]
            assert (hashes[index] == hashes[index - 1]) is unchanged, versions[index].name
        assert _count(store_url, "snapshots", series) == len(versions)
        assert _count(store_url, "blobs") == len(distinct)
        history = auditor.history(pipeline_id=series, limit=len(versions) + 10)
        assert [r.workflow_id for r in reversed(history)] == [
            f"{series}#{i:03d}" for i in range(len(versions))
        ]
        assert {r.manifest.adapter for r in history} == {"github-actions"}

        # The latest version triggered again, unchanged: a new snapshot, the same blob.
        again = audit(len(versions), load_payload(str(versions[-1])))
        assert again == hashes[-1]
        assert _count(store_url, "snapshots", series) == len(versions) + 1
        assert _count(store_url, "blobs") == len(distinct)
