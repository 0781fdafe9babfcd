"""The engine's own commands (``log``, ``verify``...), added as a plugin adds its own.

Each command module of the engine (``wfaudit.history_cli``, ``wfaudit.ops_cli``...:
:data:`wfaudit.cli.COMMAND_MODULES`) is a plugin module implementing
``wfaudit_register_commands``; this built-in plugin registers them all when the
whole command line is built (``wfaudit --help``, a plugin's command). Importing
it costs nothing: the modules are imported by the hook, not here, so that a
plugin manager made to audit a trigger stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfaudit_hookspecs import hookimpl

if TYPE_CHECKING:
    import click

__all__ = ["wfaudit_register_commands"]


@hookimpl(tryfirst=True)
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add every command of the engine's command modules to ``cli``.

    Called first, so that a plugin's command of the same name takes its place,
    as it always did.
    """
    from wfaudit.command_modules import add_engine_commands

    add_engine_commands(cli)
