"""docs/cli.md says "Every read command takes `--json`": it holds for every
command, the plugins' included. A command without ``--json`` is one that only
changes something, serves or prints a format of its own, and is listed here
with the reason; a new command is one or the other."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import click

from wfaudit.cli import cli

WITHOUT_JSON = {
    "anchor": "its output is the anchor, a JSON document already",
    "db upgrade": "changes the schema",
    "demo": "a walk-through for people, on a throw-away store",
    "keys export": "writes the keys in the export format `keys import` reads",
    "keys import": "changes the key",
    "metrics serve": "a server",
    "new-plugin": "writes a plugin package; it reads no store",
    "serve": "a server",
    "webhooks dlq replay": "sends the dead letters again",
}


def leaf_commands() -> Iterator[tuple[str, click.Command]]:
    def walk(
        command: click.Command, path: list[str], ctx: click.Context
    ) -> Iterator[tuple[str, click.Command]]:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, [*path, name], click.Context(sub, parent=ctx))
        else:
            yield " ".join(path), command

    yield from walk(cli, [], click.Context(cli))


def test_every_read_command_takes_json() -> None:
    without = {
        name
        for name, command in leaf_commands()
        if "--json" not in {o for p in command.params for o in getattr(p, "opts", [])}
    }
    assert without == set(WITHOUT_JSON), (
        "a command without --json must be listed in WITHOUT_JSON with the reason it "
        f"reads nothing: {sorted(without ^ set(WITHOUT_JSON))}"
    )
    assert {"log", "show", "diff", "tags", "stats", "verify", "plugins"} <= {
        name for name, _ in leaf_commands()
    }


def test_the_reference_says_so() -> None:
    page = pathlib.Path(__file__).resolve().parent.parent / "docs" / "cli.md"
    assert "Every read command takes `--json`." in page.read_text(encoding="utf-8")
