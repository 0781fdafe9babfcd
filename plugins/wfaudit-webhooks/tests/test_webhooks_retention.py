"""A failed ``wfaudit retention run`` cycle is sent as a signed ``retention.failed``
event to a real HTTP receiver on loopback; a cycle that succeeds sends nothing."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable

from wfaudit import Auditor, Sweeper
from wfaudit.testing import invoke_cli
from wfaudit.testing.clock import Clock
from wfaudit_webhooks import verify
from wfaudit_webhooks.config import DEFAULT_EVENTS, RETENTION_FAILED

from .conftest import KEY, Receiver
from .test_webhooks_delivery import ci, flush


def test_a_failed_retention_cycle_is_a_signed_webhook(
    make_auditor: Callable[..., Auditor],
    configure: Callable[..., pathlib.Path],
    receiver: Receiver,
    wfaudit_clock: Clock,
    tmp_path: pathlib.Path,
    store_url: str,
) -> None:
    assert RETENTION_FAILED in DEFAULT_EVENTS
    settings = configure([receiver.url], ["127.0.0.1"], events=[RETENTION_FAILED])
    # The archive directory is a file: no snapshot can be archived, so none is deleted.
    blocked = tmp_path / "archive-is-a-file"
    blocked.write_text("not a directory")
    with settings.open("a", encoding="utf-8") as handle:
        handle.write(f'\n[retention]\narchive_url = "{blocked.as_uri()}"\nsucceeded = "1d"\n')
    auditor = make_auditor()
    assert auditor.audit_trigger(ci()).ok
    auditor.record_outcome("1001", "CI", "succeeded")
    wfaudit_clock.advance(days=2)

    sweeper = Sweeper.for_auditor(auditor)
    result = sweeper.run_cycle()
    assert not result.run.ok
    flush(auditor)
    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert request.headers["X-Wfaudit-Event"] == "retention.failed"
    assert verify(
        KEY.encode(),
        request.headers["X-Signature-Timestamp"],
        request.body,
        request.headers["X-Signature"],
    )
    body = request.json()
    assert body["event"] == "retention.failed"
    assert body["run"]["id"] == result.run.id and body["run"]["ok"] is False
    assert "could not be handled" in body["run"]["error"]
    assert body["run"]["counts"]["failed"] == 1 and body["run"]["counts"]["deleted"] == 0
    assert KEY not in request.body.decode()

    # The command line: one line saying so, exit status 1, and the webhook again.
    outcome = invoke_cli(["--store", store_url, "retention", "run", "--once"])
    assert outcome.exit_code == 1, outcome.output
    assert "failed: 1 snapshot(s) or archive object(s) could not be handled" in outcome.output
    flush(auditor)
    assert [json.loads(r.body)["event"] for r in receiver.received] == ["retention.failed"] * 2

    # Repaired, a cycle succeeds and sends nothing.
    blocked.unlink()
    assert sweeper.run_cycle().run.ok
    flush(auditor)
    assert len(receiver.received) == 2
