"""``wfaudit serve``: the read-only API and web view, served by uvicorn."""

from __future__ import annotations

import click

from wfaudit.cli import CliState, store_options
from wfaudit.settings import Settings
from wfaudit_hookspecs import ConfigurationError

from .access import DEFAULT_TOKEN_ENV, Tokens
from .app import create_app

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
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
    app = create_app(state.store_url, tokens)
    click.echo(f"serving the wfaudit web view on http://{host}:{port}/ui", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
