"""The OpenAPI 3.1 description of the JSON API, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi"]


def _param(name: str, where: str, description: str, *, required: bool = False) -> dict[str, Any]:
    kind = "integer" if name == "limit" else "string"
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": {"type": kind},
    }


_LIMIT = _param("limit", "query", "At most this many (1..500, default 50).")
_ERRORS = {
    "401": {"description": "No valid bearer token (or none is configured)."},
    "404": {"description": "Not found, or another tenant's."},
}


def _get(summary: str, *params: dict[str, Any], public: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": list(params),
        "responses": {"200": {"description": "OK (JSON)"}, **({} if public else _ERRORS)},
    }
    if public:
        operation["security"] = []
    return {"get": operation}


def _metrics() -> dict[str, Any]:
    path = _get(
        "Prometheus metrics (when wfaudit-prometheus is installed), of the whole process: "
        "a token bound to a tenant is refused."
    )
    path["get"]["responses"]["200"] = {"description": "OK (Prometheus text format)"}
    path["get"]["responses"]["403"] = {"description": "The token is bound to a tenant."}
    return path


_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What is wrong; never quotes the request."},
        "error_type": {"type": "string", "description": "The engine's error class, if any."},
    },
}
_AUDIT = {
    "type": "object",
    "required": ["ref", "snapshot_id", "created", "spooled", "masked"],
    "properties": {
        "ref": {
            "type": ["object", "null"],
            "properties": {
                name: {"type": ["string", "null"]}
                for name in ("id", "workflow_id", "workflow_type", "content_hash", "tenant")
            },
        },
        "snapshot_id": {"type": ["string", "null"]},
        "created": {"type": "boolean"},
        "spooled": {"type": "boolean"},
        "masked": {"type": "integer", "description": "How many values were masked."},
    },
}
_ID = {"type": ["string", "integer"]}
_TRIGGER = {
    "type": "object",
    "required": ["workflow_id", "workflow_type", "pipeline_id", "config"],
    "additionalProperties": False,
    "properties": {
        "workflow_id": {**_ID, "description": "The run's id; '-' reads it from the payload."},
        "workflow_type": {"type": "string", "description": "CI, PRE_CD, POST_CD, ..."},
        "pipeline_id": {**_ID, "description": "The pipeline's id; '-' reads it from the payload."},
        "config": {"description": "The whole request, secrets included (masked before storing)."},
        "triggered_by": {"type": "string"},
        "format": {"type": "string", "description": "Force an adapter (tekton, argo, ...)."},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "parent": {"type": "string", "description": "The snapshot id of the run retried."},
        "attempt": {"type": "integer", "minimum": 1},
        "trigger_kind": {"enum": ["manual", "webhook", "schedule", "retry"]},
        "tenant": {
            "type": "string",
            "description": "Only for a token bound to no tenant (a bound token writes into "
            "its own; another tenant is 403).",
        },
    },
}
_OUTCOME = {
    "type": "object",
    "required": ["workflow_id", "workflow_type", "status"],
    "additionalProperties": False,
    "properties": {
        "workflow_id": _ID,
        "workflow_type": {"type": "string"},
        "status": {"enum": ["running", "succeeded", "failed", "error", "cancelled"]},
        "reason": {"type": "string", "description": "Masked like a config before it is stored."},
        "by": {"type": "string", "description": "Who reports it (default: the token's name)."},
        "tenant": {"type": "string"},
    },
}
_OUTCOME_ANSWER = {
    "type": "object",
    "properties": {
        "record": {"type": "object", "description": "The snapshot record, with its new status."},
        "retry": {
            "type": ["object", "null"],
            "description": "The retry policies' decision, for a failed or errored run.",
        },
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _refusals(*statuses: str) -> dict[str, Any]:
    texts = {
        "400": "The body is not JSON (or not a CloudEvent).",
        "401": "No valid bearer token in the Authorization header (the cookie does not count).",
        "403": "The token lacks the write scope, or names another tenant than its own.",
        "404": "No snapshot of that run (in the token's tenant).",
        "408": "The body did not arrive within the request timeout.",
        "409": "The same run with other content: refused, and kept as evidence on the "
        "stored snapshot's trail.",
        "413": "The body is over the size limit (16 MiB by default), a batch over 1,000 "
        "items, or a config over max_request_bytes.",
        "422": "JSON, but not a valid request (a missing field, an unknown workflow type).",
        "500": "A server-side fault (configuration, a plugin).",
        "503": "The store is down and the spool could not take it, or the worker is busy "
        "(Retry-After).",
    }
    return {status: _json(_ERROR, texts[status]) for status in statuses}


def _post(
    summary: str, body: dict[str, Any], answers: dict[str, Any], *statuses: str
) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {**answers, **_refusals(*statuses)},
    }


def _ingest() -> dict[str, Any]:
    audited = {
        "201": _json(_AUDIT, "Stored: a new snapshot, committed."),
        "200": _json(_AUDIT, "Already stored, with the same content (a retry is safe)."),
        "202": _json(_AUDIT, "The store is down: fsynced in the durable spool, drained later."),
    }
    common = ("400", "401", "403", "408", "413", "422", "500", "503")
    batch_answer = {
        "type": "object",
        "properties": {
            "results": {
                "type": "array",
                "description": "One per item, in order: the item's status and its answer "
                "(or error); one bad item never fails the others.",
                "items": {
                    "allOf": [
                        {"type": "object", "properties": {"status": {"type": "integer"}}},
                        {"anyOf": [_AUDIT, _ERROR]},
                    ]
                },
            }
        },
    }
    cloudevent = _post(
        "A CloudEvent 1.0, structured (application/cloudevents+json) or binary (ce-* "
        "headers). Tekton's pipelinerun/taskrun started.v1 events are audited with the "
        "Tekton adapter (data holds pipelineRun / taskRun); successful.v1 and failed.v1 "
        "record the outcome (a run not audited yet is audited first); other types are "
        "counted and answered 204.",
        {"type": "object", "description": "The event (structured) or its data (binary)."},
        {
            **audited,
            "200": _json(
                {"anyOf": [_AUDIT, _OUTCOME_ANSWER]},
                "Already stored (a started event), or the outcome recorded (an ended one).",
            ),
            "204": {"description": "An event type this server does not handle (counted)."},
        },
        *common,
        "409",
    )
    cloudevent["parameters"] = [
        _param("workflow_type", "query", "The workflow type of Tekton runs (default CI).")
    ]
    counts = _get("CloudEvents this worker handled and ignored, by type (read scope).")
    return {
        "/api/v1/triggers": {
            "post": _post(
                "Audit one trigger (write scope). A 2xx means durable: committed (201, 200) "
                "or fsynced in the spool (202).",
                _TRIGGER,
                audited,
                *common,
                "409",
            )
        },
        "/api/v1/triggers/batch": {
            "post": _post(
                "Audit up to 1,000 triggers (write scope): one result per item, in order.",
                {"type": "array", "maxItems": 1000, "items": _TRIGGER},
                {"200": _json(batch_answer, "Each item's result.")},
                *common,
            )
        },
        "/api/v1/outcomes": {
            "post": _post(
                "Record how a run ended (write scope); a failure gets the retry decision.",
                _OUTCOME,
                {"200": _json(_OUTCOME_ANSWER, "The recorded outcome.")},
                *common,
                "404",
            )
        },
        "/api/v1/cloudevents": {"post": cloudevent, **counts},
        "/api/v1/retriggers": {"post": _retrigger(common)},
    }


def _retrigger(common: tuple[str, ...]) -> dict[str, Any]:
    body = {
        "type": "object",
        "required": ["workflow_id", "workflow_type"],
        "additionalProperties": False,
        "properties": {
            "workflow_id": {**_ID, "description": "The failed run."},
            "workflow_type": {"type": "string"},
            "dry_run": {"type": "boolean", "description": "Only the plan: nothing recorded."},
            "accept_rotated": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Secret paths that may differ from the snapshot's (rotated).",
            },
            "new_workflow_id": {**_ID, "description": "The new run's id (default <id>-retryN)."},
            "by": {"type": "string"},
            "tenant": {"type": "string"},
        },
    }
    plan = {"type": "object", "description": "The plan: parent, attempt, secret checks..."}
    operation = _post(
        "Retrigger a failed run (retrigger scope, never implied by another). With dry_run: "
        "the plan. Without: the retry is recorded and the restored request (secrets restored "
        "on the server, checked against their fingerprints) is answered for the "
        "orchestrator to launch; asking again answers the same run (200).",
        body,
        {
            "200": _json(plan, "The plan (dry_run), or the retry recorded before (a retry)."),
            "201": _json(plan, "The retry recorded; request holds the restored request."),
        },
        *common,
        "404",
    )
    operation["responses"]["403"] = _json(_ERROR, "The token lacks the retrigger scope.")
    operation["responses"]["422"] = _json(
        _ERROR, "Not retriggerable: secrets not restorable, retries exhausted, plugins missing."
    )
    return operation


def openapi(version: str) -> dict[str, Any]:
    """The description; every data endpoint needs the bearer token."""
    snapshot_id = _param(
        "snapshot_id",
        "path",
        "A snapshot id, or a reference as the CLI takes it (a unique id prefix, "
        "WORKFLOW_ID:TYPE, a tag), percent-encoded.",
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wfaudit API",
            "version": version,
            "description": "Snapshots of workflow triggers, with masked configs only: read "
            "them (tokens with the read scope) and send triggers, outcomes and CloudEvents "
            "(tokens with the write scope). See docs/web.md and docs/ingest.md.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/snapshots": _get(
                "Snapshot records, newest first.",
                _param("pipeline_id", "query", "Only this pipeline."),
                _param("workflow_id", "query", "Only this workflow run."),
                _param("workflow_type", "query", "Only this type (CI, PRE_CD, POST_CD...)."),
                _param("status", "query", "Only this status."),
                _LIMIT,
            ),
            "/api/v1/snapshots/{snapshot_id}": _get(
                "One snapshot with its masked config and manifest.", snapshot_id
            ),
            "/api/v1/pipelines/{pipeline_id}/history": _get(
                "A pipeline's timeline: each snapshot with what changed since the previous one.",
                _param("pipeline_id", "path", "A pipeline id, percent-encoded ('/' as %2F)."),
                _LIMIT,
            ),
            "/api/v1/pipelines/history": _get(
                "A pipeline's timeline, the pipeline named in the query (for the ids '.' "
                "and '..', which a URL path cannot carry).",
                _param("id", "query", "A pipeline id.", required=True),
                _LIMIT,
            ),
            "/api/v1/diff": _get(
                "What changed from snapshot a to snapshot b (secrets only as changed).",
                _param(
                    "a",
                    "query",
                    "The older snapshot: an id or unique prefix, WORKFLOW_ID:TYPE, a tag, "
                    "HEAD, each optionally followed by ~N (as wfaudit diff takes them).",
                    required=True,
                ),
                _param("b", "query", "The newer snapshot, a reference likewise (default HEAD)."),
                _param("pipeline_id", "query", "The pipeline of HEAD when a and b name none."),
                _param("workflow_type", "query", "The workflow type of HEAD."),
            ),
            "/api/v1/plugins": _get("The plugins loaded and the hooks they implement."),
            "/api/v1/stats": _get(
                "Counts by status and workflow type, bytes raw and stored, ratios, spool "
                "depth, archive size, last successful retention run."
            ),
            "/api/v1/verify": _get("Whether the audit trail and blobs are as written."),
            "/metrics": _metrics(),
            "/healthz": _get("Liveness: the process answers.", public=True),
            "/readyz": _get(
                "Readiness: the store answers (503 if not). for=ingest: a write is "
                "durable, in the store or, the store being down, in the spool.",
                _param("for", "query", "read (the default) or ingest."),
                public=True,
            ),
            **_ingest(),
        },
    }
