"""Webhook deliveries against a real HTTP receiver on loopback: signatures checked
as a receiver would, retries, the dead-letter queue and its replay, and audits
that never wait for (or fail because of) a receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from wfaudit import Auditor
from wfaudit_hookspecs import EventKind, TriggerRequest
from wfaudit_webhooks import DeadLetters, dispatcher_for, verify
from wfaudit_webhooks.plugin import config_of

from .conftest import KEY, Receiver

SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


def ci(workflow_id: str = "1001", **changes: object) -> TriggerRequest:
    fields: dict[str, object] = {
        "workflow_id": workflow_id,
        "workflow_type": "CI",
        "pipeline_id": "pipe-9",
        "config": {"image": "registry.local/app:1.4.2", "env": {"GITHUB_TOKEN": SECRET}},
        "triggered_by": "ana",
    }
    fields.update(changes)
    return TriggerRequest(**fields)  # type: ignore[arg-type]


def flush(auditor: Auditor) -> None:
    config = config_of(auditor.settings.options)
    assert config is not None
    assert dispatcher_for(config).flush(timeout=30), "deliveries still outstanding"


def receiver_accepts(headers: dict[str, str], body: bytes, key: bytes) -> bool:
    """The check a receiver writes: HMAC-SHA256 over "{timestamp}.{body}", constant-time
    comparison, and a timestamp close to its own clock."""
    timestamp = headers["X-Signature-Timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    expected = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Signature"], f"sha256={expected}")


DOCS = pathlib.Path(__file__).resolve().parents[3] / "docs" / "observability.md"


def documented_receiver() -> Callable[[dict[str, str], bytes, bytes], bool]:
    """The receiver-side check as docs/observability.md shows it, run as written."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("```python\nimport hashlib, hmac, time")
    block = text[start + len("```python\n") : text.index("```", start + 10)]
    namespace: dict[str, Any] = {}
    exec(compile(block, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    check: Callable[[dict[str, str], bytes, bytes], bool] = namespace["is_from_wfaudit"]
    return check


def test_signed_notifications_verify_as_a_receiver_would(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    configure([receiver.url], ["127.0.0.1"])
    auditor = make_auditor()
    result = auditor.audit_trigger(ci())
    assert result.ok and result.ref is not None
    auditor.record_outcome("1001", "CI", "failed", "exit 1")
    flush(auditor)

    assert [r.headers["X-Wfaudit-Event"] for r in receiver.received] == [
        EventKind.AUDITED,
        EventKind.OUTCOME,
    ]
    documented = documented_receiver()
    for request in receiver.received:
        assert request.headers["Content-Type"] == "application/json"
        assert receiver_accepts(request.headers, request.body, KEY.encode())
        assert documented(request.headers, request.body, KEY.encode())
        assert not documented(request.headers, request.body + b"x", KEY.encode())
        assert verify(
            KEY.encode(),
            request.headers["X-Signature-Timestamp"],
            request.body,
            request.headers["X-Signature"],
        )
        # Another key, a changed body or an old timestamp are refused.
        assert not receiver_accepts(request.headers, request.body, b"another key")
        assert not receiver_accepts(request.headers, request.body + b" ", KEY.encode())
        stale = {**request.headers, "X-Signature-Timestamp": str(int(time.time()) - 3600)}
        assert not receiver_accepts(stale, request.body, KEY.encode())
        # Never a secret, a config value, the key or the status reason.
        for forbidden in (SECRET, "registry.local", KEY, "exit 1"):
            assert forbidden.encode() not in request.body
            assert forbidden not in json.dumps(request.headers)

    audited, outcome = (request.json() for request in receiver.received)
    assert audited["event"] == "snapshot.audited"
    assert audited["id"] == receiver.received[0].headers["X-Wfaudit-Delivery"]
    assert audited["snapshot"]["id"] == result.ref.id
    assert audited["snapshot"]["content_hash"] == result.ref.content_hash
    assert audited["snapshot"]["workflow_type"] == "CI"
    assert audited["snapshot"]["masked_fields"] == 1
    assert outcome["snapshot"]["status"] == "failed"
    assert outcome["data"] == {"status": "failed"}
    assert KEY not in caplog.text and SECRET not in caplog.text


def test_retries_with_backoff_until_delivered(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
) -> None:
    receiver.statuses = [503, 500, 200]
    configure([receiver.url], ["127.0.0.1"], events=["snapshot.audited"], max_attempts=5)
    auditor = make_auditor()
    assert auditor.audit_trigger(ci()).ok
    flush(auditor)

    ids = {request.headers["X-Wfaudit-Delivery"] for request in receiver.received}
    assert len(ids) == 1  # one delivery, attempted three times
    assert [request.headers["X-Wfaudit-Attempt"] for request in receiver.received] == [
        "1",
        "2",
        "3",
    ]
    assert all(receiver_accepts(r.headers, r.body, KEY.encode()) for r in receiver.received)
    config = config_of(auditor.settings.options)
    assert config is not None
    assert DeadLetters(config.dead_letters).list() == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WFAUDIT_LOAD_PLUGINS": "sql,maskers,webhooks"}
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_failing_deliveries_go_to_the_dead_letter_queue_and_replay(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
) -> None:
    receiver.statuses = [500, 500, 500, 400, 200]
    configure([receiver.url], ["127.0.0.1"], max_attempts=3)
    auditor = make_auditor()
    result = auditor.audit_trigger(ci())
    assert result.ok and result.ref is not None
    flush(auditor)  # three attempts, all 500: dead
    auditor.record_outcome("1001", "CI", "succeeded")
    flush(auditor)  # 400: not worth retrying, dead at once
    assert len(receiver.received) == 4

    listed = _cli("webhooks", "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    letters = json.loads(listed.stdout)
    assert [(row["event"], row["attempts"], row["last_error"]) for row in letters] == [
        ("snapshot.audited", 3, "HTTP 500"),
        ("outcome.recorded", 1, "HTTP 400"),
    ]
    assert {row["snapshot"] for row in letters} == {result.ref.id}
    assert letters[0]["endpoint"] == f"http://127.0.0.1:{receiver.server.server_port}/…"
    assert KEY not in listed.stdout and SECRET not in listed.stdout
    tsv = _cli("webhooks", "dlq", "list", "--format", "tsv").stdout.splitlines()
    assert tsv[0] == "id\tevent\tsnapshot\tendpoint\tattempts\tlast_error"
    assert [line.split("\t")[0] for line in tsv[1:]] == [row["id"] for row in letters]
    table = _cli("webhooks", "dlq", "list").stdout  # piped: plain, ids whole
    assert all(row["id"] in table and row["snapshot"] in table for row in letters)

    # The receiver is fixed for the first one (200), the second still fails (500 repeats).
    receiver.statuses = [500, 500, 500, 400, 200, 500]
    replayed = _cli("webhooks", "dlq", "replay", letters[0]["id"])
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1: 1 delivered, 0 failed" in replayed.stdout
    again = receiver.received[4]
    assert again.headers["X-Wfaudit-Delivery"] == letters[0]["id"]
    assert receiver_accepts(again.headers, again.body, KEY.encode())
    assert again.body == receiver.received[0].body  # the same notification

    failing = _cli("webhooks", "dlq", "replay", "--all")
    assert failing.returncode == 1
    assert "still failing: HTTP 500" in failing.stderr
    remaining = json.loads(_cli("webhooks", "dlq", "list", "--json").stdout)
    assert [(row["id"], row["attempts"]) for row in remaining] == [(letters[1]["id"], 2)]

    unknown = _cli("webhooks", "dlq", "replay", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "Error: no dead letter with id nope"


def test_a_hanging_receiver_never_slows_or_fails_an_audit(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
) -> None:
    receiver.hold = True  # every request waits until the test releases it
    configure([receiver.url], ["127.0.0.1"], timeout=60.0)
    auditor = make_auditor(strict=True)

    result = auditor.audit_trigger(ci())
    outcome = auditor.record_outcome("1001", "CI", "succeeded")
    # Both returned, and the receiver holds the first delivery right now.
    assert result.ok and result.created
    assert outcome.record.status == "succeeded"
    assert receiver.arrived.wait(30)
    assert not receiver.release.is_set()

    receiver.release.set()
    flush(auditor)
    assert receiver.released_in_time == [True, True]  # released by us, after the audit
    assert [r.headers["X-Wfaudit-Event"] for r in receiver.received] == [
        EventKind.AUDITED,
        EventKind.OUTCOME,
    ]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_receiver_never_fails_an_audit(
    make_auditor: Callable[..., Auditor], configure: Callable[..., pathlib.Path]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/hook"
    configure([url], ["127.0.0.1"], max_attempts=2, events=["snapshot.audited"])
    auditor = make_auditor(strict=True)
    result = auditor.audit_trigger(ci())
    assert result.ok and result.created
    flush(auditor)
    config = config_of(auditor.settings.options)
    assert config is not None
    [letter] = DeadLetters(config.dead_letters).list()
    assert letter.attempts == 2
    assert letter.last_error.startswith("cannot connect")


def test_destinations_off_the_allowlist_are_refused(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure([receiver.url], ["hooks.example.com", "127.0.0.1:1"])
    auditor = make_auditor(strict=True)
    assert auditor.audit_trigger(ci()).ok  # the audit does not care
    assert receiver.received == []
    assert "is not on the allowlist; add '127.0.0.1'" in caplog.text
    assert "/hooks/wfaudit" not in caplog.text  # the URL's path is not logged

    listed = _cli("webhooks", "dlq", "list")
    assert listed.returncode == 1
    assert listed.stderr.startswith("Error: webhook endpoint http://127.0.0.1:")
    assert len(listed.stderr.strip().splitlines()) == 1


def test_without_the_signing_key_nothing_is_sent_unsigned(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure([receiver.url], ["127.0.0.1"], events=["snapshot.audited"])
    monkeypatch.delenv("WFAUDIT_WEBHOOK_SECRET")
    auditor = make_auditor()
    assert auditor.audit_trigger(ci()).ok
    flush(auditor)
    assert receiver.received == []
    config = config_of(auditor.settings.options)
    assert config is not None
    [letter] = DeadLetters(config.dead_letters).list()
    assert letter.last_error == "the signing key variable WFAUDIT_WEBHOOK_SECRET is not set"

    monkeypatch.setenv("WFAUDIT_WEBHOOK_SECRET", KEY)  # fixed: the replay delivers it
    replayed = _cli("webhooks", "dlq", "replay", "--all")
    assert replayed.returncode == 0, replayed.stderr
    [request] = receiver.received
    assert receiver_accepts(request.headers, request.body, KEY.encode())
