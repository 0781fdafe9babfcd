"""The JSON API and the pages, through a real HTTP client: httpx against uvicorn
on loopback, and Starlette's TestClient for the smaller cases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from wfaudit_web import Tokens, create_app

from .conftest import (
    DB_PASSWORD_1,
    DB_PASSWORD_2,
    PLUGINS,
    TOKEN_A,
    TOKEN_B,
    TOKEN_OPS,
    Seeded,
    Server,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_over_a_real_server(seeded: Seeded, app_server: Server) -> None:
    ids = seeded.ids
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready", "health": "ok"}
        spec = client.get("/openapi.json").json()
        assert spec["openapi"].startswith("3.")
        assert "/api/v1/pipelines/{pipeline_id}/history" in spec["paths"]

        # Refused: no token, a wrong token, another scheme.
        for headers in (
            {},
            bearer("not-a-token-at-all-000"),
            {"Authorization": f"Basic {TOKEN_A}"},
        ):
            refused = client.get("/api/v1/snapshots", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "snapshots" not in refused.json()

        a = bearer(TOKEN_A)
        listed = client.get("/api/v1/snapshots", headers=a).json()["snapshots"]
        assert {row["id"] for row in listed} == {ids["first"], ids["second"], ids["retry"]}
        assert all(row["tenant"] == "team-a" for row in listed)

        # Another tenant's snapshot is refused as not found, in JSON and in HTML.
        other = ids["other_tenant"]
        assert client.get(f"/api/v1/snapshots/{other}", headers=a).status_code == 404
        assert client.get(f"/ui/snapshots/{other}", headers=a).status_code == 404
        assert client.get(f"/api/v1/diff?a={ids['first']}&b={other}", headers=a).status_code == 404
        assert client.get(f"/api/v1/snapshots/{other}", headers=bearer(TOKEN_B)).status_code == 200
        assert (
            client.get(f"/api/v1/snapshots/{other}", headers=bearer(TOKEN_OPS)).status_code == 200
        )

        snapshot = client.get(f"/api/v1/snapshots/{ids['second']}", headers=a).json()
        assert snapshot["config"]["env"]["DB_PASSWORD"].startswith("[masked:")
        assert snapshot["config"]["env"]["LOG_LEVEL"] == "info"
        assert [field["path"] for field in snapshot["manifest"]["fields"]] == ["/env/DB_PASSWORD"]

        history = client.get("/api/v1/pipelines/shop-api/history", headers=a).json()["timeline"]
        assert [(e["workflow_id"], e["status"], e["attempt"]) for e in history] == [
            ("102-r", "succeeded", 2),
            ("102", "failed", 1),
            ("101", "succeeded", 1),
        ]
        changed = [e["changed"] for e in history]
        assert changed[0] == "no change" and changed[2] == "first snapshot"
        assert changed[1].startswith("1 step added") and changed[1].endswith("secrets")
        assert history[1]["previous"] == ids["first"]
        assert [e["tags"] for e in history] == [["v1.1"], [], []]
        assert [n["note"] for n in history[1]["annotations"]] == ["checkout test is flaky"]

        diff = client.get(f"/api/v1/diff?a={ids['first']}&b={ids['second']}", headers=a).json()
        secret = [c for c in diff["changes"] if c["path"] == "/env/DB_PASSWORD"]
        assert secret == [
            {
                "op": "modified",
                "path": "/env/DB_PASSWORD",
                "from_path": None,
                "old": None,
                "new": None,
                "secret": "changed",
            }
        ]
        assert diff["summary"]["secrets_changed"] is True
        assert client.get("/api/v1/diff?b=x", headers=a).status_code == 400

        plugins = client.get("/api/v1/plugins", headers=a).json()["plugins"]
        assert {"sql", "maskers"} <= {p["name"] for p in plugins}
        stats = client.get("/api/v1/stats", headers=a).json()
        assert stats["snapshots"] == 3 and stats["tenant"] == "team-a"
        verify = client.get("/api/v1/verify", headers=a).json()
        assert verify["ok"] is True and verify["snapshots"] == 3

        # The metrics are the process's, every tenant's: for a token bound to no tenant.
        for token in (TOKEN_A, TOKEN_B):
            refused = client.get("/metrics", headers=bearer(token))
            assert refused.status_code == 403
            assert "wfaudit_" not in refused.text
        metrics = client.get("/metrics", headers=bearer(TOKEN_OPS))
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'wfaudit_store_snapshots{status="succeeded"} 2.0' in metrics.text  # team A's
        assert 'wfaudit_store_snapshots{status="triggered"} 1.0' in metrics.text  # team B's
        unauthenticated = client.get("/metrics")
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["www-authenticate"] == "Bearer"

        everything = " ".join(
            client.get(path, headers=a).text
            for path in (
                f"/api/v1/snapshots/{ids['second']}",
                "/api/v1/pipelines/shop-api/history",
                f"/api/v1/diff?a={ids['first']}&b={ids['second']}",
                "/ui/pipelines/shop-api",
                f"/ui/snapshots/{ids['second']}",
                f"/ui/diff?a={ids['first']}&b={ids['second']}",
            )
        )
        assert DB_PASSWORD_1 not in everything and DB_PASSWORD_2 not in everything


def test_no_token_configured_means_no_data(seeded: Seeded, serve: Callable[[Any], Server]) -> None:
    server = serve(create_app(seeded.store_url, Tokens()))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        for path in (
            "/api/v1/snapshots",
            f"/api/v1/snapshots/{seeded.ids['first']}",
            "/ui/pipelines/shop-api",
            "/metrics",
        ):
            for headers in ({}, bearer(TOKEN_A)):
                response = client.get(path, headers=headers)
                assert response.status_code == 401, path
                assert "shop" not in response.text
        assert client.post("/login", content=f"token={TOKEN_A}").status_code == 403  # no form
        csrf = client.get("/login").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert client.post("/login", content=f"token={TOKEN_A}&csrf={csrf}").status_code == 401


def test_pages_escape_and_mark_secrets(seeded: Seeded, app_server: Server) -> None:
    ids = seeded.ids
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        form = client.get("/ui/pipelines/shop-api")
        assert form.status_code == 401  # the sign-in form
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        signed_in = client.post(
            "/login",
            content=f"token={TOKEN_A}&csrf={csrf}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert signed_in.status_code == 303
        assert "httponly" in signed_in.headers["set-cookie"].lower()
        timeline = client.get("/ui/pipelines/shop-api").text  # the cookie is sent now
        assert timeline.count('<tr data-snapshot="') == 3
        failed = client.get(f"/ui/snapshots/{ids['second']}").text
        assert "in &lt;TestCheckout&gt;" in failed and "<TestCheckout>" not in failed
        assert "1 step added" in timeline and "no change" in timeline
        diff = client.get(f"/ui/diff?a={ids['first']}&b={ids['second']}").text
        assert '<span class="secret-changed">secret changed</span>' in diff
        page = client.get(f"/ui/snapshots/{ids['first']}").text
        assert "/env/DB_PASSWORD" in page and 'class="masked"' in page
        form_tail = page.split('action="/logout"><input type="hidden" name="csrf" value="', 1)[1]
        logout = form_tail.split('"', 1)[0]
        signed_out = client.post(
            "/logout",
            content=f"csrf={logout}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert signed_out.status_code == 303
        assert client.get("/ui/pipelines/shop-api").status_code == 401


def _serve(*args: str, env: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.wfaudit_backends("sqlite")
def test_serve_refuses_to_start_without_a_token(store_url: str) -> None:
    env = {**os.environ, "WFAUDIT_LOAD_PLUGINS": PLUGINS + ",web"}
    for name in ("WFAUDIT_WEB_TOKEN", "WFAUDIT_INGEST_TOKEN", "WFAUDIT_RETRIGGER_TOKEN"):
        env.pop(name, None)
    result = _serve("--store", store_url, "serve", "--port", "0", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: no access token is configured: set WFAUDIT_WEB_TOKEN or WFAUDIT_INGEST_TOKEN "
        "(or [tool.wfaudit.web] tokens); the server serves no data without one"
    )
    short = _serve("--store", store_url, "serve", env={**env, "WFAUDIT_WEB_TOKEN": "short"})
    assert short.returncode == 1
    assert short.stderr.startswith("Error: WFAUDIT_WEB_TOKEN is shorter than 16 characters")


def test_tokens_from_settings_are_bound_to_tenants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_A_TOKEN", TOKEN_A)
    monkeypatch.delenv("WFAUDIT_WEB_TOKEN", raising=False)
    registry = Tokens.from_settings(
        {"web": {"tokens": [{"name": "a", "env": "TEAM_A_TOKEN", "tenant": "team-a"}]}}
    )
    found = registry.check(TOKEN_A)
    assert found is not None and found.tenant == "team-a"
    assert registry.check(TOKEN_B) is None and registry.check(None) is None
    assert TOKEN_A not in repr(registry)
    from wfaudit_hookspecs import ConfigurationError

    with pytest.raises(ConfigurationError, match="names MISSING_TOKEN, which is not set"):
        Tokens.from_settings({"web": {"tokens": [{"env": "MISSING_TOKEN"}]}})
