"""The service around the data: the OpenAPI description against the app's real
routes, readiness when the store is not there, and ``wfaudit serve``'s port."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from wfaudit import Auditor
from wfaudit_web import create_app

from .conftest import PLUGINS, TOKEN_OPS, Server, tokens

PAGES = {
    "/",
    "/login",
    "/logout",
    "/ui",
    "/ui/pipelines",
    "/ui/pipelines/{pipeline_id}",
    "/ui/snapshots/{snapshot_id}",
    "/ui/diff",
}
"""The routes that are HTML (or the description itself), not API operations."""


def test_the_openapi_paths_are_the_apps_routes(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[[Any], Server], tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    app = create_app(f"sqlite:///{tmp_path / 'store.sqlite3'}", tokens())
    # A ``{name:path}`` parameter (ids may hold '/') is ``{name}`` in OpenAPI.
    routes = {
        route.path.replace(":path}", "}"): route for route in app.routes if isinstance(route, Route)
    }
    spec = httpx.get(f"{serve(app).url}/openapi.json", timeout=30).json()
    documented = set(spec["paths"])

    assert documented == set(routes) - PAGES - {"/openapi.json"}
    assert set(routes) >= PAGES  # no page was renamed away from the list above
    for path, item in spec["paths"].items():
        methods = set(routes[path].methods or ()) - {"HEAD"}
        assert {method.upper() for method in item} == methods, path
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(routes[path].param_convertors), path
            if operation is not item.get("get"):  # a write: a body and its refusals
                assert operation["requestBody"]["required"] is True, path
                assert {"401", "403", "413", "422"} <= set(operation["responses"]), path


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nope://nowhere", {"status": "unavailable", "error": "BadStoreURL"}),
        ("closed-postgresql", {"status": "unavailable", "health": "degraded"}),
    ],
    ids=["no-store-plugin", "store-down"],
)
def test_readyz_answers_503_when_the_store_is_not_there(
    monkeypatch: pytest.MonkeyPatch,
    serve: Callable[[Any], Server],
    url: str,
    expected: dict[str, str],
) -> None:
    """A URL no plugin opens, and a PostgreSQL server that refuses connections
    (the audits would be spooled: live, so "degraded", but not ready)."""
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    if url == "closed-postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test?connect_timeout=3"
    server = serve(create_app(url, tokens()))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200  # alive all the same
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == expected
        # An ingest replica stays ready while its audits can be spooled (202): a
        # store outage must not take every replica from behind the load balancer.
        ingest = client.get("/readyz", params={"for": "ingest"})
        if url.startswith("nope"):
            assert (ingest.status_code, ingest.json()) == (503, expected)
        else:
            assert (ingest.status_code, ingest.json()) == (
                200,
                {"status": "ready", "health": "degraded"},
            )
        assert client.get("/readyz", params={"for": "nothing"}).status_code == 400


def test_metrics_answer_503_when_the_multiproc_directory_is_missing(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[[Any], Server], tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    Auditor.from_url(url, create=True).close()  # the store exists; the directory does not
    server = serve(create_app(url, tokens()))
    answer = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN_OPS}"}, timeout=30
    )
    assert answer.status_code == 503
    assert "PROMETHEUS_MULTIPROC_DIR" in answer.json()["error"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "WFAUDIT_LOAD_PLUGINS": PLUGINS + ",web",
        "WFAUDIT_WEB_TOKEN": TOKEN_OPS,
    }


@pytest.mark.wfaudit_backends("sqlite")
@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_serve_refuses_a_port_out_of_range(store_url: str, port: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wfaudit", "--store", store_url, "serve", "--port", port],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for '--port': {port} is not in the range 0<=x<=65535" in result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


@pytest.mark.wfaudit_backends("sqlite")
def test_serve_on_port_0_prints_the_port_it_took(store_url: str, tmp_path: pathlib.Path) -> None:
    log = tmp_path / "serve.log"
    prefix = "serving the wfaudit web view on "
    Auditor.from_url(store_url, create=True).close()  # serve refuses a store that is not there
    with log.open("w", encoding="utf-8") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "wfaudit", "--store", store_url, "serve", "--port", "0"],
            env=_env(),
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while not any(line.startswith(prefix) for line in lines):
            assert server.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, f"no address printed: {lines!r}"
            time.sleep(0.05)
            lines = log.read_text(encoding="utf-8").splitlines()
        url = next(line for line in lines if line.startswith(prefix))[len(prefix) :]
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname == "127.0.0.1" and parts.path == "/ui"
        assert parts.port not in (None, 0)
        base = f"http://127.0.0.1:{parts.port}"
        while True:  # the socket listens already; uvicorn answers once started
            try:
                answer = httpx.get(f"{base}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert answer.json() == {"status": "ok"}
        metrics = httpx.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN_OPS}"}, timeout=30
        )
        assert metrics.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert TOKEN_OPS not in log.read_text(encoding="utf-8")
