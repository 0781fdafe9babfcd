"""docs/recipes.md, run: each recipe against a live ``wfaudit serve`` over a real
store (SQLite and PostgreSQL).

- Devtron (Go): the page's Go block is the example's trigger path, byte for byte
  (the example itself is built and run by tests/test_go_client.py).
- Tekton: CloudEvents posted as Tekton's sink sends them (binary mode, ``ce-*``
  headers, ``{"pipelineRun": ...}``), to the path of the page's ConfigMap, with a
  PipelineRun of the corpus.
- Argo Workflows: the page's hook and HTTP template, checked, and the request
  that template sends (its ``{{workflow.*}}`` variables substituted as Argo does)
  posted with its headers.
- GitHub Actions: the step's ``run`` script run by bash as the runner runs it,
  with its ``env`` (GitHub's expressions evaluated) in a checkout of a corpus
  repository's workflow.
- Python: the page's code run in process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.ingest_server import INGEST_TOKEN, REPO, LiveServer, live_server
from wfaudit import Auditor
from wfaudit.testing.scan import find_secrets
from wfaudit_hookspecs import TriggerRequest

PAGE = REPO / "docs" / "recipes.md"
CORPUS = pathlib.Path(os.environ.get("WFAUDIT_CORPUS", REPO.parent / "shared" / "corpus"))


def blocks() -> list[tuple[str, str]]:
    """The page's fenced blocks: (language, text)."""
    text = PAGE.read_text(encoding="utf-8")
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


def block(kind: str, containing: str) -> str:
    (found,) = [text for language, text in blocks() if language == kind and containing in text]
    return found


def test_every_block_is_one_this_file_runs() -> None:
    assert [kind for kind, _ in blocks()] == ["go", "yaml", "yaml", "yaml", "python"]


def test_the_ingest_page_links_the_recipes() -> None:
    assert "(recipes.md)" in (REPO / "docs" / "ingest.md").read_text(encoding="utf-8")
    assert "(recipes.md)" in (REPO / "docs" / "index.md").read_text(encoding="utf-8")


def test_the_go_block_is_the_examples_trigger_path() -> None:
    source = (REPO / "clients/go/examples/devtron/main.go").read_text(encoding="utf-8")
    region = source.split("// recipe:start\n", 1)[1].split("// recipe:end", 1)[0]
    assert block("go", "triggerCiPipeline") == region.strip("\n") + "\n"


@pytest.fixture
def served(store_url: str) -> Iterator[LiveServer]:
    with live_server(store_url) as server:
        yield server


def records(store_url: str) -> dict[str, Any]:
    with Auditor.from_url(store_url, strict=True) as auditor:
        return {record.workflow_id: record for record in auditor.history(limit=100)}


# -- Tekton ----------------------------------------------------------------------------


def corpus_pipeline_run() -> dict[str, Any]:
    """The PipelineRun of a Tekton example, as the controller holds it once created."""
    path = CORPUS / "tekton" / "pipelineruns__beta__http-resolver-credentials.yaml"
    runs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc["kind"] == "PipelineRun"]
    run: dict[str, Any] = runs[0]
    assert len(runs) == 1
    run["metadata"].update(
        name=run["metadata"]["generateName"] + "x7k2p",
        namespace="ci",
        uid=str(uuid.UUID(int=0x5B3C2F1E00004000800000000000A001)),
    )
    return run


def tekton_event(
    run: dict[str, Any], kind: str, reason: str, status: str
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a CloudEvent as Tekton's sink sends it: binary mode,
    the run's TypeMeta dropped (the informer's objects carry none)."""
    sent = {key: value for key, value in run.items() if key not in ("apiVersion", "kind")}
    sent["status"] = {"conditions": [{"type": "Succeeded", "status": status, "reason": reason}]}
    meta = run["metadata"]
    headers = {
        "Ce-Id": str(uuid.uuid4()),
        "Ce-Source": f"/apis/tekton.dev/v1/namespaces/{meta['namespace']}/pipelineruns/{meta['name']}",
        "Ce-Specversion": "1.0",
        "Ce-Subject": meta["name"],
        "Ce-Time": "2026-11-20T08:02:11.000000Z",
        "Ce-Type": f"dev.tekton.event.pipelinerun.{kind}.v1",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {INGEST_TOKEN}",  # added by the proxy in front
    }
    return headers, json.dumps({"pipelineRun": sent}).encode()


def test_tekton_events_sent_to_the_sink_are_audited_and_end_with_the_outcome(
    served: LiveServer,
) -> None:
    config = yaml.safe_load(block("yaml", "config-defaults"))
    assert config["kind"] == "ConfigMap"
    assert config["metadata"] == {"name": "config-defaults", "namespace": "tekton-pipelines"}
    sink = urllib.parse.urlsplit(config["data"]["default-cloud-events-sink"])
    assert sink.path == "/api/v1/cloudevents"
    url = served.url + sink.path
    run = corpus_pipeline_run()
    statuses = []
    for kind, reason, status in [
        ("started", "Started", "Unknown"),
        ("running", "Running", "Unknown"),
        ("started", "Started", "Unknown"),  # Tekton redelivers: the same answer
        ("successful", "Succeeded", "True"),
    ]:
        headers, body = tekton_event(run, kind, reason, status)
        answer = httpx.post(url, headers=headers, content=body, timeout=60)
        statuses.append(answer.status_code)
        assert answer.status_code < 300, answer.text
    assert statuses == [201, 204, 200, 200]
    uid = run["metadata"]["uid"]
    (record,) = records(served.store_url).values()
    assert record.workflow_id == uid and str(record.status) == "succeeded"
    assert record.pipeline_id.startswith("ci/")
    assert record.status_reason == "Succeeded"


# -- Argo Workflows -----------------------------------------------------------------------


def argo_substitute(text: str, workflow: dict[str, Any], uid: str, name: str) -> str:
    """``{{workflow.*}}`` as Argo substitutes them: raw text, the ``.json`` ones
    as JSON (labels and annotations objects, parameters an array)."""
    meta = workflow["metadata"]
    values = {
        "workflow.name": name,
        "workflow.namespace": meta["namespace"],
        "workflow.uid": uid,
        "workflow.mainEntrypoint": workflow["spec"]["entrypoint"],
        "workflow.serviceAccountName": "default",
        "workflow.labels.json": json.dumps(meta.get("labels", {})),
        "workflow.annotations.json": json.dumps(meta.get("annotations", {})),
        "workflow.parameters.json": json.dumps(workflow["spec"]["arguments"]["parameters"]),
    }
    substituted = re.sub(r"\{\{([\w.\-]+)\}\}", lambda m: values[m[1]], text)
    assert "{{" not in substituted
    return substituted


def test_the_argo_hook_posts_the_running_workflow(served: LiveServer) -> None:
    template = yaml.safe_load(block("yaml", "hooks:"))
    assert template["kind"] == "WorkflowTemplate"
    spec = template["spec"]
    hook = spec["hooks"]["running"]
    assert hook["expression"] == 'workflow.status == "Running"'
    (http,) = [t["http"] for t in spec["templates"] if t["name"] == hook["template"]]
    assert http["method"] == "POST" and http["timeoutSeconds"] <= 30
    # A workflow submitted from the template, as the controller holds it.
    name = "smoke-tests-7x2kq"
    workflow = {
        "metadata": {
            "namespace": template["metadata"]["namespace"],
            "labels": {
                "workflows.argoproj.io/workflow-template": template["metadata"]["name"],
                "workflows.argoproj.io/creator-preferred-username": "ana",
            },
            "annotations": {"workflows.argoproj.io/pod-name-format": "v2"},
        },
        "spec": {"entrypoint": spec["entrypoint"], "arguments": spec["arguments"]},
    }
    uid = "6f1c2b8e-3d4a-4e5f-9a6b-7c8d9e0f1a2b"
    body = argo_substitute(http["body"], workflow, uid, name)
    headers = {}
    for header in http["headers"]:
        if "valueFrom" in header:  # the Secret's value
            assert header["valueFrom"]["secretKeyRef"]["key"] == "authorization"
            headers[header["name"]] = f"Bearer {INGEST_TOKEN}"
        else:
            headers[header["name"]] = header["value"]
    url = served.url + urllib.parse.urlsplit(http["url"]).path
    first = httpx.post(url, headers=headers, content=body.encode(), timeout=60)
    assert first.status_code == 201, first.text
    again = httpx.post(url, headers=headers, content=body.encode(), timeout=60)
    assert again.status_code == 200 and again.json()["snapshot_id"] == first.json()["snapshot_id"]
    record = records(served.store_url)[uid]
    assert record.workflow_type == "POST_CD"
    assert record.pipeline_id == "checkout/smoke-tests"
    assert record.triggered_by == "ana"


# -- GitHub Actions --------------------------------------------------------------------------


GITHUB_TOKEN = "ghs_" + "R4nd0mJobT0ken0123456789abcdefXYZ"


def github_context(repository: str, workflow_path: str) -> dict[str, Any]:
    return {
        "event_name": "push",
        "ref": "refs/heads/main",
        "sha": "9b1d3f0c2a4e6b8d0f1a3c5e7b9d1f3a5c7e9b1d",
        "repository": repository,
        "workflow": "Tests",
        "workflow_ref": f"{repository}/{workflow_path}@refs/heads/main",
        "run_id": "9876543210",
        "run_number": "812",
        "run_attempt": "2",
        "actor": "ana",
        "triggering_actor": "ben",
        "token": GITHUB_TOKEN,
    }


def test_the_github_actions_step_runs_as_written(
    served: LiveServer, tmp_path: pathlib.Path
) -> None:
    (step,) = yaml.safe_load(block("yaml", "curl"))
    assert step["continue-on-error"] is True
    repository, workflow_path = "pallets/flask", ".github/workflows/tests.yaml"
    checkout = tmp_path / "checkout"
    (checkout / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(
        CORPUS / "github-actions" / "pallets__flask" / "tests.yaml", checkout / workflow_path
    )
    context = github_context(repository, workflow_path)
    # GitHub evaluates the step's expressions before the shell starts.
    expressions = {
        "${{ vars.WFAUDIT_URL }}": served.url,
        "${{ secrets.WFAUDIT_INGEST_TOKEN }}": INGEST_TOKEN,
        "${{ toJSON(github) }}": json.dumps(context, indent=2),
    }
    step_env = {name: expressions[value] for name, value in step["env"].items()}
    assert "${{" not in step["run"]
    (tmp_path / "runner-temp").mkdir()
    env = {
        "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKFLOW_REF": context["workflow_ref"],
        "GITHUB_REPOSITORY": repository,
        "GITHUB_RUN_ID": context["run_id"],
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        **step_env,
    }
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],  # GitHub's shell
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "::warning::" not in done.stdout, done.stdout
    answer = json.loads(done.stdout)
    assert answer["created"] is True and answer["masked"] >= 1
    record = records(served.store_url)["9876543210-2"]
    assert record.pipeline_id == f"{repository}/{workflow_path}"
    assert record.triggered_by == "ben" and record.attempt == 2
    with Auditor.from_url(served.store_url, strict=True) as auditor:
        assert find_secrets({"github token": GITHUB_TOKEN}, auditor=auditor) == []
        config = auditor.get_snapshot_by_id(record.id).config
        assert config["workflow"]["jobs"]  # the workflow file, parsed

    # wfaudit down: the step warns and succeeds, and the job goes on.
    env["WFAUDIT_URL"] = "http://127.0.0.1:9"
    down = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert down.returncode == 0, down.stderr
    assert "::warning::wfaudit did not take the audit; the job goes on" in down.stdout


# -- Python, in process ---------------------------------------------------------------------


def test_the_python_orchestrator_runs_in_process(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    password = "Pa55word-orchestrator-Qz81"
    Auditor.from_url(store_url, strict=True).close()
    monkeypatch.setenv("WFAUDIT_STORE_URL", store_url)
    monkeypatch.setenv("WORKFLOW_RETRIES_ENABLED", "true")
    monkeypatch.setenv("DB_PASSWORD", password)  # the restorer's source at retrigger
    launched: list[dict[str, Any]] = []
    relaunched: list[TriggerRequest] = []
    # The page's code as a module of its own; the orchestrator's launchers given to it.
    source = tmp_path / "orchestrator_recipe.py"
    source.write_text(block("python", "audit_trigger"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("orchestrator_recipe", source)
    assert spec is not None and spec.loader is not None
    orchestrator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(orchestrator)
    orchestrator.launch = launched.append  # type: ignore[attr-defined]
    orchestrator.launch_retry = relaunched.append  # type: ignore[attr-defined]
    request = {"image": "checkout:1.4", "env": {"DB_PASSWORD": password, "LOG_LEVEL": "info"}}
    try:
        orchestrator.trigger(1001, "checkout-api", request)
        orchestrator.finished(1001, "failed", "infrastructure: node lost")
    finally:
        orchestrator.auditor.close()
    assert launched == [request]
    (retry,) = relaunched
    assert retry.workflow_id == "1002" and retry.attempt == 2 and retry.config == request
    found = records(store_url)
    assert set(found) == {"1001", "1002"} and str(found["1001"].status) == "failed"
    with Auditor.from_url(store_url, strict=True) as auditor:
        assert find_secrets({"password": password}, auditor=auditor) == []
