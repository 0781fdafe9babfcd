"""The ingest API: orchestrators in any language send their triggers, outcomes and
CloudEvents over HTTP, behind a token with the ``write`` scope.

A ``2xx`` answer means durable: the snapshot is committed in the store (``201``
new, ``200`` already there with the same content) or, the store being down,
fsynced in the durable spool (``202``), from which the drain replays it. The
audit is the engine's non-blocking audit (:meth:`wfaudit.Auditor.audit_trigger`),
which gives exactly that. A retry of the same run with the same content gets the
same answer (``200`` once stored); the same run with other content is ``409`` and
the attempt is kept as evidence on the stored snapshot's trail.

Every refusal is JSON, ``{"error": "..."}``, and quotes nothing of the request:
the engine's errors never do, and the checks here name fields, never values.

Bounds, per worker process (:class:`Limits`): a request body over
``max_body_bytes`` is refused with ``413`` while it is read (nothing more is
read); the body must arrive within ``timeout`` seconds (``408``); at most
``concurrency`` audits run at once and ``queue`` more wait (for a slot, within
``timeout``); past that the answer is ``503`` with ``Retry-After``. So a worker
never holds more than ``(concurrency + queue) * max_body_bytes`` of bodies.
Write endpoints take the ``Authorization`` header only, never the sign-in
cookie: no other site can make a signed-in browser write.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import collections
import difflib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wfaudit import Auditor
from wfaudit_hookspecs import (
    AuditResult,
    ConfigurationError,
    InvalidRequest,
    RequestTooLarge,
    SecretsUnavailable,
    SnapshotConflict,
    SnapshotNotFound,
    StoreError,
    TriggerKind,
    TriggerRequest,
    WfauditError,
)

from . import data
from .access import READ, RETRIGGER, WRITE, Access

if TYPE_CHECKING:
    from .app import WebApp

__all__ = ["MAX_BATCH", "Limits", "routes"]

log = logging.getLogger("wfaudit.web.ingest")

MAX_BATCH = 1000
"""The most triggers one ``POST /api/v1/triggers/batch`` may carry."""

TEKTON_FORMAT = "tekton"
TEKTON_STARTED = {
    "dev.tekton.event.pipelinerun.started.v1": ("pipelineRun", "PipelineRun"),
    "dev.tekton.event.taskrun.started.v1": ("taskRun", "TaskRun"),
}
TEKTON_ENDED = {
    "dev.tekton.event.pipelinerun.successful.v1": ("pipelineRun", "PipelineRun", "succeeded"),
    "dev.tekton.event.pipelinerun.failed.v1": ("pipelineRun", "PipelineRun", "failed"),
    "dev.tekton.event.taskrun.successful.v1": ("taskRun", "TaskRun", "succeeded"),
    "dev.tekton.event.taskrun.failed.v1": ("taskRun", "TaskRun", "failed"),
}
TEKTON_API_VERSION = "tekton.dev/v1"
MAX_COUNTED_TYPES = 100
"""Distinct CloudEvent types counted by name; the rest count as ``(other)``."""

_REQUIRED = ("workflow_id", "workflow_type", "pipeline_id", "config")
_OPTIONAL = ("triggered_by", "format", "labels", "parent", "attempt", "trigger_kind", "tenant")
_OUTCOME_REQUIRED = ("workflow_id", "workflow_type", "status")
_OUTCOME_OPTIONAL = ("reason", "by", "tenant")
_RETRIGGER_REQUIRED = ("workflow_id", "workflow_type")
_RETRIGGER_OPTIONAL = ("dry_run", "accept_rotated", "new_workflow_id", "by", "tenant")
_REFUSED_RETRIGGERS = {"RetriesExhausted", "MissingPlugins"}
"""wfaudit.retrigger's refusals (a retry limit, plugins not installed): 422."""
_STRUCTURED = "application/cloudevents+json"
_BATCHED = "application/cloudevents-batch+json"


@attrs.frozen(kw_only=True)
class Limits:
    """The ingest API's bounds, per worker process.

    :ivar max_body_bytes: the largest request body (``413`` past it).
    :ivar timeout: seconds to receive a body, and to wait for an audit slot.
    :ivar concurrency: audits (or batches) run at once.
    :ivar queue: requests that may wait for a slot; more get ``503``.
    """

    max_body_bytes: int = 16 * 1024 * 1024
    timeout: float = 30.0
    concurrency: int = 8
    queue: int = 64

    @classmethod
    def from_settings(cls, options: Mapping[str, Any]) -> Limits:
        """From ``[tool.wfaudit.web]``: ``max_body_bytes``, ``request_timeout``,
        ``concurrency``, ``queue``.

        :raises ConfigurationError: a value that is not a positive number.
        """
        table = options.get("web", {})
        if not isinstance(table, Mapping):
            raise ConfigurationError("[tool.wfaudit.web] must be a table")
        default = cls()
        values: dict[str, Any] = {}
        for key, field, kind, least in (
            ("max_body_bytes", "max_body_bytes", int, 1),
            ("request_timeout", "timeout", float, 0.001),
            ("concurrency", "concurrency", int, 1),
            ("queue", "queue", int, 0),
        ):
            value = table.get(key, getattr(default, field))
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"web.{key} must be a number")
            if kind is int and not isinstance(value, int):
                raise ConfigurationError(f"web.{key} must be an integer")
            if value < least:
                raise ConfigurationError(f"web.{key} must be at least {least:g}")
            values[field] = kind(value)
        return cls(**values)


class Problem(Exception):
    """A refusal: a status and a message that quotes nothing of the request."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


Answer = tuple[int, Any]


# -- errors to statuses ----------------------------------------------------------


def _error_classes() -> dict[str, type[BaseException]]:
    """Every WfauditError subclass loaded, by name (an AuditResult names its error)."""
    found: dict[str, type[BaseException]] = {}
    pending: list[type[BaseException]] = [WfauditError]
    while pending:
        kind = pending.pop()
        found.setdefault(kind.__name__, kind)
        pending.extend(kind.__subclasses__())
    return found


def status_of(error: type[BaseException] | None) -> int:
    """The HTTP status of an error class."""
    if error is None:
        return 500
    if issubclass(error, SnapshotConflict):
        return 409
    if issubclass(error, SnapshotNotFound):
        return 404
    if issubclass(error, RequestTooLarge):
        return 413
    if issubclass(error, InvalidRequest | SecretsUnavailable):
        return 422
    if {kind.__name__ for kind in error.__mro__} & _REFUSED_RETRIGGERS:
        return 422
    if issubclass(error, StoreError | OSError | TimeoutError):
        return 503  # the store (or the spool's disk) cannot take it now: retry
    return 500  # a server-side fault (configuration, a plugin): not the client's


def _status_of_name(name: str | None) -> int:
    if name is None:
        return 500
    kind = _error_classes().get(name)
    if kind is None:
        candidate = getattr(builtins, name, None)
        kind = candidate if isinstance(candidate, type) else None
    return status_of(kind if kind is not None and issubclass(kind, BaseException) else None)


def _error_answer(error: WfauditError) -> Answer:
    return status_of(type(error)), {"error": str(error), "error_type": type(error).__name__}


# -- the request body --------------------------------------------------------------


async def read_body(request: Request, maximum: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be over ``maximum``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise Problem(400, "the Content-Length header is not a number") from None
        if length > maximum:
            raise Problem(413, f"the body is over the limit of {maximum} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > maximum:
            raise Problem(413, f"the body is over the limit of {maximum} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes, what: str = "the body") -> Any:
    """JSON data, or 400 (where it broke, never what it holds)."""
    if not body.strip():
        raise Problem(400, f"{what} is empty: send JSON")
    try:
        return json.loads(body, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise Problem(
            400, f"{what} is not JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except (ValueError, RecursionError) as error:  # bad UTF-8, NaN, nested too deep
        raise Problem(400, f"{what} is not JSON ({type(error).__name__})") from None


# -- triggers -----------------------------------------------------------------------


def _text(item: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = item.get(name)
    if value is None:
        if required:
            raise Problem(422, f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Problem(422, f"{name} must be a string (or an integer id)")
    return str(value)


def _fields(item: Any, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise Problem(422, "the body must be a JSON object")
    known = (*required, *optional)
    unknown = [name for name in item if name not in known]
    if unknown:
        # A key is the client's data (a secret may be one): never echoed, only the
        # fields it may have meant are named.
        meant = sorted(
            {
                match
                for name in unknown
                if isinstance(name, str)
                for match in difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            }
        )
        hint = f"; did you mean {', '.join(meant)}?" if meant else ""
        raise Problem(
            422, f"{len(unknown)} unknown field(s){hint} (the fields are {', '.join(known)})"
        )
    return item


def _tenant(access: Access, item: Mapping[str, Any]) -> str | None:
    """The tenant a write goes to: the token's; a token bound to none may name one."""
    asked = _text(item, "tenant", required=False)
    if access.tenant is None:
        return asked
    if asked is not None and asked != access.tenant:
        raise Problem(403, f"this token writes into tenant {access.tenant!r} only")
    return access.tenant


def trigger_request(item: Any, access: Access) -> TriggerRequest:
    """A :class:`TriggerRequest` from a JSON object, or a 4xx Problem."""
    fields = _fields(item, _REQUIRED, _OPTIONAL)
    if "config" not in fields:
        raise Problem(422, "config is required")
    tenant = _tenant(access, fields)
    kwargs: dict[str, Any] = {
        "workflow_id": _text(fields, "workflow_id", required=True),
        "workflow_type": _text(fields, "workflow_type", required=True),
        "pipeline_id": _text(fields, "pipeline_id", required=True),
        "config": fields["config"],
        "triggered_by": _text(fields, "triggered_by", required=False),
        "parent": _text(fields, "parent", required=False),
        "format": _text(fields, "format", required=False),
        "tenant": tenant,
    }
    labels = fields.get("labels")
    if labels is not None:
        if not isinstance(labels, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in labels.items()
        ):
            raise Problem(422, "labels must be an object of strings")
        kwargs["labels"] = labels
    attempt = fields.get("attempt")
    if attempt is not None:
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise Problem(422, "attempt must be an integer of at least 1")
        kwargs["attempt"] = attempt
    kind = fields.get("trigger_kind")
    if kind is not None:
        known = [k.value for k in TriggerKind]
        if kind not in known:
            raise Problem(422, f"trigger_kind must be one of {', '.join(known)}")
        kwargs["trigger_kind"] = kind
    try:
        return TriggerRequest(**kwargs)
    except WfauditError as error:  # the engine's messages never quote request data
        raise Problem(422, str(error)) from None
    except (TypeError, ValueError) as error:
        raise Problem(422, f"the request is not valid ({type(error).__name__})") from None


def audit_answer(result: AuditResult) -> Answer:
    """The status and body of an audit's result."""
    if not result.ok:
        return _status_of_name(result.error_type), {
            "error": result.error,
            "error_type": result.error_type,
        }
    ref = result.ref
    status = 202 if result.spooled else 201 if result.created else 200
    return status, {
        "ref": attrs.asdict(ref) if ref is not None else None,
        "snapshot_id": result.snapshot_id,
        "created": result.created,
        "spooled": result.spooled,
        "masked": result.masked,
        "disabled": result.disabled,  # auditing switched off: nothing stored (ref null)
    }


def _audit(web: WebApp, request: TriggerRequest) -> Answer:
    try:
        auditor = web.auditor(request.tenant)
    except WfauditError as error:
        return _error_answer(error)
    return audit_answer(auditor.audit_trigger(request))


def post_trigger(web: WebApp, access: Access, body: bytes, request: Request) -> Answer:
    return _audit(web, trigger_request(parse_json(body), access))


def post_batch(web: WebApp, access: Access, body: bytes, request: Request) -> Answer:
    items = parse_json(body)
    if not isinstance(items, list):
        raise Problem(422, "the body must be a JSON array of triggers")
    if len(items) > MAX_BATCH:
        raise Problem(413, f"a batch holds at most {MAX_BATCH} triggers, not {len(items)}")
    results = []
    for item in items:
        try:
            status, answer = _audit(web, trigger_request(item, access))
        except Problem as problem:
            status, answer = problem.status, {"error": problem.message}
        except Exception as error:  # one bad item never fails the others
            log.error("a batch item failed: %s", type(error).__name__)
            status, answer = 500, {"error": f"internal error ({type(error).__name__})"}
        results.append({"status": status, **answer})
    return 200, {"results": results}


# -- outcomes ------------------------------------------------------------------------


def _outcome_json(outcome: Any) -> dict[str, Any]:
    retry = outcome.retry
    return {
        "record": data.record_json(outcome.record),
        "retry": None if retry is None else attrs.asdict(retry),
    }


def post_outcome(web: WebApp, access: Access, body: bytes, request: Request) -> Answer:
    fields = _fields(parse_json(body), _OUTCOME_REQUIRED, _OUTCOME_OPTIONAL)
    tenant = _tenant(access, fields)
    reason = fields.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise Problem(422, "reason must be a string")
    try:
        auditor = web.auditor(tenant)
        outcome = auditor.record_outcome(
            _text(fields, "workflow_id", required=True) or "",
            _text(fields, "workflow_type", required=True) or "",
            _text(fields, "status", required=True) or "",
            reason,
            by=_text(fields, "by", required=False) or access.name,
        )
    except WfauditError as error:
        return _error_answer(error)
    return 200, _outcome_json(outcome)


# -- retriggers -----------------------------------------------------------------------------


def post_retrigger(web: WebApp, access: Access, body: bytes, request: Request) -> Answer:
    """Plan a retrigger (``dry_run``), or record it and hand back the restored request.

    Without ``dry_run`` the new run is recorded (``parent``, ``attempt`` + 1, kind
    ``retry``) exactly as ``wfaudit retrigger --output`` does, and the answer's
    ``request`` is the document that command writes: it holds the restored
    secrets, for the orchestrator to launch (Devtron's
    ``GetWorkflowRequestFromSnapshotForRetrigger``).
    """
    from wfaudit import NotRetriggerable, request_document

    fields = _fields(parse_json(body), _RETRIGGER_REQUIRED, _RETRIGGER_OPTIONAL)
    tenant = _tenant(access, fields)
    workflow_id = _text(fields, "workflow_id", required=True) or ""
    workflow_type = _text(fields, "workflow_type", required=True) or ""
    new_workflow_id = _text(fields, "new_workflow_id", required=False)
    dry_run = fields.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise Problem(422, "dry_run must be true or false")
    rotated = fields.get("accept_rotated", [])
    if not isinstance(rotated, list) or not all(isinstance(key, str) for key in rotated):
        raise Problem(422, "accept_rotated must be a list of secret paths")
    by = _text(fields, "by", required=False) or access.name
    try:
        auditor = web.auditor(tenant)
        if dry_run:
            plan = auditor.plan_retrigger(
                workflow_id, workflow_type, new_workflow_id, accept_rotated=rotated, refuse=False
            )
            refused = [check.key for check in plan.secret_checks if not check.usable]
            return 200, {"dry_run": True, **plan.to_json(), "refused": refused}
        try:
            result = auditor.retrigger(
                workflow_id,
                workflow_type,
                new_workflow_id,
                lambda restored: None,  # the orchestrator launches it from the answer
                by=by,
                accept_rotated=rotated,
            )
        except NotRetriggerable:
            child = _recorded_retry(auditor, workflow_id, workflow_type, new_workflow_id)
            if child is None:
                raise
            # A retry of this request (its answer lost): the same run, restored again.
            restored = auditor.retrigger_request(
                child.workflow_id, child.workflow_type, accept_rotated=rotated
            )
            return 200, {
                "dry_run": False,
                "workflow_id": child.workflow_id,
                "attempt": child.attempt,
                "snapshot_id": child.id,
                "request": request_document(restored, workflow_id),
            }
    except WfauditError as error:
        return _error_answer(error)
    return 201, {
        "dry_run": False,
        **result.plan.to_json(),
        "snapshot_id": result.record.id,
        "request": request_document(result.request, workflow_id),
    }


def _recorded_retry(
    auditor: Auditor, workflow_id: str, workflow_type: str, new_workflow_id: str | None
) -> Any:
    """The retry already recorded of the failed run (the store keeps one per
    parent), when it is the one asked for (``new_workflow_id``, if given)."""
    try:
        failed = auditor.get_snapshot(workflow_id, workflow_type)
    except SnapshotNotFound:
        return None
    for record in auditor.history(pipeline_id=failed.pipeline_id, limit=500):
        if record.parent == failed.id and new_workflow_id in (None, record.workflow_id):
            return record
    return None


# -- CloudEvents ------------------------------------------------------------------------


@attrs.frozen
class CloudEvent:
    type: str
    id: str
    source: str
    data: Any


_ATTRIBUTES = ("specversion", "id", "source", "type")


def _check_attributes(found: Mapping[str, Any], where: str) -> None:
    for name in _ATTRIBUTES:
        value = found.get(name)
        if not isinstance(value, str) or not value:
            raise Problem(400, f"not a CloudEvent: the {name} attribute ({where}) is missing")
    if found["specversion"] != "1.0":
        raise Problem(400, "unsupported CloudEvents specversion: this server reads 1.0")


def _json_type(content_type: str) -> bool:
    return content_type in ("", "application/json", "text/json") or content_type.endswith("+json")


def parse_cloudevent(request: Request, body: bytes) -> CloudEvent:
    """A CloudEvent 1.0 in structured or binary HTTP mode, or 400."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == _BATCHED:
        raise Problem(400, "batched CloudEvents are not read here: send one event per request")
    if content_type == _STRUCTURED:
        event = parse_json(body, "the CloudEvent")
        if not isinstance(event, dict):
            raise Problem(400, "not a CloudEvent: a structured event is a JSON object")
        _check_attributes(event, "in the body")
        if "data_base64" in event:
            raw = event["data_base64"]
            try:
                decoded = base64.b64decode(raw, validate=True) if isinstance(raw, str) else None
            except (binascii.Error, ValueError):
                decoded = None
            if decoded is None:
                raise Problem(400, "the CloudEvent's data_base64 is not base64")
            kind = str(event.get("datacontenttype") or "application/json").lower()
            payload: Any = (
                parse_json(decoded, "the CloudEvent's data") if _json_type(kind) else decoded
            )
        else:
            payload = event.get("data")
        return CloudEvent(event["type"], event["id"], event["source"], payload)
    headers = {name: request.headers.get(f"ce-{name}") for name in _ATTRIBUTES}
    if all(value is None for value in headers.values()):
        raise Problem(
            400,
            "not a CloudEvent: send Content-Type application/cloudevents+json "
            "(structured mode) or ce-* headers (binary mode)",
        )
    _check_attributes(headers, "a ce- header")
    payload = (
        parse_json(body, "the CloudEvent's data")
        if body.strip() and _json_type(content_type)
        else (body or None)
    )
    return CloudEvent(str(headers["type"]), str(headers["id"]), str(headers["source"]), payload)


def _run_object(event: CloudEvent, key: str, kind: str) -> dict[str, Any]:
    """The Tekton run the event carries (a copy, named as the adapter reads it)."""
    holder = event.data
    run = holder.get(key) if isinstance(holder, dict) else None
    if not isinstance(run, dict):
        raise Problem(422, f"the {event.type} event's data holds no {key} object")
    run = dict(run)
    # The objects Tekton sends are typed by the event; the adapter reads the manifest's.
    run.setdefault("apiVersion", TEKTON_API_VERSION)
    run.setdefault("kind", kind)
    return run


def _tekton_request(
    event: CloudEvent, run: dict[str, Any], access: Access, workflow_type: str
) -> TriggerRequest:
    try:
        return TriggerRequest(
            workflow_id="-",
            workflow_type=workflow_type,
            pipeline_id="-",
            config=run,
            format=TEKTON_FORMAT,
            tenant=access.tenant,
        )
    except WfauditError as error:
        raise Problem(422, str(error)) from None


def _reason(run: Mapping[str, Any]) -> str | None:
    """The run's ``Succeeded`` condition: its reason and message."""
    status = run.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("type") == "Succeeded":
            parts = [condition.get("reason"), condition.get("message")]
            text = ": ".join(part for part in parts if isinstance(part, str) and part)
            return text or None
    return None


@attrs.define
class EventCounts:
    """The CloudEvents this worker took, by type: handled and ignored."""

    handled: collections.Counter[str] = attrs.field(factory=collections.Counter)
    ignored: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def count(self, counter: collections.Counter[str], kind: str) -> None:
        if kind not in counter and len(counter) >= MAX_COUNTED_TYPES:
            kind = "(other)"
        counter[kind] += 1


def post_cloudevent(
    web: WebApp, access: Access, body: bytes, request: Request, counts: EventCounts
) -> Answer:
    event = parse_cloudevent(request, body)
    workflow_type = request.query_params.get("workflow_type", "CI")
    if event.type in TEKTON_STARTED:
        key, kind = TEKTON_STARTED[event.type]
        run = _run_object(event, key, kind)
        answer = _audit(web, _tekton_request(event, run, access, workflow_type))
    elif event.type in TEKTON_ENDED:
        key, kind, status = TEKTON_ENDED[event.type]
        run = _run_object(event, key, kind)
        answer = _ended(web, _tekton_request(event, run, access, workflow_type), status, run)
    else:
        counts.count(counts.ignored, event.type)
        return 204, None
    if 200 <= answer[0] < 300:
        counts.count(counts.handled, event.type)
    return answer


def _ended(web: WebApp, request: TriggerRequest, status: str, run: Mapping[str, Any]) -> Answer:
    """Record a run's end; a run whose start was not audited is audited first."""
    try:
        auditor: Auditor = web.auditor(request.tenant)
        found = auditor.identify(request)
        try:
            outcome = auditor.record_outcome(
                found.workflow_id, found.workflow_type, status, _reason(run), by="tekton"
            )
        except SnapshotNotFound:
            audited = audit_answer(auditor.audit_trigger(request))
            if audited[0] == 202:
                return audited  # spooled: the outcome cannot be recorded before it lands
            if audited[0] >= 300:
                return audited
            outcome = auditor.record_outcome(
                found.workflow_id, found.workflow_type, status, _reason(run), by="tekton"
            )
    except WfauditError as error:
        return _error_answer(error)
    return 200, _outcome_json(outcome)


def get_cloudevents(counts: EventCounts) -> Answer:
    return 200, {"handled": dict(counts.handled), "ignored": dict(counts.ignored)}


# -- the endpoints ------------------------------------------------------------------------


Work = Callable[["WebApp", Access, bytes, Request], Answer]


class Ingest:
    """The write endpoints' shared state in one worker: limits, slots, counts."""

    def __init__(self, web: WebApp, limits: Limits) -> None:
        self.web = web
        self.limits = limits
        self.counts = EventCounts()
        self._slots: anyio.CapacityLimiter | None = None
        self._admitted = 0

    def slots(self) -> anyio.CapacityLimiter:
        if self._slots is None:  # made in the event loop that uses it
            self._slots = anyio.CapacityLimiter(self.limits.concurrency)
        return self._slots

    def endpoint(self, work: Work, scope: str = WRITE) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            from .app import Refused

            try:
                access = self.web.access(request, scope, cookie=False)
                status, answer = await self._run(work, access, request)
            except Refused as refused:
                headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
                return JSONResponse({"error": refused.message}, refused.status, headers=headers)
            except Problem as problem:
                return JSONResponse({"error": problem.message}, problem.status, problem.headers)
            except Exception as error:
                # Named by type only: an unexpected error's message may quote the request.
                log.error("an ingest request failed: %s", type(error).__name__)
                return JSONResponse({"error": f"internal error ({type(error).__name__})"}, 500)
            if status == 204:
                return Response(status_code=204)
            if scope == RETRIGGER:  # the answer holds restored secrets: never cached
                return JSONResponse(answer, status, headers={"Cache-Control": "no-store"})
            if status >= 500:
                log.warning("an ingest request failed (%d): %s", status, answer.get("error_type"))
            return JSONResponse(answer, status)

        return handle

    async def _run(self, work: Work, access: Access, request: Request) -> Answer:
        limits = self.limits
        if self._admitted >= limits.concurrency + limits.queue:
            raise Problem(503, "the server is busy: retry later", {"Retry-After": "1"})
        self._admitted += 1
        slots = self.slots()
        acquired = False
        body: bytes | None = None
        try:
            with anyio.move_on_after(limits.timeout):
                body = await read_body(request, limits.max_body_bytes)
                await slots.acquire()
                acquired = True
            if body is None:
                raise Problem(408, f"the body did not arrive within {limits.timeout:g} s")
            if not acquired:
                raise Problem(
                    503,
                    f"the server is busy: no audit slot was free within {limits.timeout:g} s",
                    {"Retry-After": "1"},
                )
            # Not cancellable once started: the answer says what was done.
            return await anyio.to_thread.run_sync(work, self.web, access, body, request)
        finally:
            if acquired:
                slots.release()
            self._admitted -= 1


def routes(web: WebApp, limits: Limits) -> list[Route]:
    """The ingest API's routes, to mount in the app."""
    ingest = Ingest(web, limits)

    def cloudevent(web: WebApp, access: Access, body: bytes, request: Request) -> Answer:
        return post_cloudevent(web, access, body, request, ingest.counts)

    async def cloudevents(request: Request) -> Response:
        if request.method == "POST":
            return await post_events(request)
        from .app import Refused

        try:
            web.access(request, READ)
        except Refused as refused:
            return JSONResponse({"error": refused.message}, refused.status)
        status, answer = get_cloudevents(ingest.counts)
        return JSONResponse(answer, status)

    post_events = ingest.endpoint(cloudevent)
    if limits.concurrency < 1 or limits.queue < 0 or limits.max_body_bytes < 1:
        raise ConfigurationError("the ingest limits must be positive")
    return [
        Route("/api/v1/triggers", ingest.endpoint(post_trigger), methods=["POST"]),
        Route("/api/v1/triggers/batch", ingest.endpoint(post_batch), methods=["POST"]),
        Route("/api/v1/outcomes", ingest.endpoint(post_outcome), methods=["POST"]),
        Route(
            "/api/v1/retriggers",
            ingest.endpoint(post_retrigger, RETRIGGER),
            methods=["POST"],
        ),
        Route("/api/v1/cloudevents", cloudevents, methods=["GET", "POST"]),
    ]
