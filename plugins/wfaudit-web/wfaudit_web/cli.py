"""``wfaudit serve``: the read-only API and web view, served by uvicorn."""

from __future__ import annotations

import socket

import click

from wfaudit.cli import CliState, store_options
from wfaudit.settings import Settings
from wfaudit_hookspecs import ConfigurationError, WfauditError

from .access import DEFAULT_TOKEN_ENV, Tokens
from .app import create_app

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
    """Serve the read-only HTTP API and the timeline / snapshot / diff pages.

    Readers need a bearer token: WFAUDIT_WEB_TOKEN (bound to --tenant when
    given), or the tokens named in [tool.wfaudit.web]. Without one, nothing is
    served.
    """
    import uvicorn

    state: CliState = click.get_current_context().find_root().obj
    tokens = Tokens.from_settings(Settings.load().options, tenant=state.tenant)
    if not tokens:
        raise ConfigurationError(
            f"no access token is configured: set {DEFAULT_TOKEN_ENV} (or [tool.wfaudit.web] "
            "tokens); the web view serves no data without one"
        )
    # Refuse a store that does not exist before listening (StoreNotFound), rather
    # than serve errors; a store that is down now may come up later.
    state.auditor(strict=False).close()
    app = create_app(state.store_url, tokens)
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
