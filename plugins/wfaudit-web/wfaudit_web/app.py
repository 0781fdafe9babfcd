"""The ASGI app: a read-only JSON API and HTML pages over the engine's reading API.

Every data route needs a bearer token the operator configured
(:mod:`.access`): in the ``Authorization`` header, or for the pages in the
cookie the sign-in form sets. With no token configured nothing but
``/healthz``, ``/readyz`` and ``/openapi.json`` answers. A token bound to a
tenant reads through an auditor scoped to that tenant, so another tenant's
snapshot is "not found" (404), as one that does not exist. ``/metrics`` is
process-wide (the audit counters have no tenant label): only a token bound to
no tenant reads it; others get 403.

The sign-in form (``POST /login``) is protected against cross-site request
forgery twice: a POST whose ``Origin`` (else ``Referer``) names another host
than the request's own is refused, and the form must carry the anti-forgery
token that the page showing it put in a ``SameSite=Strict`` cookie (a
double-submitted token, compared in constant time). Both refusals are 403.
"""

from __future__ import annotations

import contextlib
import hmac
import importlib.metadata
import logging
import secrets
import threading
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from wfaudit import Auditor
from wfaudit.diff import SnapshotDiff
from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    InvalidRequest,
    Snapshot,
    SnapshotNotFound,
    StoreError,
    StoreMaintenance,
    WfauditError,
)

from . import data, ingest, pages
from .access import READ, Access, Tokens
from .openapi import openapi

__all__ = ["COOKIE", "CSRF_COOKIE", "CSRF_FIELD", "WebApp", "create_app"]

log = logging.getLogger("wfaudit.web")

COOKIE = "wfaudit_token"
CSRF_COOKIE = "wfaudit_csrf"
"""The cookie holding the sign-in form's anti-forgery token (sent to /login only)."""
CSRF_FIELD = "csrf"
"""The form field that must repeat it."""
MAX_LIMIT = 500


class Refused(Exception):
    """A request that gets an error status: ``status`` and a message safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class WebApp:
    """The app's state: the store URL, the tokens, one auditor per tenant."""

    def __init__(
        self,
        store_url: str | None,
        tokens: Tokens,
        *,
        plugins: Sequence[object] = (),
        load_entrypoints: bool = True,
    ) -> None:
        self.store_url = store_url
        self.tokens = tokens
        self._plugins = tuple(plugins)
        self._load_entrypoints = load_entrypoints
        self._auditors: dict[str | None, Auditor] = {}
        self._lock = threading.Lock()

    def auditor(self, tenant: str | None) -> Auditor:
        """The (shared) auditor scoped to ``tenant``; None reads every tenant."""
        with self._lock:
            auditor = self._auditors.get(tenant)
            if auditor is None:
                auditor = self._auditors[tenant] = Auditor.from_url(
                    self.store_url,
                    tenant=tenant,
                    strict=False,
                    create=False,  # the web view only reads: it never creates a store
                    plugins=self._plugins,
                    load_entrypoints=self._load_entrypoints,
                )
            return auditor

    def close(self) -> None:
        with self._lock:
            auditors = list(self._auditors.values())
            self._auditors.clear()
        for auditor in auditors:
            auditor.close()

    # -- access ------------------------------------------------------------

    def access(self, request: Request, scope: str = READ, *, cookie: bool = True) -> Access:
        """What the request's token grants; it must hold ``scope``.

        :param cookie: the sign-in cookie counts (the pages and reading API);
            writes take the ``Authorization`` header only, so that no other site
            can make a signed-in browser send one.
        """
        if not self.tokens:
            raise Refused(401, "no access token is configured: this server serves no data")
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            token: str | None = value.strip()
        else:
            token = request.cookies.get(COOKIE) if cookie else None
        found = self.tokens.check(token)
        if found is None:
            raise Refused(401, "a valid bearer token is required")
        if not found.allows(scope):
            raise Refused(403, f"this token is not granted the {scope!r} scope")
        return found

    def scoped(self, request: Request) -> Auditor:
        return self.auditor(self.access(request).tenant)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    try:
        value = int(raw)
    except ValueError:
        raise Refused(400, f"limit {raw!r} is not an integer") from None
    if not 1 <= value <= MAX_LIMIT:
        raise Refused(400, f"limit must be within 1..{MAX_LIMIT}")
    return value


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise Refused(400, f"the query parameter {name!r} is required")
    return value


def _status_of(error: WfauditError) -> int:
    if isinstance(error, SnapshotNotFound):
        return 404
    if isinstance(error, AmbiguousSnapshot):
        return 400
    if isinstance(error, InvalidRequest):
        return 400
    if isinstance(error, StoreError):
        return 503
    return 400


Handler = Callable[[WebApp, Request], Any]


def _json_route(app: WebApp, handler: Handler) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(handler(app, request))
        except Refused as refused:
            headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
            return JSONResponse({"error": refused.message}, refused.status, headers=headers)
        except WfauditError as error:
            return JSONResponse({"error": str(error)}, _status_of(error))

    return endpoint


def _html_route(app: WebApp, handler: Handler) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        try:
            return HTMLResponse(handler(app, request))
        except Refused as refused:
            if refused.status == 401:
                return login_form(request, refused.message, 401)
            return HTMLResponse(_error_page(refused.status, refused.message), refused.status)
        except WfauditError as error:
            status = _status_of(error)
            return HTMLResponse(_error_page(status, str(error)), status)

    return endpoint


def login_form(request: Request, message: str | None = None, status: int = 200) -> Response:
    """The sign-in page, with a fresh anti-forgery token in the form and in a cookie."""
    token = secrets.token_urlsafe(32)
    response = HTMLResponse(pages.login_page(message, csrf=token), status)
    response.set_cookie(
        CSRF_COOKIE,
        token,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def cross_origin(request: Request) -> bool:
    """True when a browser says the request comes from a page of another host.

    ``Origin`` is what browsers send with a POST; ``Referer`` stands in when it
    is missing. The host compared with is the one the request was sent to (the
    ``Host`` header). ``Origin: null`` (a sandboxed or privacy-stripped page) is
    cross-origin. A request with neither header (a script, not a browser) is
    not, and still needs the anti-forgery token.
    """
    host = request.headers.get("host", "").lower()
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return False
        origin = referer
    parts = urllib.parse.urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return True
    return parts.netloc.lower() != host


def _error_page(status: int, message: str) -> str:
    return pages.error_page(status, message)


def not_routed(request: Request, exc: Exception) -> Response:
    """No route for this path (404) or method (405): JSON under ``/api/``, a
    styled page elsewhere, like every other error of the app."""
    status = getattr(exc, "status_code", 404)
    message = "no such page" if status == 404 else "method not allowed"
    if request.url.path.startswith("/api/"):
        message = "no such endpoint" if status == 404 else message
        return JSONResponse({"error": message}, status)
    return HTMLResponse(_error_page(status, message), status)


def _snapshot(auditor: Auditor, request: Request) -> Snapshot:
    """The snapshot the path names: an id, or any reference the CLI takes
    (``1001:CI``, a tag, a unique id prefix; :mod:`wfaudit.refs`)."""
    return auditor.get(request.path_params["snapshot_id"])


def _pipeline_id(request: Request) -> str:
    """The pipeline id of the path, or of ``?id=`` (the form for the ids ``.``
    and ``..``, which a URL path cannot carry: clients resolve them away)."""
    pipeline_id = request.path_params.get("pipeline_id")
    if pipeline_id is None:
        pipeline_id = _required(request, "id")
    return str(pipeline_id)


def _diff(auditor: Auditor, request: Request) -> SnapshotDiff:
    """The diff the query asks for: ``a`` and ``b`` (default ``HEAD``) are
    references as ``wfaudit diff`` takes them (an id or unique prefix,
    ``WORKFLOW_ID:TYPE``, a tag, ``HEAD``, each with an optional ``~N``);
    ``pipeline_id`` and ``workflow_type`` are the context of ``HEAD``."""
    params = request.query_params
    return auditor.diff(
        _required(request, "a"),
        params.get("b") or "HEAD",
        pipeline_id=params.get("pipeline_id") or None,
        workflow_type=params.get("workflow_type") or None,
    )


# -- JSON endpoints -----------------------------------------------------------


def api_snapshots(app: WebApp, request: Request) -> Any:
    params = request.query_params
    records = app.scoped(request).history(
        pipeline_id=params.get("pipeline_id"),
        workflow_id=params.get("workflow_id"),
        workflow_type=params.get("workflow_type"),
        status=params.get("status"),
        limit=_limit(request),
    )
    return {"snapshots": [data.record_json(record) for record in records]}


def api_snapshot(app: WebApp, request: Request) -> Any:
    return data.snapshot_json(_snapshot(app.scoped(request), request))


def api_history(app: WebApp, request: Request) -> Any:
    pipeline_id = _pipeline_id(request)
    entries = data.timeline(app.scoped(request), pipeline_id, limit=_limit(request))
    return {"pipeline_id": pipeline_id, "timeline": data.timeline_json(entries)}


def api_diff(app: WebApp, request: Request) -> Any:
    return data.diff_json(_diff(app.scoped(request), request))


def api_plugins(app: WebApp, request: Request) -> Any:
    infos = app.scoped(request).plugin_manager.describe()
    return {"plugins": [attrs.asdict(info) for info in infos]}


def api_stats(app: WebApp, request: Request) -> Any:
    from wfaudit.stats import stats_data

    auditor = app.scoped(request)
    if not isinstance(auditor.store, StoreMaintenance):
        raise Refused(501, "this store does not report statistics")
    return stats_data(auditor)  # the same JSON as `wfaudit stats --json`, less the URL


def api_verify(app: WebApp, request: Request) -> Any:
    from wfaudit.verify import verify

    report = verify(app.scoped(request), max_findings=100)
    return {
        "ok": report.ok,
        "tenant": report.tenant,
        "findings_total": report.findings_total,
        "findings": [attrs.asdict(finding) for finding in report.findings],
        "chains": report.chains,
        "events": report.events,
        "snapshots": report.snapshots,
        "blobs": report.blobs,
        "heads": [attrs.asdict(head) for head in report.heads],
    }


# -- pages ---------------------------------------------------------------------


def ui_index(app: WebApp, request: Request) -> str:
    return pages.index_page(app.scoped(request).history(limit=_limit(request)))


def ui_timeline(app: WebApp, request: Request) -> str:
    pipeline_id = _pipeline_id(request)
    entries = data.timeline(app.scoped(request), pipeline_id, limit=_limit(request))
    return pages.timeline_page(pipeline_id, entries)


def ui_snapshot(app: WebApp, request: Request) -> str:
    return pages.snapshot_page(_snapshot(app.scoped(request), request))


def ui_diff(app: WebApp, request: Request) -> str:
    auditor = app.scoped(request)
    diff = _diff(auditor, request)
    a, b = auditor.get_snapshot_by_id(diff.a.id), auditor.get_snapshot_by_id(diff.b.id)
    return pages.diff_page(a, b, diff)


def _version() -> str:
    try:
        return importlib.metadata.version("wfaudit-web")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def create_app(
    store_url: str | None,
    tokens: Tokens,
    *,
    plugins: Sequence[object] = (),
    load_entrypoints: bool = True,
    limits: ingest.Limits | None = None,
) -> Starlette:
    """The app for the store at ``store_url`` (None: the configured default store).

    :param tokens: who may read and write; with none, no data is served.
    :param plugins: plugins to register in code in the app's auditors.
    :param limits: the ingest API's limits (body size, timeout, concurrency).
    """
    web = WebApp(store_url, tokens, plugins=plugins, load_entrypoints=load_entrypoints)
    description = openapi(_version())

    def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def readyz(request: Request) -> Response:
        # The engine's readiness: the store answers, with the schema this wfaudit needs.
        from wfaudit import health

        try:
            report = health.check(web.auditor(None))
        except WfauditError as error:
            return JSONResponse({"status": "unavailable", "error": type(error).__name__}, 503)
        if not report.ready:
            return JSONResponse({"status": "unavailable", "health": report.status}, 503)
        return JSONResponse({"status": "ready", "health": report.status})

    def openapi_json(request: Request) -> Response:
        return JSONResponse(description)

    def metrics(request: Request) -> Response:
        # The audit counters are the process's (every tenant's, without a tenant
        # label): only a token bound to no tenant may read them.
        try:
            access = web.access(request)
        except Refused as refused:
            headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
            return JSONResponse({"error": refused.message}, refused.status, headers=headers)
        if access.tenant is not None:
            return JSONResponse(
                {
                    "error": "the metrics count every tenant's audits: they need a token "
                    "bound to no tenant"
                },
                403,
            )
        try:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            from wfaudit_prometheus import make_registry
        except ImportError:
            return JSONResponse({"error": "wfaudit-prometheus is not installed"}, 404)
        try:
            body = generate_latest(make_registry(web.auditor(None)))
        except WfauditError as error:
            return JSONResponse({"error": str(error)}, 503)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return login_form(request)
        if cross_origin(request):
            return login_form(request, "sign-in refused: the form was sent from another site", 403)
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        expected = request.cookies.get(CSRF_COOKIE, "")
        given = (form.get(CSRF_FIELD) or [""])[0]
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            return login_form(
                request,
                "sign-in refused: the form has expired or is not this site's; try again",
                403,
            )
        token = (form.get("token") or [""])[0]
        granted = web.tokens.check(token) if web.tokens else None
        if granted is None or not granted.allows(READ):
            return login_form(request, "that token is not valid", 401)
        response = RedirectResponse("/ui", status_code=303)
        response.delete_cookie(CSRF_COOKIE, path="/login")  # one sign-in per form
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    def root(request: Request) -> Response:
        return RedirectResponse("/ui", status_code=307)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        web.close()

    routes = [
        Route("/", root),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/openapi.json", openapi_json),
        Route("/metrics", metrics),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout),
        Route("/api/v1/snapshots", _json_route(web, api_snapshots)),
        # Ids may hold '/' (``ci/build-and-push``): every id is a ``path`` parameter.
        Route("/api/v1/snapshots/{snapshot_id:path}", _json_route(web, api_snapshot)),
        Route("/api/v1/pipelines/history", _json_route(web, api_history)),
        Route("/api/v1/pipelines/{pipeline_id:path}/history", _json_route(web, api_history)),
        Route("/api/v1/diff", _json_route(web, api_diff)),
        Route("/api/v1/plugins", _json_route(web, api_plugins)),
        Route("/api/v1/stats", _json_route(web, api_stats)),
        Route("/api/v1/verify", _json_route(web, api_verify)),
        Route("/ui", _html_route(web, ui_index)),
        Route("/ui/pipelines", _html_route(web, ui_timeline)),
        Route("/ui/pipelines/{pipeline_id:path}", _html_route(web, ui_timeline)),
        Route("/ui/snapshots/{snapshot_id:path}", _html_route(web, ui_snapshot)),
        Route("/ui/diff", _html_route(web, ui_diff)),
        *ingest.routes(web, limits or ingest.Limits()),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_routed, 405: not_routed},
    )
    app.state.web = web
    return app
