"""Sending one delivery: sign it, POST it, classify what happened.

Redirects are refused (a redirect could lead past the allowlist), proxies
from the environment are not used (deliveries go direct), and a response is
read only for its status. Errors are described by class and
status, never with the body or the URL's path.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import SnapshotRecord
from wfaudit_hookspecs.retention import RetentionRun

from .config import WebhookConfig
from .signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

__all__ = [
    "Delivery",
    "Result",
    "build_body",
    "build_run_body",
    "new_delivery",
    "new_run_delivery",
    "send",
]

USER_AGENT = "wfaudit-webhooks/0.1"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@attrs.define(kw_only=True)
class Delivery:
    """One event on its way to one endpoint."""

    id: str
    endpoint: str = attrs.field(repr=False)
    kind: str
    subject: str
    body: bytes = attrs.field(repr=False)
    attempts: int = 0


@attrs.frozen
class Result:
    """How an attempt went: ``error`` is None on success."""

    error: str | None = None
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def build_body(
    delivery_id: str, kind: str, snapshot: SnapshotRecord, data: Mapping[str, Any]
) -> bytes:
    """The JSON body: the event, the snapshot's identity and hashes, and the
    event's scalar data. Never the config, the manifest's fingerprints, the
    labels or the status reason, which the orchestrator wrote freely."""
    payload = {
        "id": delivery_id,
        "event": kind,
        "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "snapshot": {
            "id": snapshot.id,
            "workflow_id": snapshot.workflow_id,
            "workflow_type": snapshot.workflow_type,
            "pipeline_id": snapshot.pipeline_id,
            "tenant": snapshot.tenant,
            "content_hash": snapshot.content_hash,
            "status": str(snapshot.status),
            "attempt": snapshot.attempt,
            "parent": snapshot.parent,
            "trigger_kind": str(snapshot.trigger_kind),
            "triggered_by": snapshot.triggered_by,
            "created_on": snapshot.created_on.isoformat(),
            "masked_fields": len(snapshot.manifest.fields),
        },
        "data": {key: value for key, value in data.items() if _scalar(value)},
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def new_delivery(
    endpoint: str, kind: str, snapshot: SnapshotRecord, data: Mapping[str, Any]
) -> Delivery:
    delivery_id = uuid.uuid4().hex
    return Delivery(
        id=delivery_id,
        endpoint=endpoint,
        kind=kind,
        subject=snapshot.id,
        body=build_body(delivery_id, kind, snapshot, data),
    )


def build_run_body(delivery_id: str, kind: str, run: RetentionRun) -> bytes:
    """The JSON body of a retention cycle's event (``retention.failed``): the run's
    id, scope, times, outcome, error message and counts; no snapshot."""
    payload = {
        "id": delivery_id,
        "event": kind,
        "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "run": {
            "id": run.id,
            "tenant": run.tenant,
            "started_on": run.started_on.isoformat(),
            "finished_on": None if run.finished_on is None else run.finished_on.isoformat(),
            "ok": run.ok,
            "error": run.error,
            "counts": {key: int(value) for key, value in run.counts.items()},
        },
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def new_run_delivery(endpoint: str, kind: str, run: RetentionRun) -> Delivery:
    delivery_id = uuid.uuid4().hex
    return Delivery(
        id=delivery_id,
        endpoint=endpoint,
        kind=kind,
        subject=run.id,
        body=build_run_body(delivery_id, kind, run),
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx response is then raised as an HTTPError: not delivered


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)
"""Deliveries go straight to the endpoint: ``HTTP(S)_PROXY`` of the orchestrator's
environment is not used (the allowlist names the hosts a delivery reaches, and a
proxy would see the signed bodies)."""


def send(config: WebhookConfig, delivery: Delivery) -> Result:
    """One attempt: POST the signed body and classify the answer."""
    if not config.is_allowed(delivery.endpoint):
        return Result("the endpoint is no longer configured or allowed")
    secret = config.secret()
    if secret is None:
        return Result(f"the signing key variable {config.secret_env} is not set")
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in the config
        delivery.endpoint,
        data=delivery.body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(secret, timestamp, delivery.body),
            TIMESTAMP_HEADER: str(timestamp),
            "X-Wfaudit-Event": delivery.kind,
            "X-Wfaudit-Delivery": delivery.id,
            "X-Wfaudit-Attempt": str(delivery.attempts),
        },
    )
    try:
        with _OPENER.open(request, timeout=config.timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except TimeoutError:
        return Result(f"no answer within {config.timeout:g} s", retryable=True)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return Result(f"no answer within {config.timeout:g} s", retryable=True)
        detail = getattr(reason, "strerror", None) or type(reason).__name__
        return Result(f"cannot connect: {detail}", retryable=True)
    if 200 <= status < 300:
        return Result()
    return Result(f"HTTP {status}", retryable=status in RETRYABLE_STATUSES)
