"""The CLI eats its own dog food (issue #19): the engine's command groups are
plugin modules implementing ``wfaudit_register_commands``, registered by the
built-in plugin ``wfaudit.builtin.commands``, and every command gets the
command line's state from ``pass_state``."""

from __future__ import annotations

import ast
import importlib
import pathlib

import click
from click.testing import CliRunner

from wfaudit import cli as cli_module
from wfaudit.cli import COMMAND_MODULES, CliState, pass_state, store_options
from wfaudit.plugins import DEFAULT_PLUGINS, make_plugin_manager
from wfaudit_hookspecs import hookimpl

ENGINE = pathlib.Path(cli_module.__file__).parent
COMMAND_FILES = sorted(ENGINE.glob("*_cli.py"))


def test_the_engine_commands_are_a_built_in_plugin_of_the_command_line() -> None:
    # Registered by the command line, not by the engine's manager: the engine,
    # which the commands use, must not load them (no import cycle).
    assert "wfaudit.builtin.commands" not in DEFAULT_PLUGINS
    assert "wfaudit.builtin.commands" not in make_plugin_manager(load_entrypoints=False).origins
    assert cli_module.CLI_PLUGINS == ("wfaudit.builtin.commands",)
    pm = make_plugin_manager(load_entrypoints=False, builtins=cli_module.CLI_PLUGINS)
    group = click.Group("root")
    pm.hook.wfaudit_register_commands(cli=group)
    assert set(COMMAND_MODULES) <= set(group.commands)
    info = {i.name: i for i in pm.describe()}["wfaudit.builtin.commands"]
    assert info.builtin and info.hooks == ("wfaudit_register_commands",)


def test_every_command_module_is_a_plugin_adding_its_commands() -> None:
    assert {path.stem for path in COMMAND_FILES} == set(COMMAND_MODULES.values())
    for name in sorted(set(COMMAND_MODULES.values())):
        module = importlib.import_module(f"wfaudit.{name}")
        pm = make_plugin_manager(load_entrypoints=False, plugins=[])
        pm.register(module, name=f"test-{name}")
        group = click.Group("root")
        pm.hook.wfaudit_register_commands(cli=group)
        mine = {command for command, where in COMMAND_MODULES.items() if where == name}
        assert set(group.commands) == mine, name


def test_no_command_module_attaches_itself_or_finds_the_state_by_hand() -> None:
    """No side-effect registration on the root group (``@cli.command``), so no import
    circle with ``cli.py``; no copy of a ``_state()`` helper."""
    for path in COMMAND_FILES:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "cli":
                assert "cli" not in {alias.name for alias in node.names}, path.name
            if isinstance(node, ast.FunctionDef):
                assert node.name != "_state", path.name
        assert "find_root().obj" not in text, path.name
    assert "find_root().obj" not in (ENGINE / "builtin" / "commands.py").read_text()


class _Overrides:
    """A plugin whose ``log`` takes the place of the engine's."""

    @hookimpl
    def wfaudit_register_commands(self, cli: click.Group) -> None:
        @click.command("log")
        def log() -> None:
            click.echo("the plugin's log")

        cli.add_command(log)


def test_a_plugins_command_of_the_same_name_wins_as_before() -> None:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[_Overrides()])
    group = click.Group("root")
    pm.hook.wfaudit_register_commands(cli=group)
    assert CliRunner().invoke(group, ["log"]).output == "the plugin's log\n"


def test_pass_state_hands_a_command_the_root_state_with_its_overrides() -> None:
    seen: list[tuple[str, str | None]] = []

    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = CliState(store_url="sqlite:///root.sqlite3", tenant="a")

    @root.group()
    def outer() -> None:
        pass

    @outer.command()
    @store_options
    @pass_state
    def inner(state: CliState) -> None:
        seen.append((state.store_url, state.tenant))

    result = CliRunner().invoke(root, ["outer", "inner", "--tenant", "b"])
    assert result.exit_code == 0, result.output
    assert seen == [("sqlite:///root.sqlite3", "b")]
