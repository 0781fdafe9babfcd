"""The ASGI app: a read-only JSON API and HTML pages over the engine's reading API.

Every data route needs a bearer token the operator configured
(:mod:`.access`): in the ``Authorization`` header, or for the pages in the
cookie the sign-in form sets. With no token configured nothing but
``/healthz``, ``/readyz`` and ``/openapi.json`` answers. A token bound to a
tenant reads through an auditor scoped to that tenant, so another tenant's
snapshot is "not found" (404), as one that does not exist. ``/metrics`` is
process-wide (the audit counters have no tenant label): only a token bound to
no tenant reads it; others get 403.

The sign-in form (``POST /login``) and the sign-out button (``POST /logout``,
on every page of a browser signed in) are protected against cross-site request
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
import pathlib
import secrets
import threading
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from wfaudit import Auditor, DrainReport, SnapshotDiff, Spool, spool_roots
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

__all__ = ["COOKIE", "CSRF_COOKIE", "CSRF_FIELD", "LOGOUT_CSRF_COOKIE", "WebApp", "create_app"]

log = logging.getLogger("wfaudit.web")

COOKIE = "wfaudit_token"
CSRF_COOKIE = "wfaudit_csrf"
"""The cookie holding the sign-in form's anti-forgery token (sent to /login only)."""
CSRF_FIELD = "csrf"
"""The form field that must repeat it."""
LOGOUT_CSRF_COOKIE = "wfaudit_logout_csrf"
"""The cookie holding the sign-out form's anti-forgery token (set at sign-in)."""
MAX_LIMIT = 500
READINESS = ("read", "ingest")
"""What ``/readyz?for=`` asks: ``read`` (the default), the store answers;
``ingest``, a write is durable (the store answers or the spool can be written)."""


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
        spool_root: pathlib.Path | None = None,
    ) -> None:
        self.store_url = store_url
        self.spool_root = spool_root
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
                    spool_root=self.spool_root,
                )
            return auditor

    def drain(self) -> DrainReport | None:
        """Replay every spool of the data directory (this worker's, the other
        workers', one a dead worker left) into the store, unless nothing waits
        or another process is draining. Never raises: a drain that cannot run
        now is the next one's."""
        try:
            auditor = self.auditor(None)
            roots = spool_roots(auditor.settings.home / "spool")
            if not any(Spool(root, auditor.settings.store_url).has_pending() for root in roots):
                return None
            report = auditor.drain_spools(wait=0.0)
        except Exception as error:  # a background drain never takes the worker down
            log.warning("the periodic spool drain failed: %s", type(error).__name__)
            return None
        if report.replayed or report.already_stored:
            log.info(
                "spool drain: %d replayed, %d already stored, %d remaining",
                report.replayed,
                report.already_stored,
                report.remaining,
            )
        return report

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
        # A browser signed in with the cookie gets a sign-out button: its form
        # repeats the token of a cookie set at sign-in (minted here for a session
        # older than that cookie).
        minted = None
        if request.cookies.get(COOKIE):
            request.state.logout = request.cookies.get(LOGOUT_CSRF_COOKIE)
            if not request.state.logout:
                minted = request.state.logout = secrets.token_urlsafe(32)
        else:
            request.state.logout = None
        response = _html_response(app, handler, request)
        if minted is not None:
            _set_logout_cookie(request, response, minted)
        return response

    return endpoint


def _html_response(app: WebApp, handler: Handler, request: Request) -> Response:
    try:
        return HTMLResponse(handler(app, request))
    except Refused as refused:
        if refused.status == 401:
            if _presented(request) or not app.tokens:
                return login_form(request, refused.message, 401)
            # A first visit: no token was tried yet, so nothing failed.
            return login_form(request, None, 401, note="Sign in with an access token to go on.")
        return HTMLResponse(
            _error_page(refused.status, refused.message, _logout(request)), refused.status
        )
    except WfauditError as error:
        status = _status_of(error)
        return HTMLResponse(_error_page(status, str(error), _logout(request)), status)


def _presented(request: Request) -> bool:
    """True when the request carried a token (a header, or the sign-in cookie)."""
    return bool(request.headers.get("authorization") or request.cookies.get(COOKIE))


def _logout(request: Request) -> str | None:
    """The sign-out form's token for this page, None when not signed in by cookie."""
    token: str | None = getattr(request.state, "logout", None)
    return token


def _set_logout_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGOUT_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def login_form(
    request: Request, message: str | None = None, status: int = 200, *, note: str | None = None
) -> Response:
    """The sign-in page, with a fresh anti-forgery token in the form and in a cookie.

    :param message: why the last attempt failed (red); None when nothing failed.
    :param note: a neutral line (why signing in is asked for).
    """
    token = secrets.token_urlsafe(32)
    response = HTMLResponse(pages.login_page(message, csrf=token, note=note), status)
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


def _error_page(status: int, message: str, logout: str | None = None) -> str:
    return pages.error_page(status, message, logout=logout)


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
    from wfaudit import plugins_data

    infos = app.scoped(request).plugin_manager.describe()
    return {"plugins": plugins_data(infos)}


def api_stats(app: WebApp, request: Request) -> Any:
    from wfaudit import stats_data

    auditor = app.scoped(request)
    if not isinstance(auditor.store, StoreMaintenance):
        raise Refused(501, "this store does not report statistics")
    return stats_data(auditor)  # the same JSON as `wfaudit stats --json`, less the URL


def api_verify(app: WebApp, request: Request) -> Any:
    from wfaudit import verify_data, verify_store

    # The same JSON as `wfaudit verify --json`.
    return verify_data(verify_store(app.scoped(request), max_findings=100))


# -- pages ---------------------------------------------------------------------


def ui_index(app: WebApp, request: Request) -> str:
    records = app.scoped(request).history(limit=_limit(request))
    return pages.index_page(records, logout=_logout(request))


def ui_timeline(app: WebApp, request: Request) -> str:
    pipeline_id = _pipeline_id(request)
    entries = data.timeline(app.scoped(request), pipeline_id, limit=_limit(request))
    return pages.timeline_page(pipeline_id, entries, logout=_logout(request))


def ui_snapshot(app: WebApp, request: Request) -> str:
    auditor = app.scoped(request)
    snapshot = _snapshot(auditor, request)
    return pages.snapshot_page(snapshot, data.tags_of(auditor, snapshot), logout=_logout(request))


def ui_diff(app: WebApp, request: Request) -> str:
    auditor = app.scoped(request)
    diff = _diff(auditor, request)
    a, b = auditor.get_snapshot_by_id(diff.a.id), auditor.get_snapshot_by_id(diff.b.id)
    return pages.diff_page(a, b, diff, logout=_logout(request))


def _version() -> str:
    try:
        return importlib.metadata.version("wfaudit-web")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _drain_periodically(web: WebApp, interval: float, stop: threading.Event) -> None:
    while True:
        web.drain()
        if stop.wait(interval):
            return


def create_app(
    store_url: str | None,
    tokens: Tokens,
    *,
    plugins: Sequence[object] = (),
    load_entrypoints: bool = True,
    limits: ingest.Limits | None = None,
    spool_root: pathlib.Path | None = None,
    drain_interval: float | None = None,
) -> Starlette:
    """The app for the store at ``store_url`` (None: the configured default store).

    :param tokens: who may read and write; with none, no data is served.
    :param plugins: plugins to register in code in the app's auditors.
    :param limits: the ingest API's limits (body size, timeout, concurrency).
    :param spool_root: where this worker spools (default ``$WFAUDIT_HOME/spool``).
    :param drain_interval: while the app runs, every spool of the data directory
        is drained every this many seconds (at start-up first), so that what a
        worker that died left is stored without waiting for the next audit;
        None: only after audits, as in any auditor.
    """
    web = WebApp(
        store_url,
        tokens,
        plugins=plugins,
        load_entrypoints=load_entrypoints,
        spool_root=spool_root,
    )
    description = openapi(_version())

    def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def readyz(request: Request) -> Response:
        # The engine's readiness: the store answers, with the schema this wfaudit
        # needs. ``?for=ingest``: ready while a write is durable, in the store or,
        # the store being down, in this worker's spool (202) -- an ingest replica
        # must stay behind its load balancer through a store outage, or the
        # orchestrators' audits would find no server instead of the spool.
        from wfaudit import check_health

        purpose = request.query_params.get("for", "read")
        if purpose not in READINESS:
            return JSONResponse({"error": f"for= is one of {', '.join(READINESS)}"}, 400)
        try:
            report = check_health(web.auditor(None))
        except WfauditError as error:
            return JSONResponse({"status": "unavailable", "error": type(error).__name__}, 503)
        if not (report.live if purpose == "ingest" else report.ready):
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
        try:  # a metrics plugin (wfaudit-prometheus) answers wfaudit_metrics
            page = web.auditor(None).host.metrics()
        except WfauditError as error:
            return JSONResponse({"error": str(error)}, 503)
        if page is None:
            return JSONResponse(
                {"error": "no metrics plugin is loaded (install wfaudit-prometheus)"}, 404
            )
        return Response(page.body, media_type=page.content_type)

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
        _set_logout_cookie(request, response, secrets.token_urlsafe(32))
        return response

    async def logout(request: Request) -> Response:
        # Guarded as the sign-in form is: same origin, and the form repeats the
        # token of the cookie set at sign-in (another site cannot sign a user out).
        refused = None
        if cross_origin(request):
            refused = "sign-out refused: the form was sent from another site"
        else:
            form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
            expected = request.cookies.get(LOGOUT_CSRF_COOKIE, "")
            given = (form.get(CSRF_FIELD) or [""])[0]
            if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
                refused = "sign-out refused: the form is not this site's; reload the page"
        if refused is not None:
            return HTMLResponse(_error_page(403, refused), 403)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        response.delete_cookie(LOGOUT_CSRF_COOKIE)
        return response

    def root(request: Request) -> Response:
        return RedirectResponse("/ui", status_code=307)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        drainer = None
        if drain_interval is not None:
            drainer = threading.Thread(
                target=_drain_periodically,
                args=(web, drain_interval, stop),
                name="wfaudit-web-drain",
                daemon=True,
            )
            drainer.start()
        try:
            yield
        finally:
            stop.set()
            if drainer is not None:
                drainer.join(timeout=10)
            web.close()

    routes = [
        Route("/", root),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/openapi.json", openapi_json),
        Route("/metrics", metrics),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
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
