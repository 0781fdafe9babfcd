"""``wfaudit new-plugin``: write a plugin package skeleton that passes its own kit."""

from __future__ import annotations

import pathlib

import click

from wfaudit_hookspecs import hookimpl

from .scaffold import KINDS

__all__ = ["new_plugin"]


@click.command("new-plugin")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=pathlib.Path("."),
    show_default=True,
    help="Where to write the package folder wfaudit-NAME.",
)
def new_plugin(kind: str, name: str, directory: pathlib.Path) -> None:
    """Write wfaudit-NAME/: a plugin package of KIND (pyproject.toml with its entry
    point, the module, a test running the kit of its kind, a README).

    It passes its kit as written: `wfaudit --plugins-dir wfaudit-NAME plugins`
    lists it, and `python -m pytest tests` in it runs the kit.
    """
    from .scaffold import write_skeleton

    target = write_skeleton(kind, name, directory)
    click.echo(f"wrote {target}: cd {target} && python -m pytest tests")


COMMANDS: tuple[click.Command, ...] = (new_plugin,)
"""The commands this module adds to ``wfaudit``."""


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add :data:`COMMANDS` to the ``wfaudit`` group."""
    for command in COMMANDS:
        cli.add_command(command)
