"""Webhooks of the engine's other operations (a retrigger, a retention sweep's
archive and deletion), a full queue that never costs the auditing thread any
I/O, and deliveries that go direct whatever the environment's proxy."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from wfaudit import Auditor, Sweeper
from wfaudit.testing.clock import Clock
from wfaudit_hookspecs import EventKind, TriggerRequest
from wfaudit_webhooks import DeadLetters, Dispatcher, WebhookConfig
from wfaudit_webhooks import dispatcher as dispatcher_module
from wfaudit_webhooks.delivery import Delivery
from wfaudit_webhooks.plugin import config_of

from .conftest import KEY, Receiver


def _flush(auditor: Auditor) -> WebhookConfig:
    config = config_of(auditor.settings.options)
    assert config is not None
    assert dispatcher_module.dispatcher_for(config).flush(timeout=30)
    return config


def test_retriggered_archived_and_deleted_through_the_engine(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
    wfaudit_clock: Clock,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default events, each from the operation that reports it: Auditor.retrigger
    with a launcher, and a retention sweep into a local-directory archive."""
    configure([receiver.url], ["127.0.0.1"])
    monkeypatch.setenv("WFAUDIT_ARCHIVE_URL", (tmp_path / "archive").as_uri())
    auditor = make_auditor(strict=True)
    first = auditor.audit_trigger(
        TriggerRequest(
            workflow_id="1001",
            workflow_type="CI",
            pipeline_id="pipe-9",
            config={"image": "registry.local/app:1.4.2", "steps": ["build"]},
            triggered_by="ana",
        )
    )
    assert first.ok and first.ref is not None
    auditor.record_outcome("1001", "CI", "failed", "exit 1")
    launched: list[TriggerRequest] = []
    retried = auditor.retrigger("1001", "CI", "1002", launched.append, by="bo")
    assert [request.workflow_id for request in launched] == ["1002"]
    auditor.record_outcome("1002", "CI", "succeeded")
    _flush(auditor)
    before_sweep = len(receiver.received)

    wfaudit_clock.advance(days=31)  # the succeeded retry is due (30 days), the failure is not
    sweeper = Sweeper.for_auditor(auditor)
    try:
        report = sweeper.apply()
    finally:
        sweeper.close()
    assert report.archived == 1 and report.deleted == 1
    config = _flush(auditor)

    events = [(r.headers["X-Wfaudit-Event"], r.json()) for r in receiver.received]
    assert [kind for kind, _ in events] == [
        EventKind.AUDITED,
        EventKind.OUTCOME,
        EventKind.AUDITED,  # the new run's snapshot...
        EventKind.RETRIGGERED,  # ...recorded as the retrigger of the failed one
        EventKind.OUTCOME,
        EventKind.ARCHIVED,
        EventKind.DELETED,
    ]
    assert before_sweep == 5
    retriggered, archived, deleted = events[3][1], events[5][1], events[6][1]
    assert retriggered["snapshot"]["id"] == retried.record.id
    assert retriggered["snapshot"]["workflow_id"] == "1002"
    assert retriggered["snapshot"]["attempt"] == 2
    assert retriggered["snapshot"]["parent"] == first.ref.id
    assert retriggered["data"] == {"parent": first.ref.id}
    for body in (archived, deleted):
        assert body["snapshot"]["id"] == retried.record.id
        assert body["snapshot"]["status"] == "succeeded"
    assert archived["data"]["archive_url"] == (tmp_path / "archive").as_uri()
    assert archived["data"]["object_key"]
    assert auditor.store.get_record_by_id(retried.record.id) is None  # really deleted
    for request in receiver.received:
        assert request.headers["X-Signature"].startswith("sha256=")
        assert b"registry.local" not in request.body and b"exit 1" not in request.body
    assert DeadLetters(config.dead_letters).list() == []


class RecordingDeadLetters(DeadLetters):
    """The real dead-letter file, noting the thread of every write."""

    def __init__(self, path: pathlib.Path) -> None:
        super().__init__(path)
        self.writes: list[tuple[str, threading.Thread]] = []

    def add(self, **fields: Any) -> None:
        self.writes.append((str(fields["delivery_id"]), threading.current_thread()))
        super().add(**fields)


def _delivery(number: int, endpoint: str) -> Delivery:
    return Delivery(
        id=f"delivery-{number}",
        endpoint=endpoint,
        kind=EventKind.AUDITED,
        subject=f"snapshot-{number}",
        body=b'{"event":"snapshot.audited"}',
    )


def test_a_full_queue_costs_the_auditing_thread_no_io(
    receiver: Receiver,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Deterministic: the worker is held inside the first delivery's request while
    the queue (one place) and the overflow (one place) fill up."""
    monkeypatch.setattr(dispatcher_module, "QUEUE_SIZE", 1)
    monkeypatch.setattr(dispatcher_module, "OVERFLOW_SIZE", 1)
    monkeypatch.setenv("WFAUDIT_WEBHOOK_SECRET", KEY)
    config = WebhookConfig.from_options(
        {
            "webhooks": {
                "endpoints": [receiver.url],
                "allow": ["127.0.0.1"],
                "dead_letters": str(tmp_path / "dead-letters.sqlite3"),
            }
        }
    )
    assert config is not None
    receiver.hold = True
    dispatcher = Dispatcher(config)
    letters = RecordingDeadLetters(config.dead_letters)
    dispatcher.dead_letters = letters
    try:
        dispatcher.submit(_delivery(1, receiver.url))
        assert receiver.arrived.wait(30)  # the worker is in the first request now
        dispatcher.submit(_delivery(2, receiver.url))  # queued: the queue is full
        dispatcher.submit(_delivery(3, receiver.url))  # overflow: the worker dead-letters it
        dispatcher.submit(_delivery(4, receiver.url))  # overflow full too: dropped, counted
        assert letters.writes == []  # nothing was written on this thread
        assert not config.dead_letters.exists()
        assert dispatcher.dropped == 1

        receiver.release.set()
        assert dispatcher.flush(timeout=30)
    finally:
        dispatcher.close(wait=10)
    assert [request.headers["X-Wfaudit-Delivery"] for request in receiver.received] == [
        "delivery-1",
        "delivery-2",
    ]
    assert [delivery_id for delivery_id, _ in letters.writes] == ["delivery-3"]
    [(_, writer)] = letters.writes
    assert writer is dispatcher._thread and writer is not threading.current_thread()
    [letter] = DeadLetters(config.dead_letters).list()
    assert letter.last_error == "the delivery queue was full"

    dispatcher.submit(_delivery(5, receiver.url))  # after close: dropped, not written
    assert dispatcher.dropped == 2 and len(letters.writes) == 1
    dropped = [r.getMessage() for r in caplog.records if "is dropped" in r.getMessage()]
    assert len(dropped) == 1, dropped  # the first of the run of drops
    assert "webhook delivery-4 (snapshot.audited) about snapshot snapshot-4" in dropped[0]
    assert "1 dropped so far" in dropped[0]


AUDIT = """
import sys
from wfaudit import Auditor
from wfaudit_webhooks import close_all
with Auditor.from_url(sys.argv[1], strict=True) as auditor:
    auditor.audit_trigger(
        workflow_id="1001", workflow_type="CI", pipeline_id="pipe-9", config={"image": "app:1"}
    )
close_all(wait=30)
"""


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.wfaudit_backends("sqlite")
def test_deliveries_ignore_the_environments_proxy(
    store_url: str,
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
    tmp_path: pathlib.Path,
) -> None:
    """An orchestrator started with HTTP_PROXY (a dead one here) still delivers,
    straight to the endpoint."""
    configure([receiver.url], ["127.0.0.1"], max_attempts=1, events=["snapshot.audited"])
    dead = f"http://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "WFAUDIT_LOAD_PLUGINS": "sql,maskers,webhooks"}
    for name in ("no_proxy", "NO_PROXY"):
        env.pop(name, None)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        env[name] = dead
    done = subprocess.run(
        [sys.executable, "-c", AUDIT, store_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [request] = receiver.received
    assert request.headers["X-Wfaudit-Event"] == EventKind.AUDITED
    assert json.loads(request.body)["snapshot"]["workflow_id"] == "1001"
    assert DeadLetters(tmp_path / "dead-letters.sqlite3").list() == []
    assert "failed for good" not in done.stderr


def test_auditors_share_a_dispatcher_until_the_last_one_closes(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
) -> None:
    """configure holds the dispatcher of the host's config (in its stash), and
    unconfigure gives it back: two auditors with one config share it (one
    worker, one dead-letter writer), and the last to close drains and closes it."""
    from wfaudit_webhooks.plugin import DISPATCHER

    configure([receiver.url], ["127.0.0.1"])
    first, second = make_auditor(strict=True), make_auditor(strict=True)
    held = first.host.stash[DISPATCHER]
    assert held is not None
    config, dispatcher = held
    assert second.host.stash[DISPATCHER] == held
    assert dispatcher_module.dispatcher_for(config) is dispatcher
    first.close()
    assert DISPATCHER not in first.host.stash
    assert dispatcher_module.dispatcher_for(config) is dispatcher  # still held by the second
    result = second.audit_trigger(
        TriggerRequest(workflow_id="7", workflow_type="CI", pipeline_id="p", config={"a": 1})
    )
    assert result.ok
    second.close()  # the last holder: waits for the delivery, then closes
    assert len(receiver.received) == 1
    assert receiver.received[0].json()["event"] == EventKind.AUDITED
    assert dispatcher_module.dispatcher_for(config) is not dispatcher  # a new one


def test_a_host_without_webhooks_holds_no_dispatcher(
    make_auditor: Callable[..., Auditor],
) -> None:
    from wfaudit_webhooks.plugin import DISPATCHER

    auditor = make_auditor(strict=True)
    assert auditor.host.stash[DISPATCHER] is None
    auditor.close()
    assert DISPATCHER not in auditor.host.stash
