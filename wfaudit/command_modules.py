"""The engine's command modules, by command name (a leaf: it imports a command
module only when asked for one, and nothing imports it but the command line and
its built-in plugin)."""

from __future__ import annotations

import importlib

import click

__all__ = ["COMMAND_MODULES", "add_engine_commands"]

COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(("log", "show", "diff", "tag", "untag", "tags", "annotate"), "history_cli"),
    "keys": "keys_cli",
    **dict.fromkeys(("verify", "anchor", "stats", "drain", "backup", "health"), "ops_cli"),
    **dict.fromkeys(("retention", "hold", "archive", "restore"), "retention_cli"),
    "retrigger": "retrigger_cli",
    "restore-map": "restore_map_cli",
    "import": "import_cli",
    "spool": "spool_cli",
    "new-plugin": "scaffold_cli",
}
"""The engine's commands defined outside this module, by name, and the module
that defines each: every one is a plugin module whose ``wfaudit_register_commands``
adds its commands (its ``COMMANDS``). The built-in plugin
``wfaudit.builtin.commands`` registers them all, as any plugin registers its own;
a command asked for by name imports its module only (start-up time: issue #18).
A name missing here still works (every command is then registered); it only
costs start-up time."""


def add_engine_commands(group: click.Group, *modules: str) -> None:
    """Add the commands of the engine's command modules (``history_cli``...; all of
    :data:`COMMAND_MODULES` when none is named) to ``group``, through each module's
    ``wfaudit_register_commands``."""
    for module in modules or sorted(set(COMMAND_MODULES.values())):
        plugin = importlib.import_module(f"wfaudit.{module}")
        plugin.wfaudit_register_commands(cli=group)
