"""The ``web`` entry point: adds ``wfaudit serve``."""

from __future__ import annotations

import click

from wfaudit_hookspecs import hookimpl

__all__ = ["wfaudit_register_commands"]


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add ``wfaudit serve``."""
    from .cli import serve

    cli.add_command(serve)
