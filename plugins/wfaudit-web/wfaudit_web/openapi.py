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
            "title": "wfaudit read-only API",
            "version": version,
            "description": "Snapshots of workflow triggers, with masked configs only.",
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
            "/api/v1/stats": _get("Counts, bytes raw and stored, ratios, spool depth."),
            "/api/v1/verify": _get("Whether the audit trail and blobs are as written."),
            "/metrics": _metrics(),
            "/healthz": _get("Liveness: the process answers.", public=True),
            "/readyz": _get("Readiness: the store answers.", public=True),
        },
    }
