"""Fixtures of the web tests: a store with two tenants' pipelines, the app, and
a real uvicorn server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
import uvicorn

from wfaudit import Auditor
from wfaudit_hookspecs import TriggerRequest
from wfaudit_web import Access, Tokens, create_app

TOKEN_A = "team-a-token-0123456789abcdef"
TOKEN_B = "team-b-token-0123456789abcdef"
TOKEN_OPS = "ops-token-0123456789abcdefghij"
DB_PASSWORD_1 = "Pa55word-first-Xq81"
DB_PASSWORD_2 = "Pa55word-second-Zr42"
PLUGINS = "sql,maskers,prometheus"


def _config(image: str, password: str, *, steps: list[str], commit: str) -> dict[str, Any]:
    return {
        "image": image,
        "commit": commit,
        "steps": [{"name": name, "script": f"make {name}"} for name in steps],
        "env": {"DB_PASSWORD": password, "LOG_LEVEL": "info"},
    }


@attrs.frozen
class Seeded:
    """What the store holds: snapshot ids by name."""

    store_url: str
    ids: dict[str, str]


def seed(store_url: str) -> Seeded:
    """Team A's pipeline shop-api (three CI snapshots, a retry, outcomes) and
    team B's pipeline billing (one snapshot)."""
    ids: dict[str, str] = {}
    with Auditor.from_url(store_url, tenant="team-a", strict=True) as auditor:

        def audit(name: str, workflow_id: str, config: dict[str, Any], **extra: Any) -> None:
            result = auditor.audit_trigger(
                TriggerRequest(
                    workflow_id=workflow_id,
                    workflow_type="CI",
                    pipeline_id="shop-api",
                    config=config,
                    triggered_by=extra.pop("by", "ana"),
                    **extra,
                )
            )
            assert result.ref is not None
            ids[name] = result.ref.id

        audit("first", "101", _config("shop:1.0", DB_PASSWORD_1, steps=["build"], commit="a1"))
        auditor.record_outcome("101", "CI", "succeeded")
        audit(
            "second",
            "102",
            _config("shop:1.1", DB_PASSWORD_2, steps=["build", "test"], commit="b2"),
            by="bo",
        )
        auditor.record_outcome("102", "CI", "failed", "2 tests failed in <TestCheckout>")
        audit(
            "retry",
            "102-r",
            _config("shop:1.1", DB_PASSWORD_2, steps=["build", "test"], commit="b2"),
            parent=ids["second"],
            attempt=2,
            trigger_kind="retry",
        )
        auditor.record_outcome("102-r", "CI", "succeeded")
        auditor.tag(ids["retry"], "v1.1", by="ana")
        auditor.annotate(ids["second"], "checkout test is flaky", author="bo")
    with Auditor.from_url(store_url, tenant="team-b", strict=True) as auditor:
        result = auditor.audit_trigger(
            workflow_id="900",
            workflow_type="CI",
            pipeline_id="billing",
            config=_config("bill:7", "team-b-secret-Vv99", steps=["build"], commit="c3"),
            triggered_by="cy",
        )
        assert result.ref is not None
        ids["other_tenant"] = result.ref.id
    return Seeded(store_url, ids)


@pytest.fixture
def seeded(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    return seed(store_url)


def tokens() -> Tokens:
    return Tokens.of(
        {
            TOKEN_A: Access("team-a", "team-a"),
            TOKEN_B: Access("team-b", "team-b"),
            TOKEN_OPS: Access("ops"),
        }
    )


@attrs.define
class Server:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture
def serve() -> Iterator[Callable[[Any], Server]]:
    """Run an ASGI app with uvicorn on a free loopback port, in a thread."""
    running: list[Server] = []

    def start(app: Any) -> Server:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped at start-up"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        started = Server(f"http://127.0.0.1:{port}", server, thread)
        running.append(started)
        return started

    yield start
    for item in running:
        item.server.should_exit = True
        item.thread.join(timeout=30)


@pytest.fixture
def app_server(seeded: Seeded, serve: Callable[[Any], Server]) -> Server:
    return serve(create_app(seeded.store_url, tokens()))
