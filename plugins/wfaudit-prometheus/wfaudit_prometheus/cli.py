"""``wfaudit metrics serve``: the standalone exporter."""

from __future__ import annotations

import threading

import click

from wfaudit import CliState, store_options

from .exporter import make_registry, serve

__all__ = ["metrics"]


@click.group()
def metrics() -> None:
    """Prometheus metrics of audits, the store and the spool."""


@metrics.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=9464,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free).",
)
@store_options
def serve_command(host: str, port: int) -> None:
    """Serve /metrics until interrupted.

    Audit counters come from every process that shares PROMETHEUS_MULTIPROC_DIR
    with this one (else from this process only); store sizes, snapshots by
    status and the spool's depth are read from the store at each scrape.
    """
    state: CliState = click.get_current_context().find_root().obj
    with state.auditor(strict=False) as auditor:
        exporter = serve(make_registry(auditor), host=host, port=port)
        click.echo(f"serving metrics on {exporter.url}", err=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            exporter.stop()
