"""``POST /api/v1/retriggers``: the plan (``dry_run``), or the retry recorded and
its restored request handed back; only to tokens with the ``retrigger`` scope,
which no other scope implies; a retried request gets the same run again."""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from wfaudit import Auditor
from wfaudit.testing.scan import find_secrets
from wfaudit_web import Access, Tokens, create_app

from .conftest import Server
from .test_ingest_api import GH_TOKEN, PASSWORD, RETRIGGER_A, WRITE_A, bearer, trigger

RETRIGGER_B = "retrigger-b-token-0123456789abcdef"
ALL_BUT_RETRIGGER = "all-but-token-0123456789abcdef"


def retrigger_tokens() -> Tokens:
    return Tokens.of(
        {
            WRITE_A: Access("ci-a", "team-a", frozenset({"write"})),
            RETRIGGER_A: Access("replay-a", "team-a", frozenset({"retrigger"})),
            RETRIGGER_B: Access("replay-b", "team-b", frozenset({"retrigger"})),
            ALL_BUT_RETRIGGER: Access("ops", None, frozenset({"read", "write"})),
        }
    )


@pytest.fixture
def client(
    store_url: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    serve: Callable[[Any], Server],
) -> Iterator[httpx.Client]:
    settings = tmp_path / "wfaudit.toml"
    settings.write_text(
        '[restore.env]\n"/env/DB_PASSWORD" = "E2E_DB_PASSWORD"\n"/git/token" = "E2E_GH_TOKEN"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("WFAUDIT_CONFIG", str(settings))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers,keyring")
    monkeypatch.setenv("WFAUDIT_RETRIES_ENABLED", "1")
    for name in ("WORKFLOW_RETRIES_ENABLED", "MAX_CI_WORKFLOW_RETRIES", "WFAUDIT_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("E2E_DB_PASSWORD", PASSWORD)
    monkeypatch.setenv("E2E_GH_TOKEN", GH_TOKEN)
    Auditor.from_url(store_url, strict=True).close()
    server = serve(create_app(store_url, retrigger_tokens()))
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for run in ("101", "102"):
            assert (
                http.post(
                    "/api/v1/triggers", json=trigger(run), headers=bearer(WRITE_A)
                ).status_code
                == 201
            )
            failed = {
                "workflow_id": run,
                "workflow_type": "CI",
                "status": "failed",
                "reason": "boom",
            }
            assert (
                http.post("/api/v1/outcomes", json=failed, headers=bearer(WRITE_A)).status_code
                == 200
            )
        yield http


def runs(store_url: str) -> list[tuple[str, int, str | None]]:
    with Auditor.from_url(store_url, strict=True) as auditor:
        return sorted((r.workflow_id, r.attempt, r.parent) for r in auditor.history())


def test_a_retrigger_is_planned_then_recorded_and_handed_back(
    store_url: str,
    client: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    ask = {"workflow_id": "101", "workflow_type": "CI"}
    plan = client.post(
        "/api/v1/retriggers", json={**ask, "dry_run": True}, headers=bearer(RETRIGGER_A)
    )
    assert plan.status_code == 200, plan.text
    assert plan.json()["dry_run"] is True and plan.json()["refused"] == []
    assert {c["state"] for c in plan.json()["secret_checks"]} == {"matching"}
    assert plan.json()["attempt"] == 2
    assert PASSWORD not in plan.text and GH_TOKEN not in plan.text
    before = runs(store_url)
    assert [run[0] for run in before] == ["101", "102"]  # a dry run records nothing

    done = client.post("/api/v1/retriggers", json=ask, headers=bearer(RETRIGGER_A))
    assert done.status_code == 201, done.text
    assert done.headers["Cache-Control"] == "no-store"
    request = done.json()["request"]
    assert request["config"]["env"]["DB_PASSWORD"] == PASSWORD  # restored on the server
    assert request["config"]["git"]["token"] == GH_TOKEN
    assert request["trigger_kind"] == "retry" and request["attempt"] == 2
    assert request["parent_workflow_id"] == "101"
    child = done.json()["snapshot_id"]

    # The answer was lost; the orchestrator asks again: the same run, restored again.
    again = client.post("/api/v1/retriggers", json=ask, headers=bearer(RETRIGGER_A))
    assert again.status_code == 200, again.text
    assert again.json()["snapshot_id"] == child
    assert again.json()["request"]["config"] == request["config"]
    assert again.json()["request"]["workflow_id"] == request["workflow_id"]

    after = runs(store_url)
    assert len(after) == 3
    (retry,) = [run for run in after if run[1] == 2]
    assert retry[0] == request["workflow_id"]
    assert (
        find_secrets({"password": PASSWORD, "token": GH_TOKEN}, texts=[("logs", caplog.text)]) == []
    )


@pytest.mark.parametrize(
    ("token", "status"),
    [(WRITE_A, 403), (ALL_BUT_RETRIGGER, 403), (None, 401), (RETRIGGER_B, 404)],
    ids=["write", "read-and-write", "none", "other-tenant"],
)
def test_only_a_retrigger_token_of_the_tenant_gets_restored_secrets(
    store_url: str, client: httpx.Client, token: str | None, status: int
) -> None:
    headers = bearer(token) if token else {}
    answer = client.post(
        "/api/v1/retriggers", json={"workflow_id": "101", "workflow_type": "CI"}, headers=headers
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]
    assert PASSWORD not in answer.text and GH_TOKEN not in answer.text
    assert [run[0] for run in runs(store_url)] == ["101", "102"]


def test_a_secret_that_cannot_be_restored_refuses_the_retrigger(
    store_url: str, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("E2E_GH_TOKEN")
    ask = {"workflow_id": "102", "workflow_type": "CI"}
    plan = client.post(
        "/api/v1/retriggers", json={**ask, "dry_run": True}, headers=bearer(RETRIGGER_A)
    )
    assert plan.status_code == 200 and plan.json()["refused"] == ["/git/token"]
    refused = client.post("/api/v1/retriggers", json=ask, headers=bearer(RETRIGGER_A))
    assert refused.status_code == 422, refused.text
    assert "/git/token" in refused.json()["error"]
    assert PASSWORD not in refused.text
    unknown = client.post(
        "/api/v1/retriggers",
        json={"workflow_id": "999", "workflow_type": "CI"},
        headers=bearer(RETRIGGER_A),
    )
    assert unknown.status_code == 404
    bad = client.post(
        "/api/v1/retriggers", json={**ask, "dry_run": "yes"}, headers=bearer(RETRIGGER_A)
    )
    assert bad.status_code == 422 and "dry_run" in bad.json()["error"]
    assert [run[0] for run in runs(store_url)] == ["101", "102"]
