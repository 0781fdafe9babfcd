"""The ingest API (``POST /api/v1/triggers``, ``/triggers/batch``, ``/outcomes``,
``/cloudevents``) over HTTP against the real app served by uvicorn, on SQLite and
PostgreSQL: every answer, every refusal (nothing written), the store going away
(202, then drained), idempotent retries, and no secret in any answer or log."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from wfaudit import Auditor
from wfaudit.testing.scan import find_secrets
from wfaudit_web import Access, Tokens, create_app
from wfaudit_web.app import COOKIE
from wfaudit_web.ingest import MAX_BATCH, Limits

from .conftest import PLUGINS, Server

WRITE_A = "write-a-token-0123456789abcdef"
WRITE_ANY = "write-any-token-0123456789abcdef"
READ_A = "read-a-token-0123456789abcdef"
BOTH_A = "both-a-token-0123456789abcdef"
RETRIGGER_A = "retrigger-a-token-0123456789abcdef"
PASSWORD = "Hx9-db-Pa55word-kq7Lm2"
GH_TOKEN = "ghp_R4nd0mT0kenV4lue0123456789abcdefXY"
SECRETS = {"password": PASSWORD, "github token": GH_TOKEN, "write token": WRITE_A}


def ingest_tokens() -> Tokens:
    return Tokens.of(
        {
            WRITE_A: Access("ci-a", "team-a", frozenset({"write"})),
            WRITE_ANY: Access("ci", None, frozenset({"write"})),
            READ_A: Access("reader-a", "team-a"),
            BOTH_A: Access("both-a", "team-a", frozenset({"read", "write"})),
            RETRIGGER_A: Access("replay-a", "team-a", frozenset({"retrigger"})),
        }
    )


def trigger(workflow_id: str = "101", *, image: str = "shop:1.0", **extra: Any) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "workflow_type": "CI",
        "pipeline_id": "shop-api",
        "triggered_by": "ana",
        "config": {
            "image": image,
            "env": {"DB_PASSWORD": PASSWORD, "LOG_LEVEL": "info"},
            "git": {"token": GH_TOKEN},
        },
        **extra,
    }


def pipeline_run(uid: str = "5b3c2f1e-0000-4000-8000-00000000a001") -> dict[str, Any]:
    """A Tekton PipelineRun as Tekton's CloudEvents carry it (no apiVersion/kind)."""
    return {
        "metadata": {
            "name": "build-x7k2p",
            "namespace": "ci",
            "uid": uid,
            "labels": {"tekton.dev/pipeline": "build"},
        },
        "spec": {
            "pipelineRef": {"name": "build"},
            "params": [{"name": "git-token", "value": GH_TOKEN}],
        },
        "status": {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}]},
    }


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty store that exists (the app never creates one)."""
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS + ",ci")
    Auditor.from_url(store_url, strict=True).close()
    return store_url


@pytest.fixture
def client(store: str, serve: Callable[[Any], Server]) -> Iterator[httpx.Client]:
    server = serve(create_app(store, ingest_tokens()))
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored(store_url: str, tenant: str | None = None) -> list[tuple[str, str, str | None]]:
    with Auditor.from_url(store_url, strict=True, tenant=tenant) as auditor:
        return sorted((r.workflow_id, str(r.status), r.tenant) for r in auditor.history(limit=500))


# -- POST /api/v1/triggers -----------------------------------------------------------


def test_a_trigger_is_stored_once_and_a_retry_gets_the_same_answer(
    store: str, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = client.post("/api/v1/triggers", json=trigger(), headers=bearer(WRITE_A))
    assert first.status_code == 201, first.text
    body = first.json()
    assert set(body) == {"ref", "snapshot_id", "created", "spooled", "masked", "disabled"}
    assert body["created"] is True and body["spooled"] is False and body["masked"] >= 2
    assert body["ref"]["id"] == body["snapshot_id"]
    assert body["ref"]["workflow_id"] == "101" and body["ref"]["tenant"] == "team-a"

    again = client.post("/api/v1/triggers", json=trigger(), headers=bearer(WRITE_A))
    assert again.status_code == 200, again.text
    assert again.json()["snapshot_id"] == body["snapshot_id"]
    assert again.json()["created"] is False

    changed = client.post(
        "/api/v1/triggers", json=trigger(image="shop:6.6"), headers=bearer(WRITE_A)
    )
    assert changed.status_code == 409, changed.text
    assert changed.json()["error_type"] == "SnapshotConflict"
    assert "evidence" in changed.json()["error"]

    assert stored(store) == [("101", "triggered", "team-a")]
    with Auditor.from_url(store, strict=True) as auditor:
        snapshot = auditor.get_snapshot_by_id(body["snapshot_id"])
        assert snapshot.config["image"] == "shop:1.0"
        assert find_secrets(SECRETS, auditor=auditor) == []
    texts = [("answers", first.text + again.text + changed.text), ("logs", caplog.text)]
    assert find_secrets(SECRETS, texts=texts) == []


def test_ids_given_as_dash_are_read_from_the_payload(store: str, client: httpx.Client) -> None:
    run = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", **pipeline_run()}
    answer = client.post(
        "/api/v1/triggers",
        json={"workflow_id": "-", "workflow_type": "CI", "pipeline_id": "-", "config": run},
        headers=bearer(WRITE_A),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["ref"]["workflow_id"] == run["metadata"]["uid"]
    with Auditor.from_url(store, strict=True) as auditor:
        (record,) = auditor.history()
        assert record.pipeline_id == "ci/build"
        assert record.manifest.adapter == "tekton"


def _nothing_written(store: str) -> None:
    """Nothing in the store, and nothing in any spool of the data directory."""
    import os
    import pathlib

    from wfaudit import Spool, spool_roots

    assert stored(store) == []
    root = pathlib.Path(os.environ["WFAUDIT_HOME"]) / "spool"
    assert [Spool(each, store).depth() for each in spool_roots(root)] == [0]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (bearer("not-a-token-0123456789abcdef"), 401),
        ({"Authorization": f"Basic {WRITE_A}"}, 401),
        (bearer(READ_A), 403),  # read does not imply write
        (bearer(RETRIGGER_A), 403),  # nor does retrigger
        ({"Cookie": f"{COOKIE}={WRITE_A}"}, 401),  # writes never take the sign-in cookie
    ],
    ids=["missing", "wrong", "not-bearer", "read-scope", "retrigger-scope", "cookie"],
)
@pytest.mark.parametrize(
    "path",
    ["/api/v1/triggers", "/api/v1/triggers/batch", "/api/v1/outcomes", "/api/v1/cloudevents"],
)
def test_writes_need_a_write_token(
    store: str, client: httpx.Client, path: str, headers: dict[str, str], status: int
) -> None:
    payload: Any = [trigger()] if path.endswith("batch") else trigger()
    answer = client.post(path, json=payload, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]
    assert WRITE_A not in answer.text
    _nothing_written(store)


def test_a_write_token_does_not_read(store: str, client: httpx.Client) -> None:
    assert client.get("/api/v1/snapshots", headers=bearer(WRITE_A)).status_code == 403
    assert client.get("/api/v1/snapshots", headers=bearer(BOTH_A)).status_code == 200
    assert (
        client.post("/api/v1/triggers", json=trigger(), headers=bearer(BOTH_A)).status_code == 201
    )


def test_a_tenant_token_writes_into_its_tenant_only(store: str, client: httpx.Client) -> None:
    other = client.post("/api/v1/triggers", json=trigger(tenant="team-b"), headers=bearer(WRITE_A))
    assert other.status_code == 403, other.text
    assert "team-a" in other.json()["error"]
    _nothing_written(store)
    same = client.post("/api/v1/triggers", json=trigger(tenant="team-a"), headers=bearer(WRITE_A))
    assert same.status_code == 201
    anywhere = client.post(
        "/api/v1/triggers", json=trigger("900", tenant="team-b"), headers=bearer(WRITE_ANY)
    )
    assert anywhere.status_code == 201, anywhere.text
    assert stored(store) == [("101", "triggered", "team-a"), ("900", "triggered", "team-b")]


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b"{not json", 400, "not JSON"),
        (b"", 400, "empty"),
        (b'{"workflow_id": NaN}', 400, "not JSON"),
        (b"\xff\xfe", 400, "not JSON"),
        (b"[" * 100_000, 400, "not JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (json.dumps({**trigger(), "workflow_type": "NOPE"}).encode(), 422, "unknown workflow type"),
        (json.dumps({k: v for k, v in trigger().items() if k != "config"}).encode(), 422, "config"),
        (json.dumps({**trigger(), "workflow_id": None}).encode(), 422, "workflow_id"),
        (json.dumps({**trigger(), "workflow_idd": 1}).encode(), 422, "did you mean workflow_id"),
        (json.dumps({**trigger(), GH_TOKEN: 1}).encode(), 422, "1 unknown field(s) (the fields"),
        (json.dumps({**trigger(), "attempt": 0}).encode(), 422, "attempt"),
        (json.dumps({**trigger(), "labels": {"a": 1}}).encode(), 422, "labels"),
        (json.dumps({**trigger(), "trigger_kind": "bogus"}).encode(), 422, "trigger_kind"),
        (json.dumps({**trigger(), "format": "nope"}).encode(), 422, "unknown payload format"),
        (json.dumps({**trigger(), "workflow_id": "-"}).encode(), 422, "read it from the payload"),
    ],
    ids=[
        "broken",
        "empty",
        "nan",
        "not-utf8",
        "too-deep",
        "array",
        "unknown-type",
        "no-config",
        "null-id",
        "unknown-field",
        "secret-key",
        "attempt",
        "labels",
        "kind",
        "format",
        "dash-unreadable",
    ],
)
def test_bad_bodies_get_a_json_error_and_nothing_is_written(
    store: str, client: httpx.Client, content: bytes, status: int, words: str
) -> None:
    answer = client.post(
        "/api/v1/triggers",
        content=content,
        headers={**bearer(WRITE_A), "Content-Type": "application/json"},
    )
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert PASSWORD not in answer.text and GH_TOKEN not in answer.text
    _nothing_written(store)


def test_an_oversize_body_is_refused_while_it_is_read(
    store: str, serve: Callable[[Any], Server]
) -> None:
    server = serve(create_app(store, ingest_tokens(), limits=Limits(max_body_bytes=4096)))
    big = trigger(image="x" * 8000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        data = json.dumps(big).encode()
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    with httpx.Client(base_url=server.url, timeout=60) as http:
        declared = http.post("/api/v1/triggers", json=big, headers=bearer(WRITE_A))
        assert declared.status_code == 413
        assert "4096" in declared.json()["error"]
        streamed = http.post("/api/v1/triggers", content=chunks(), headers=bearer(WRITE_A))
        assert streamed.status_code == 413
        assert "4096" in streamed.json()["error"]
        small = http.post("/api/v1/triggers", json=trigger(), headers=bearer(WRITE_A))
        assert small.status_code == 201
    assert stored(store) == [("101", "triggered", "team-a")]


def test_a_config_over_the_engines_limit_is_413(
    store: str, serve: Callable[[Any], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the body limit, over the engine's ``max_request_bytes``."""
    monkeypatch.setenv("WFAUDIT_MAX_REQUEST_BYTES", "2048")
    server = serve(create_app(store, ingest_tokens()))
    with httpx.Client(base_url=server.url, timeout=60) as http:
        answer = http.post(
            "/api/v1/triggers", json=trigger(image="y" * 4096), headers=bearer(WRITE_A)
        )
    assert answer.status_code == 413, answer.text
    assert answer.json()["error_type"] == "RequestTooLarge"
    _nothing_written(store)


# -- POST /api/v1/triggers/batch --------------------------------------------------------


def test_a_batch_answers_each_item_in_order(store: str, client: httpx.Client) -> None:
    items: list[Any] = [
        trigger("1"),
        {"workflow_id": "2"},  # missing fields
        trigger("3", tenant="team-b"),  # another tenant's
        trigger("1"),  # the same again
        "not an object",
        trigger("1", image="other"),  # conflict
        trigger("5", workflow_type="NOPE"),
        trigger("6"),
    ]
    answer = client.post("/api/v1/triggers/batch", json=items, headers=bearer(WRITE_A))
    assert answer.status_code == 200, answer.text
    statuses = [result["status"] for result in answer.json()["results"]]
    assert statuses == [201, 422, 403, 200, 422, 409, 422, 201]
    results = answer.json()["results"]
    assert results[0]["snapshot_id"] == results[3]["snapshot_id"]
    assert all("error" in results[i] for i in (1, 2, 4, 5, 6))
    assert PASSWORD not in answer.text and GH_TOKEN not in answer.text
    assert stored(store) == [("1", "triggered", "team-a"), ("6", "triggered", "team-a")]


def test_a_batch_over_the_limit_or_not_an_array_is_refused_whole(
    store: str, client: httpx.Client
) -> None:
    tiny = {"workflow_id": "1", "workflow_type": "CI", "pipeline_id": "p", "config": {}}
    too_many = client.post(
        "/api/v1/triggers/batch", json=[tiny] * (MAX_BATCH + 1), headers=bearer(WRITE_A)
    )
    assert too_many.status_code == 413 and str(MAX_BATCH) in too_many.json()["error"]
    not_array = client.post("/api/v1/triggers/batch", json=trigger(), headers=bearer(WRITE_A))
    assert not_array.status_code == 422 and "array" in not_array.json()["error"]
    _nothing_written(store)


# -- POST /api/v1/outcomes ----------------------------------------------------------------


def test_an_outcome_is_recorded_with_the_retry_decision(store: str, client: httpx.Client) -> None:
    assert (
        client.post("/api/v1/triggers", json=trigger(), headers=bearer(WRITE_A)).status_code == 201
    )
    outcome = {
        "workflow_id": "101",
        "workflow_type": "CI",
        "status": "failed",
        "reason": f"docker login -p {PASSWORD} failed",
    }
    answer = client.post("/api/v1/outcomes", json=outcome, headers=bearer(WRITE_A))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["record"]["status"] == "failed"
    assert body["record"]["workflow_id"] == "101"
    assert body["retry"] is None or set(body["retry"]) == {"retry", "reason", "policy"}
    assert PASSWORD not in answer.text
    with Auditor.from_url(store, strict=True) as auditor:
        (record,) = auditor.history()
        assert record.status_reason is not None and PASSWORD not in record.status_reason


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ({"workflow_id": "999", "workflow_type": "CI", "status": "failed"}, 404),
        ({"workflow_id": "101", "workflow_type": "CI", "status": "exploded"}, 422),
        ({"workflow_id": "101", "workflow_type": "CI", "status": "triggered"}, 422),
        ({"workflow_id": "101", "workflow_type": "CI"}, 422),
        ({"workflow_id": "101", "workflow_type": "CI", "status": "failed", "reason": 7}, 422),
        (
            {"workflow_id": "101", "workflow_type": "CI", "status": "failed", "tenant": "team-b"},
            403,
        ),
    ],
    ids=["unknown-run", "unknown-status", "triggered", "no-status", "reason-type", "other-tenant"],
)
def test_bad_outcomes_are_refused_and_change_nothing(
    store: str, client: httpx.Client, outcome: dict[str, Any], status: int
) -> None:
    assert (
        client.post("/api/v1/triggers", json=trigger(), headers=bearer(WRITE_A)).status_code == 201
    )
    answer = client.post("/api/v1/outcomes", json=outcome, headers=bearer(WRITE_A))
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]
    assert stored(store) == [("101", "triggered", "team-a")]


# -- POST /api/v1/cloudevents ------------------------------------------------------------------


def structured(kind: str, data: Any, **extra: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/apis/tekton.dev/v1/namespaces/ci/pipelineruns/build-x7k2p",
        "type": kind,
        "datacontenttype": "application/json",
        "data": data,
        **extra,
    }


def binary_headers(kind: str, token: str = WRITE_A) -> dict[str, str]:
    return {
        **bearer(token),
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "e-2",
        "ce-source": "/apis/tekton.dev/v1/namespaces/ci/pipelineruns/build-x7k2p",
        "ce-type": kind,
    }


STARTED = "dev.tekton.event.pipelinerun.started.v1"


def post_structured(client: httpx.Client, event: dict[str, Any]) -> httpx.Response:
    return client.post(
        "/api/v1/cloudevents",
        content=json.dumps(event).encode(),
        headers={**bearer(WRITE_A), "Content-Type": "application/cloudevents+json"},
    )


def test_tekton_cloudevents_audit_the_run_and_record_its_end(
    store: str, client: httpx.Client
) -> None:
    run = pipeline_run()
    started = post_structured(client, structured(STARTED, {"pipelineRun": run}))
    assert started.status_code == 201, started.text
    assert started.json()["ref"]["workflow_id"] == run["metadata"]["uid"]
    # The sink delivers it again, in binary mode: the same content, 200.
    again = client.post(
        "/api/v1/cloudevents",
        content=json.dumps({"pipelineRun": run}).encode(),
        headers=binary_headers(STARTED),
    )
    assert again.status_code == 200, again.text
    running = post_structured(
        client, structured("dev.tekton.event.pipelinerun.running.v1", {"pipelineRun": run})
    )
    assert running.status_code == 204 and running.content == b""
    ended = {**run, "status": {"conditions": [{"type": "Succeeded", "reason": "Succeeded"}]}}
    done = post_structured(
        client, structured("dev.tekton.event.pipelinerun.successful.v1", {"pipelineRun": ended})
    )
    assert done.status_code == 200, done.text
    assert done.json()["record"]["status"] == "succeeded"

    # A TaskRun whose start was never heard: audited from its end, then failed.
    task = pipeline_run("task-uid-0002")
    task["spec"] = {"taskRef": {"name": "lint"}, "params": [{"name": "token", "value": GH_TOKEN}]}
    task["status"] = {
        "conditions": [{"type": "Succeeded", "reason": "Failed", "message": "lint failed"}]
    }
    failed = client.post(
        "/api/v1/cloudevents",
        content=json.dumps({"taskRun": task}).encode(),
        headers=binary_headers("dev.tekton.event.taskrun.failed.v1"),
    )
    assert failed.status_code == 200, failed.text
    assert failed.json()["record"]["status"] == "failed"
    assert failed.json()["record"]["status_reason"] == "Failed: lint failed"

    counts = client.get("/api/v1/cloudevents", headers=bearer(BOTH_A)).json()
    assert counts["ignored"] == {"dev.tekton.event.pipelinerun.running.v1": 1}
    assert counts["handled"][STARTED] == 2
    assert stored(store) == [
        (run["metadata"]["uid"], "succeeded", "team-a"),
        ("task-uid-0002", "failed", "team-a"),
    ]
    assert GH_TOKEN not in started.text + again.text + done.text + failed.text


@pytest.mark.parametrize(
    ("content_type", "headers", "content", "status", "words"),
    [
        ("application/cloudevents+json", {}, b"{broken", 400, "not JSON"),
        ("application/cloudevents+json", {}, b"[]", 400, "JSON object"),
        (
            "application/cloudevents+json",
            {},
            json.dumps({"specversion": "1.0", "id": "x", "type": STARTED}).encode(),
            400,
            "source",
        ),
        (
            "application/cloudevents+json",
            {},
            json.dumps({**structured(STARTED, {}), "specversion": "0.3"}).encode(),
            400,
            "specversion",
        ),
        (
            "application/cloudevents+json",
            {},
            json.dumps({**structured(STARTED, None), "data_base64": "%%%"}).encode(),
            400,
            "base64",
        ),
        ("application/cloudevents-batch+json", {}, b"[]", 400, "one event per request"),
        ("application/json", {}, b"{}", 400, "not a CloudEvent"),
        (
            "application/json",
            {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "s"},
            b"{}",
            400,
            "type",
        ),
        (
            "application/json",
            {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "s", "ce-type": STARTED},
            b"{nope",
            400,
            "not JSON",
        ),
        (
            "application/cloudevents+json",
            {},
            json.dumps(structured(STARTED, {"taskRun": {}})).encode(),
            422,
            "no pipelineRun",
        ),
    ],
    ids=[
        "broken",
        "array",
        "no-source",
        "old-spec",
        "bad-base64",
        "batch",
        "no-attributes",
        "no-type-header",
        "binary-bad-data",
        "no-run",
    ],
)
def test_malformed_cloudevents_get_a_json_error_and_nothing_is_written(
    store: str,
    client: httpx.Client,
    content_type: str,
    headers: dict[str, str],
    content: bytes,
    status: int,
    words: str,
) -> None:
    answer = client.post(
        "/api/v1/cloudevents",
        content=content,
        headers={**bearer(WRITE_A), "Content-Type": content_type, **headers},
    )
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    _nothing_written(store)


# -- the store down: 202, then drained -------------------------------------------------------


@pytest.mark.wfaudit_backends("postgresql")
def test_with_the_store_down_triggers_are_spooled_then_drained(
    store: str, serve: Callable[[Any], Server], tcp_proxy: Any
) -> None:
    proxy = tcp_proxy(store)
    app = create_app(proxy.url_for(store), ingest_tokens())
    server = serve(app)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert (
            http.post("/api/v1/triggers", json=trigger("1"), headers=bearer(WRITE_A)).status_code
            == 201
        )
        proxy.cut()
        down = http.post("/api/v1/triggers", json=trigger("2"), headers=bearer(WRITE_A))
        assert down.status_code == 202, down.text
        assert down.json()["spooled"] is True
        retried = http.post("/api/v1/triggers", json=trigger("2"), headers=bearer(WRITE_A))
        assert retried.status_code == 202, retried.text
        batch = http.post(
            "/api/v1/triggers/batch", json=[trigger("3"), trigger("1")], headers=bearer(WRITE_A)
        )
        assert [r["status"] for r in batch.json()["results"]] == [202, 202]
        proxy.restore()
        auditor = app.state.web.auditor("team-a")
        deadline = time.monotonic() + 60
        while auditor.spool.depth("team-a") and time.monotonic() < deadline:
            auditor.drain_spool(wait=5)
            time.sleep(0.2)
        assert auditor.spool.depth("team-a") == 0
        # Once stored, the same trigger again is "already stored".
        after = http.post("/api/v1/triggers", json=trigger("2"), headers=bearer(WRITE_A))
        assert after.status_code == 200, after.text
    assert stored(store) == [
        ("1", "triggered", "team-a"),
        ("2", "triggered", "team-a"),
        ("3", "triggered", "team-a"),
    ]


def test_with_no_store_reachable_a_trigger_is_202_and_fsynced_in_the_spool(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[[Any], Server]
) -> None:
    import socket

    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=3"
    app = create_app(url, ingest_tokens())
    server = serve(app)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        answer = http.post("/api/v1/triggers", json=trigger(), headers=bearer(WRITE_A))
    assert answer.status_code == 202, answer.text
    spool = app.state.web.auditor("team-a").spool
    assert spool.depth("team-a") == 1
    (path,) = spool.paths("team-a")
    assert find_secrets(SECRETS, paths=[path]) == []


# -- the worker's bounds: request timeout, bounded concurrency ------------------------------


def _slow_request(url: str, token: str, *, declared: int, sent: bytes) -> Any:
    """A POST whose body stops short of its Content-Length (the client stalls)."""
    import socket
    import urllib.parse

    where = urllib.parse.urlsplit(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=60)
    sock.sendall(
        (
            f"POST /api/v1/triggers HTTP/1.1\r\nHost: {where.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        + sent
    )
    return sock


def _read_status(sock: Any) -> tuple[int, dict[str, Any]]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_body_that_does_not_arrive_in_time_is_408(
    store: str, serve: Callable[[Any], Server]
) -> None:
    server = serve(create_app(store, ingest_tokens(), limits=Limits(timeout=0.5)))
    sock = _slow_request(server.url, WRITE_A, declared=500, sent=b'{"workflow_id": ')
    try:
        status, body = _read_status(sock)
    finally:
        sock.close()
    assert status == 408
    assert "did not arrive" in body["error"]
    _nothing_written(store)


def test_past_the_queue_a_request_gets_503_with_retry_after(
    store: str, serve: Callable[[Any], Server]
) -> None:
    server = serve(
        create_app(store, ingest_tokens(), limits=Limits(concurrency=1, queue=0, timeout=120))
    )
    payload = json.dumps(trigger()).encode()
    stalled = _slow_request(server.url, WRITE_A, declared=len(payload), sent=payload[:10])
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            # Until the stalled request is admitted, a probe is admitted and refused (400).
            deadline = time.monotonic() + 60
            while True:
                probe = http.post("/api/v1/triggers", content=b"{", headers=bearer(WRITE_A))
                if probe.status_code == 503 or time.monotonic() > deadline:
                    break
                assert probe.status_code == 400
                time.sleep(0.05)
            assert probe.status_code == 503, probe.text
            assert probe.headers["Retry-After"] == "1"
            assert "busy" in probe.json()["error"]
            stalled.sendall(payload[10:])
            status, body = _read_status(stalled)
            assert status == 201 and body["created"] is True
            # The slot is free again.
            again = http.post("/api/v1/triggers", json=trigger(), headers=bearer(WRITE_A))
            assert again.status_code == 200
    finally:
        stalled.close()


def test_a_token_without_the_read_scope_does_not_sign_in(store: str, client: httpx.Client) -> None:
    import re

    for token, signed_in in ((WRITE_A, False), (RETRIGGER_A, False), (READ_A, True)):
        client.cookies.clear()
        page = client.get("/login")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        answer = client.post(
            "/login",
            content=f"token={token}&csrf={found[1]}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (answer.status_code == 303) is signed_in, (token[:5], answer.status_code)
        assert (COOKIE in answer.headers.get("set-cookie", "")) is signed_in


def test_a_structured_cloudevent_may_carry_its_data_in_base64(
    store: str, client: httpx.Client
) -> None:
    import base64

    data = base64.b64encode(json.dumps({"taskRun": pipeline_run("b64-run")}).encode()).decode()
    event = structured("dev.tekton.event.taskrun.started.v1", None)
    del event["data"]
    answer = post_structured(client, {**event, "data_base64": data})
    assert answer.status_code == 201, answer.text
    assert answer.json()["ref"]["workflow_id"] == "b64-run"
    assert answer.json()["ref"]["tenant"] == "team-a"  # the token's tenant
    assert stored(store) == [("b64-run", "triggered", "team-a")]
