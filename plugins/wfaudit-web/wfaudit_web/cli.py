"""``wfaudit serve``: the API (reading and ingest) and web view, served by uvicorn."""

from __future__ import annotations

import socket

import click

from wfaudit.cli import CliState, store_options
from wfaudit.settings import Settings
from wfaudit_hookspecs import ConfigurationError, WfauditError

from .access import DEFAULT_TOKEN_ENV, INGEST_TOKEN_ENV, Tokens
from .app import create_app
from .ingest import Limits

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@store_options
def serve(host: str, port: int) -> None:
    """Serve the HTTP API and the timeline / snapshot / diff pages.

    Readers need a bearer token with the read scope: WFAUDIT_WEB_TOKEN (bound
    to --tenant when given), or the tokens named in [tool.wfaudit.web].
    Orchestrators sending triggers, outcomes and CloudEvents need one with the
    write scope: WFAUDIT_INGEST_TOKEN, or a token with scopes = ["write"] (see
    docs/ingest.md). Without a token, nothing is served.
    """
    import uvicorn

    state: CliState = click.get_current_context().find_root().obj
    options = Settings.load().options
    tokens = Tokens.from_settings(options, tenant=state.tenant)
    if not tokens:
        raise ConfigurationError(
            f"no access token is configured: set {DEFAULT_TOKEN_ENV} or {INGEST_TOKEN_ENV} "
            "(or [tool.wfaudit.web] tokens); the server serves no data without one"
        )
    limits = Limits.from_settings(options)
    # Refuse a store that does not exist before listening (StoreNotFound), rather
    # than serve errors; a store that is down now may come up later.
    state.auditor(strict=False).close()
    app = create_app(state.store_url, tokens, limits=limits)
    listener = _listen(host, port)
    bound = int(listener.getsockname()[1])  # the port taken, when --port 0
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving the wfaudit web view on http://{shown}:{bound}/ui", err=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, bound before the address is printed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise WfauditError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
