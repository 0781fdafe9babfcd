"""``wfaudit serve``: the API (reading and ingest) and web view, served by uvicorn."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import click

from wfaudit import CliState, Settings, store_options, worker_spool_root
from wfaudit_hookspecs import ConfigurationError, WfauditError

from .access import DEFAULT_TOKEN_ENV, INGEST_TOKEN_ENV, Tokens
from .app import create_app
from .ingest import Limits
from .workers import Supervisor, watch_parent

DRAIN_INTERVAL = 10.0
"""Seconds between a worker's drains of the data directory's spools (one at
start-up first): what a worker that died left is stored without waiting for an audit."""

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
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes answering on the port, each with its own spool.",
)
@click.option("--worker-fd", type=int, default=None, hidden=True)
@click.option("--worker-slot", type=click.IntRange(0, 63), default=None, hidden=True)
@click.option("--worker-parent", type=int, default=None, hidden=True)
@store_options
def serve(
    host: str,
    port: int,
    workers: int,
    worker_fd: int | None,
    worker_slot: int | None,
    worker_parent: int | None,
) -> None:
    """Serve the HTTP API and the timeline / snapshot / diff pages.

    Readers need a bearer token with the read scope: WFAUDIT_WEB_TOKEN (bound
    to --tenant when given), or the tokens named in [tool.wfaudit.web].
    Orchestrators sending triggers, outcomes and CloudEvents need one with the
    write scope: WFAUDIT_INGEST_TOKEN, or a token with scopes = ["write"] (see
    docs/ingest.md). Without a token, nothing is served.

    With --workers N, N processes answer on the port; each spools into its own
    directory ($WFAUDIT_HOME/spool/worker-<slot>), a worker that dies is started
    again in its slot, and every worker drains the data directory's spools.
    """
    state: CliState = click.get_current_context().find_root().obj
    options = Settings.load().options
    tokens = Tokens.from_settings(options, tenant=state.tenant)
    if not tokens:
        raise ConfigurationError(
            f"no access token is configured: set {DEFAULT_TOKEN_ENV} or {INGEST_TOKEN_ENV} "
            "(or [tool.wfaudit.web] tokens); the server serves no data without one"
        )
    limits = Limits.from_settings(options)
    if worker_fd is not None:  # one worker of `serve --workers N`
        if worker_slot is None or worker_parent is None:
            raise ConfigurationError("a worker needs --worker-slot and --worker-parent")
        watch_parent(worker_parent)
        listener = socket.socket(fileno=worker_fd)
        settings = Settings.load(store_url=state.store_url)
        spool_root = worker_spool_root(settings.home / "spool", worker_slot)
        _run(
            create_app(
                state.store_url,
                tokens,
                limits=limits,
                spool_root=spool_root,
                drain_interval=DRAIN_INTERVAL,
            ),
            listener,
        )
        return
    # Refuse a store that does not exist before listening (StoreNotFound), rather
    # than serve errors; a store that is down now may come up later.
    state.auditor(strict=False).close()
    listener = _listen(host, port)
    bound = int(listener.getsockname()[1])  # the port taken, when --port 0
    shown = f"[{host}]" if ":" in host else host
    count = f" ({workers} workers)" if workers > 1 else ""
    click.echo(f"serving the wfaudit web view on http://{shown}:{bound}/ui{count}", err=True)
    if workers == 1:
        _run(
            create_app(state.store_url, tokens, limits=limits, drain_interval=DRAIN_INTERVAL),
            listener,
        )
        return
    supervisor = Supervisor(listener, workers, _worker_command(host, bound, state))
    try:
        status = supervisor.run()
    finally:
        listener.close()
    if status:
        sys.exit(status)


def _worker_command(host: str, port: int, state: CliState) -> Callable[[int, int], list[str]]:
    """The command line of a worker: the same options as this process's. The store
    URL goes by the environment (inherited), never by the command line: a URL may
    hold a password, and command lines are visible to every user of the machine."""
    if state.store_url is not None:
        os.environ["WFAUDIT_STORE_URL"] = state.store_url
    tenant = ["--tenant", state.tenant] if state.tenant is not None else []
    parent = os.getpid()

    def command(fd: int, slot: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "wfaudit",
            *tenant,
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            "--worker-fd",
            str(fd),
            "--worker-slot",
            str(slot),
            "--worker-parent",
            str(parent),
        ]

    return command


def _run(app: Any, listener: socket.socket) -> None:
    import uvicorn

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
