"""Every id the engine accepts round-trips through every URL of the web view.

Pipeline and workflow ids come from the adapters (``ci/build-and-push``,
``example-org/web-shop/.github/workflows/ci.yml``) and may hold any character
but a control character: each is stored here, then every link the pages make is
followed (httpx against uvicorn on loopback) and must answer 200, and the API
must give the id back as it was stored. Unknown paths are refused as JSON under
``/api/`` and as a styled page elsewhere.
"""

from __future__ import annotations

import html
import itertools
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from wfaudit import Auditor
from wfaudit_hookspecs import TriggerRequest
from wfaudit_web import create_app

from .conftest import PLUGINS, TOKEN_OPS, Server, tokens

PIPELINE_IDS = [
    "ci/build-and-push",
    "example-org/web-shop/.github/workflows/ci.yml",
    "a//b/",
    "100%",
    "%2F%20",
    "what?x=1&y=2",
    "frag#ment",
    "with spaces in it",
    "ünïcødé/パイプライン",
    "..",
    ".",
    "../..",
    "a/../b",
    "x/history",
    "semi;colon+plus",
]

_HREF = re.compile(r'href="([^"]+)"')


def _links(page: str) -> list[str]:
    return [html.unescape(href) for href in _HREF.findall(page)]


def _common(x: str, y: str) -> str:
    """The longest common prefix of two ids."""
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    return x[:n]


def _seed(store_url: str) -> dict[str, list[str]]:
    """Two CI snapshots of every pipeline, the second tagged ``v2``; the ids by pipeline."""
    ids: dict[str, list[str]] = {}
    with Auditor.from_url(store_url, strict=True) as auditor:
        for n, pipeline_id in enumerate(PIPELINE_IDS):
            for attempt in (1, 2):
                result = auditor.audit_trigger(
                    TriggerRequest(
                        workflow_id=f"{pipeline_id}/run-{attempt}",
                        workflow_type="CI",
                        pipeline_id=pipeline_id,
                        config={"image": f"app:{n}.{attempt}", "steps": ["build"]},
                        triggered_by="ana",
                    )
                )
                assert result.ref is not None
                ids.setdefault(pipeline_id, []).append(result.ref.id)
            auditor.tag(ids[pipeline_id][1], "v2", by="ana")
    return ids


@pytest.fixture
def server(
    store_url: str, monkeypatch: pytest.MonkeyPatch, serve: Callable[[Any], Server]
) -> tuple[Server, dict[str, list[str]]]:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    ids = _seed(store_url)
    return serve(create_app(store_url, tokens())), ids


def test_every_link_the_pages_make_answers(
    server: tuple[Server, dict[str, list[str]]],
) -> None:
    app_server, ids = server
    headers = {"Authorization": f"Bearer {TOKEN_OPS}"}
    with httpx.Client(base_url=app_server.url, timeout=30, headers=headers) as client:
        index = client.get("/ui", params={"limit": 500})
        assert index.status_code == 200
        pipeline_links = {link for link in _links(index.text) if link.startswith("/ui/pipelines")}
        assert len(pipeline_links) == len(PIPELINE_IDS)
        seen: set[str] = set()
        for link in sorted(pipeline_links):
            timeline = client.get(link)
            assert timeline.status_code == 200, link
            shown = re.search(r"Timeline of pipeline <code>(.*?)</code>", timeline.text)
            assert shown is not None
            pipeline_id = html.unescape(shown.group(1))
            seen.add(pipeline_id)
            # Both snapshots of this pipeline, and only they, are on its timeline.
            assert set(re.findall(r'data-snapshot="([^"]+)"', timeline.text)) == set(
                ids[pipeline_id]
            ), pipeline_id
            for inner in _links(timeline.text):
                page = client.get(inner)
                assert page.status_code == 200, (pipeline_id, inner)
                if inner.startswith("/ui/snapshots/"):
                    # The snapshot page links back to the same pipeline.
                    back = [x for x in _links(page.text) if x.startswith("/ui/pipelines")]
                    assert back == [link], (pipeline_id, back)
        assert seen == set(PIPELINE_IDS)


def test_the_api_round_trips_every_id(server: tuple[Server, dict[str, list[str]]]) -> None:
    app_server, ids = server
    headers = {"Authorization": f"Bearer {TOKEN_OPS}"}
    with httpx.Client(base_url=app_server.url, timeout=30, headers=headers) as client:
        for pipeline_id in PIPELINE_IDS:
            quoted = urllib.parse.quote(pipeline_id, safe="")
            if pipeline_id in (".", ".."):
                # A client resolves these away in a path: the query form carries them.
                answer = client.get("/api/v1/pipelines/history", params={"id": pipeline_id})
            else:
                answer = client.get(f"/api/v1/pipelines/{quoted}/history")
            assert answer.status_code == 200, pipeline_id
            body = answer.json()
            assert body["pipeline_id"] == pipeline_id
            assert [entry["id"] for entry in body["timeline"]] == ids[pipeline_id][::-1]
            # The query form answers for every id alike.
            by_query = client.get("/api/v1/pipelines/history", params={"id": pipeline_id})
            assert by_query.json() == body

            listed = client.get("/api/v1/snapshots", params={"pipeline_id": pipeline_id})
            assert {row["id"] for row in listed.json()["snapshots"]} == set(ids[pipeline_id])

            first, second = ids[pipeline_id]
            for ref in (first, first[:20]):
                one = client.get(f"/api/v1/snapshots/{urllib.parse.quote(ref, safe='')}")
                assert one.status_code == 200 and one.json()["pipeline_id"] == pipeline_id

            # Diff endpoints are references as `wfaudit diff` takes them.
            diff = client.get("/api/v1/diff", params={"a": first, "b": second}).json()
            assert (diff["a"]["id"], diff["b"]["id"]) == (first, second)
            by_head = client.get(
                "/api/v1/diff", params={"a": f"{first}", "pipeline_id": pipeline_id}
            ).json()
            assert by_head["b"]["id"] == second
            by_tag = client.get(
                "/api/v1/diff", params={"a": "v2~1", "b": "v2", "pipeline_id": pipeline_id}
            ).json()
            assert (by_tag["a"]["id"], by_tag["b"]["id"]) == (first, second)
            page = client.get(
                "/ui/diff", params={"a": "v2~", "b": "HEAD", "pipeline_id": pipeline_id}
            )
            assert page.status_code == 200
            assert '<strong id="summary">identical</strong>' not in page.text

            # WORKFLOW_ID:TYPE, as the CLI takes it (a reference has no white space).
            run = urllib.parse.quote(f"{pipeline_id}/run-1:CI", safe="")
            by_run = client.get(f"/api/v1/snapshots/{run}")
            if " " in pipeline_id:
                assert by_run.status_code == 400, pipeline_id
                assert "is not a snapshot reference" in by_run.json()["error"]
            else:
                assert by_run.status_code == 200, (pipeline_id, by_run.text)
                assert by_run.json()["id"] == first
                assert client.get(f"/ui/snapshots/{run}").status_code == 200
                runs = client.get(
                    "/api/v1/diff",
                    params={"a": f"{pipeline_id}/run-1:CI", "b": f"{pipeline_id}/run-2:CI"},
                ).json()
                assert (runs["a"]["id"], runs["b"]["id"]) == (first, second)


@pytest.mark.wfaudit_backends("sqlite")
def test_unknown_paths_answer_json_on_the_api_and_a_page_on_the_ui(
    server: tuple[Server, dict[str, list[str]]],
) -> None:
    app_server, ids = server
    headers = {"Authorization": f"Bearer {TOKEN_OPS}"}
    with httpx.Client(base_url=app_server.url, timeout=30, headers=headers) as client:
        for path in ("/api/v1/nope", "/api/v2/snapshots", "/api/v1/pipelines/x/nope"):
            answer = client.get(path)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"] == "application/json"
            assert answer.json() == {"error": "no such endpoint"}
        not_allowed = client.post("/api/v1/snapshots")
        assert not_allowed.status_code == 405
        assert not_allowed.json() == {"error": "method not allowed"}
        for path in ("/ui/nope", "/nope", "/ui/snapshots/01JD3F8Q2M0000000000000000"):
            page = client.get(path)
            assert page.status_code == 404, path
            assert page.headers["content-type"].startswith("text/html")
            assert "<style>" in page.text and 'href="/ui"' in page.text
        # An ambiguous prefix is the client's to narrow: 400, with the way to.
        every = sorted(i for pair in ids.values() for i in pair)
        shared = max((_common(x, y) for x, y in itertools.pairwise(every)), key=len)
        assert len(shared) >= 4
        ambiguous = client.get("/api/v1/snapshots/" + shared)
        assert ambiguous.status_code == 400, ambiguous.text
        assert "error" in ambiguous.json()
        missing = client.get("/api/v1/diff", params={"b": "HEAD"})
        assert missing.status_code == 400
        assert missing.json() == {"error": "the query parameter 'a' is required"}
