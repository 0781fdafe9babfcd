"""No command that only reads creates a store (issue #16, item 6).

Every registered command (the engine's and the installed plugins') is found by
walking the click tree, so a command added later is covered without editing
this file: unless it is one of the few that may create a store (:data:`CREATORS`)
or never opens one (:data:`NO_STORE`), it must refuse a store that does not
exist, with a hint, and leave nothing behind: no file, no directory, no table.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import click
import pytest

from wfaudit import cli as cli_module

CREATORS = frozenset({"trigger", "demo", "drain", "db upgrade", "import devtron"})
"""Commands that add data: they may create the store (``db upgrade`` is how an
operator creates one on purpose)."""

NO_STORE = frozenset(
    {
        "plugins",
        "new-plugin",
        "keys export",
        "keys import",
        "spool list",
        "spool retry",
        "spool discard",
        "webhooks dlq list",
        "webhooks dlq replay",
    }
)
"""Commands that never open the store (the key and the spool are this host's files)."""

VARIANTS: dict[str, tuple[tuple[str, ...], ...]] = {
    # Options that take another path to the store.
    "log": (("--archived",),),
    "health": (("--write",),),
}

ARGUMENTS: dict[str, tuple[str, ...]] = {
    # Commands that check their options (one of several is required) before
    # opening the store.
    "hold add": ("--pipeline", "p"),
    "retention keep": ("--forever",),
    "retention run": ("--once",),
    "retrigger": ("--workflow-id", "1", "--dry-run"),
    # The host's key, not the store's: to standard output, so that it leaves no file.
    "keys export": ("--output", "-"),
}

HINT = "wfaudit db upgrade"


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _leaves(command, (*prefix, name))
        else:
            yield (*prefix, name)


def registered_commands() -> list[tuple[str, ...]]:
    """Every leaf command of ``wfaudit``, the plugins' included."""
    cli_module._register_plugin_commands()
    return sorted(_leaves(cli_module.cli))


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli_module.cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    return command


def _arguments(path: tuple[str, ...], scratch: pathlib.Path) -> list[str]:
    """Values for the required arguments and options of the command at ``path``."""
    args: list[str] = []
    for param in _command(path).params:
        if not param.required:
            continue
        if isinstance(param.type, click.Choice):
            value = str(param.type.choices[0])
        elif isinstance(param.type, click.Path):
            value = str(scratch / "out.file")
        else:
            value = "1"
        if isinstance(param, click.Option):
            args.append(param.opts[0])
        args.extend([value] * (1 if param.nargs in (1, -1) else param.nargs))
    if path[-1] == "serve":
        args += ["--port", "0"]
    return [*args, *ARGUMENTS.get(" ".join(path), ())]


def _run(args: list[str], store: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["WFAUDIT_STORE_URL"] = store
    env["WFAUDIT_WEB_TOKEN"] = "a-reader-token-of-the-test-0123456789"
    try:
        return subprocess.run(
            [sys.executable, "-m", "wfaudit", *args],
            capture_output=True,
            text=True,
            input="",
            env=env,
            cwd=cwd,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:  # a server that started instead of refusing
        return subprocess.CompletedProcess(args, -1, "", "(still running after 60 s)")


def _snapshot_of_tree(root: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _pg_tables(url: str) -> list[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = current_schema()"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()


def test_every_registered_command_is_classified_or_refuses() -> None:
    commands = {" ".join(path) for path in registered_commands()}
    # The lists name only commands that exist (a rename must update them).
    assert commands >= CREATORS
    assert commands >= NO_STORE
    # The examples are registered and so checked below.
    assert {"verify", "log", "show", "diff", "stats", "health", "serve", "retention plan"} <= (
        commands - CREATORS - NO_STORE
    )


def _cases(scratch: pathlib.Path) -> list[tuple[str, list[str]]]:
    """(command name, arguments) of every command to run against a missing store."""
    cases = []
    for path in registered_commands():
        name = " ".join(path)
        if name in CREATORS:
            continue
        base = [*path, *_arguments(path, scratch)]
        cases.append((name, base))
        cases.extend((name, [*base, *extra]) for extra in VARIANTS.get(name, ()))
    return cases


def _check_all(store: str, cwd: pathlib.Path) -> None:
    cases = _cases(cwd)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda case: _run(case[1], store, cwd), cases))
    problems = []
    for (name, args), result in zip(cases, results, strict=True):
        shown = " ".join(args)
        output = result.stdout + result.stderr
        if "Traceback" in output:
            problems.append(f"{shown}: traceback")
        elif name in NO_STORE:
            continue  # it must still create nothing (checked by the caller)
        elif result.returncode != 1 or "no wfaudit store" not in result.stderr:
            problems.append(f"{shown}: exit {result.returncode}: {output.strip()[-300:]}")
        elif HINT not in result.stderr or result.stderr.count("\n") != 1:
            problems.append(f"{shown}: not one line with a hint: {result.stderr.strip()}")
    assert not problems, "\n".join(problems)


@pytest.mark.wfaudit_backends("sqlite")
def test_read_commands_refuse_a_missing_sqlite_store(
    store_url: str, tmp_path: pathlib.Path
) -> None:
    # The two cases: a typo of a real store's file name, and a path
    # under a directory that does not exist.
    data = tmp_path / "data"
    data.mkdir()
    real = _run(["db", "upgrade"], f"sqlite:///{data / 'wfaudit.sqlite3'}", tmp_path)
    assert real.returncode == 0, real.stderr
    before = _snapshot_of_tree(tmp_path)

    _check_all(f"sqlite:///{data / 'wfaudit.sqlite'}", tmp_path)
    assert _snapshot_of_tree(tmp_path) == before
    _check_all(f"sqlite:///{tmp_path / 'missing' / 'wfaudit.sqlite3'}", tmp_path)
    assert _snapshot_of_tree(tmp_path) == before


@pytest.mark.wfaudit_backends("postgresql")
def test_read_commands_refuse_a_postgresql_store_without_tables(
    store_url: str, tmp_path: pathlib.Path
) -> None:
    assert _pg_tables(store_url) == []
    before = _snapshot_of_tree(tmp_path)

    _check_all(store_url, tmp_path)
    assert _pg_tables(store_url) == []
    assert _snapshot_of_tree(tmp_path) == before


def test_creators_create(store_url: str, tmp_path: pathlib.Path) -> None:
    """The commands that may create a store do (so the refusals above are not
    a store that cannot be opened at all)."""
    payload = tmp_path / "request.json"
    payload.write_text('{"steps": [{"name": "build"}]}')
    if store_url.startswith("sqlite"):
        store_url = f"sqlite:///{tmp_path / 'new' / 'dir' / 'wfaudit.sqlite3'}"
    made = _run(
        ["trigger", str(payload), "--type", "CI", "--workflow-id", "7", "--pipeline-id", "p"],
        store_url,
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    verified = _run(["verify"], store_url, tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "1 snapshot," in verified.stdout


@pytest.mark.parametrize("plain", ["store.sqlite3", "data/wfaudit.sqlite", "~/x.db"])
def test_a_plain_path_as_store_gets_the_url_it_may_mean(plain: str, tmp_path: pathlib.Path) -> None:
    result = _run(["verify"], plain, tmp_path)
    assert result.returncode == 1
    expected = os.path.abspath(os.path.expanduser(os.path.join(tmp_path, plain)))
    if plain.startswith("~"):
        expected = os.path.expanduser(plain)
    assert f"did you mean sqlite:///{expected}" in result.stderr
    assert result.stderr.count("\n") == 1
    assert _snapshot_of_tree(tmp_path) == []


def test_a_scheme_less_url_with_credentials_is_not_echoed(tmp_path: pathlib.Path) -> None:
    result = _run(["log"], "admin:hunter2-pw@db.example/audit", tmp_path)
    assert result.returncode == 1
    assert "hunter2" not in result.stderr
    assert "not a URL" in result.stderr


@pytest.mark.parametrize("content", [b"", b"not a database at all"])
def test_a_file_that_is_no_wfaudit_store_is_refused_untouched(
    content: bytes, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "empty.sqlite3"
    path.write_bytes(content)
    for command in (["verify"], ["log"], ["stats", "--json"]):
        result = _run(command, f"sqlite:///{path}", tmp_path)
        assert result.returncode == 1, result.stdout
        assert "Traceback" not in result.stderr
    assert path.read_bytes() == content
    assert _snapshot_of_tree(tmp_path) == ["empty.sqlite3"]
