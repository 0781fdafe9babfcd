"""Fixtures of the webhook tests: a real HTTP receiver on loopback, and auditors
configured (through a real ``wfaudit.toml``) to notify it."""

from __future__ import annotations

import http.server
import json
import pathlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from wfaudit import Auditor
from wfaudit_webhooks import close_all

KEY = "whsec-test-key-0123456789abcdef"


@attrs.define
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that records POSTs and answers as told.

    ``statuses`` are answered in turn (the last one repeats); with ``hold`` set,
    each request waits until ``release`` is set (or 30 s pass, which is recorded).
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = [200]
        self.hold = False
        self.location: str | None = None
        self.release = threading.Event()
        self.arrived = threading.Event()
        self.released_in_time: list[bool] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received(dict(self.headers.items()), body))
                    status = receiver.statuses[
                        min(len(receiver.received), len(receiver.statuses)) - 1
                    ]
                receiver.arrived.set()
                if receiver.hold:
                    receiver.released_in_time.append(receiver.release.wait(30))
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/wfaudit"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def configure(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., pathlib.Path]:
    """Write a ``wfaudit.toml`` with a webhooks table and point WFAUDIT_CONFIG at it."""

    def write(endpoints: list[str], allow: list[str], **options: Any) -> pathlib.Path:
        settings = {
            "endpoints": endpoints,
            "allow": allow,
            "backoff": 0.01,
            "backoff_max": 0.05,
            "timeout": 5.0,
            "dead_letters": str(tmp_path / "dead-letters.sqlite3"),
            **options,
        }
        lines = ["[webhooks]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        path = tmp_path / "wfaudit.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        monkeypatch.setenv("WFAUDIT_CONFIG", str(path))
        monkeypatch.setenv("WFAUDIT_WEBHOOK_SECRET", KEY)
        return path

    return write


@pytest.fixture
def make_auditor(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Auditor]]:
    """Auditors with the sql, maskers and webhooks entry points."""
    opened: list[Auditor] = []

    def make(**kwargs: Any) -> Auditor:
        monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers,webhooks")
        auditor = Auditor.from_url(store_url, **kwargs)
        opened.append(auditor)
        return auditor

    yield make
    for auditor in opened:
        auditor.close()
    close_all(wait=10)
