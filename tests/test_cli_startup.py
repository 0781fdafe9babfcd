"""The ``wfaudit`` command imports what a command uses, when it runs (issue #18).

Start-up time is benchmarked (bench/bench_cli.py), not timed here: these tests
check what makes it, deterministically, in fresh processes: which modules a
command leaves imported. ``--version`` needs neither the engine nor a plugin;
``trigger`` needs the plugins that audit (adapters, maskers, the store), not the
other commands, rich, the web app, the HTTP exporter or keyring. Laziness must
not lose a command: the plugins' commands are still found, by name and in
``--help``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys

import click
import pytest

import wfaudit
from wfaudit import cli as cli_module

PROBE = """
import json, sys
from wfaudit.cli import main
sys.argv = ["wfaudit", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
sys.stdout.flush()
print("\\nMODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def modules_after(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    """Run ``wfaudit ARGS`` in a fresh interpreter: exit code, modules left imported, output."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    out, _, tail = result.stdout.rpartition("\nMODULES ")
    assert tail, result.stderr
    data = json.loads(tail)
    return data["code"], set(data["modules"]), out + result.stderr


def _loaded(modules: set[str], *prefixes: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_version_loads_neither_the_engine_nor_a_plugin() -> None:
    code, modules, out = modules_after("--version")
    assert code == 0 and f"version {wfaudit.__version__}" in out
    heavy = (
        "wfaudit.auditor",
        "wfaudit.plugins",
        "wfaudit.render",
        "wfaudit.history_cli",
        "wfaudit.settings",
        "rich",
        "sqlalchemy",
        "zstandard",
        "yaml",
        "importlib.metadata",
        "wfaudit_sql",
        "wfaudit_web",
        "wfaudit_maskers",
        "keyring",
        "starlette",
        # Nor the contract's model (attrs classes) or its hook markers (pluggy): the
        # package loads them on first use.
        "wfaudit_hookspecs.model",
        "attr",
        "attrs",
        "pluggy",
        "logging",
        "platformdirs",
    )
    assert _loaded(modules, *heavy) == []


def test_the_spelt_choices_are_the_models_values() -> None:
    """The command line spells the trigger kinds and outcome statuses (to start
    without the model): they must stay the enums' values."""
    from wfaudit_hookspecs import Status, TriggerKind

    assert tuple(kind.value for kind in TriggerKind) == cli_module.TRIGGER_KINDS
    assert (
        tuple(status.value for status in Status if status is not Status.TRIGGERED)
        == cli_module.OUTCOME_STATUSES
    )


@pytest.mark.parametrize("package", ["wfaudit_hookspecs", "wfaudit"])
def test_every_public_name_of_the_lazy_packages_is_the_real_one(package: str) -> None:
    """``wfaudit_hookspecs`` and ``wfaudit`` load most names on first use; each
    name of ``__all__`` must still be there, and be the object of its module."""
    code = (
        "import importlib, json, sys\n"
        f"package = importlib.import_module({package!r})\n"
        "lazy = dict(package._LAZY)\n"
        "found = {}\n"
        "for name in package.__all__:\n"
        "    value = getattr(package, name)\n"
        "    module = lazy.get(name)\n"
        "    if module is not None:\n"
        "        where = module if '.' in module or module.startswith('wfaudit_') else "
        "package.__name__ + '.' + module\n"
        "        real = importlib.import_module(where)\n"
        "        real = real if name == module else getattr(real, name)\n"
        "        assert value is real, name\n"
        "    found[name] = True\n"
        "print(json.dumps(sorted(found)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    names = json.loads(result.stdout)
    module = importlib.import_module(package)
    assert names == sorted(module.__all__)
    assert set(vars(module).get("_LAZY", {})) <= set(module.__all__) | {"hookspecs"}


def test_trigger_loads_what_audits_and_nothing_else(tmp_path: pathlib.Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"pipelineName": "ci-7", "dockerPassword": "hunter2-secret"}))
    store = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    args = ("--store", store, "trigger", str(request), "--type", "CI", "--pipeline-id", "7")
    code, _, out = modules_after(*args, "--workflow-id", "1")  # creates the store
    assert code == 0, out
    for extra in ((), ("--json",)):
        code, modules, out = modules_after(*args, "--workflow-id", f"2{extra}", *extra)
        assert code == 0, out
        assert _loaded(modules, "wfaudit.auditor", "wfaudit_sql.store", "wfaudit_maskers")
        not_needed = (
            "rich",
            "wfaudit.render",
            "wfaudit.history_cli",
            "wfaudit.retention_cli",
            "wfaudit.ops_cli",
            "wfaudit_sql.cli",
            "wfaudit_web.app",
            "starlette",
            "wfaudit_prometheus.exporter",
            "keyring",
            "alembic",
            # The engine's modules a trigger does not use (history, diff, retrigger
            # planning is kept: its producers() stamps the manifest).
            "wfaudit.history",
            "wfaudit.diff",
            "wfaudit.retention",
            "wfaudit.remote",
        )
        assert _loaded(modules, *not_needed) == []


def test_the_plugins_commands_are_found_by_name_and_listed() -> None:
    code, _, out = modules_after("db", "--help")  # wfaudit-sql's command
    assert code == 0 and "upgrade" in out, out
    code, _, out = modules_after("--help")
    assert code == 0
    for name in ("db", "serve", "metrics", "trigger", "log", "spool", "keys"):
        assert f"  {name} " in out, name
    code, _, out = modules_after("no-such-command")
    assert code == 2 and "No such command 'no-such-command'" in out


def test_the_command_map_names_where_each_command_is() -> None:
    """:data:`COMMAND_MODULES` is complete and right: a stale entry would cost start-up."""
    cli_module._load_all_commands()
    root = cli_module.cli
    context = click.Context(root)
    defined_elsewhere = {}
    for name in root.list_commands(context):
        command = root.get_command(context, name)
        assert command is not None and command.callback is not None
        module = command.callback.__module__
        if module.startswith("wfaudit.") and module != "wfaudit.cli":
            defined_elsewhere[name] = module.removeprefix("wfaudit.")
    assert defined_elsewhere == cli_module.COMMAND_MODULES


def test_the_version_is_the_installed_distributions() -> None:
    assert wfaudit.__version__ == importlib.metadata.version("wfaudit")


def test_the_lazy_names_of_the_package() -> None:
    from wfaudit.auditor import Auditor
    from wfaudit.diff import SnapshotDiff

    assert wfaudit.Auditor is Auditor and wfaudit.SnapshotDiff is SnapshotDiff
    assert {"Auditor", "SnapshotDiff", "Change", "Outcome", "AuditFailed"} <= set(dir(wfaudit))
    assert all(hasattr(wfaudit, name) for name in wfaudit.__all__)
    with pytest.raises(AttributeError, match="NoSuchName"):
        wfaudit.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
