"""The ``wfaudit import`` commands (added to the ``wfaudit`` group by ``wfaudit.cli``).

``wfaudit import devtron --from postgresql://...`` brings Devtron's
``workflow_config_snapshot`` history into the store (see
:mod:`wfaudit.devtron_import` and docs/devtron.md).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import attrs
import click

from wfaudit_hookspecs import StoreNotFound, hookimpl

from . import render
from .cli_support import CliState, WfauditGroup, json_option, pass_state, store_options
from .devtron_import import DEFAULT_TABLE, import_rows, summary_lines

if TYPE_CHECKING:
    from .auditor import Auditor

__all__ = ["devtron", "import_group"]


def _auditor(state: CliState, dry_run: bool) -> Auditor:
    """The store's auditor; for a dry run on a store that does not exist yet, one on
    an empty in-memory store (nothing is present, nothing is created)."""
    if not dry_run:
        return state.auditor(strict=True, create=True)
    try:
        return state.auditor(strict=True, create=False)
    except StoreNotFound:
        from .auditor import Auditor

        return Auditor.from_url("sqlite:///:memory:", tenant=state.tenant, strict=True, create=True)


@click.group("import", cls=WfauditGroup)
def import_group() -> None:
    """Import the audit history of another system (Devtron)."""


@import_group.command()
@click.option(
    "--from",
    "source",
    metavar="URL",
    required=True,
    envvar="WFAUDIT_DEVTRON_URL",
    help="Devtron's PostgreSQL database: postgresql://USER@HOST:PORT/DATABASE "
    "(or WFAUDIT_DEVTRON_URL, which keeps a password off the command line).",
)
@click.option(
    "--table",
    default=DEFAULT_TABLE,
    show_default=True,
    help="The snapshot table (NAME or SCHEMA.NAME).",
)
@click.option("--dry-run", is_flag=True, help="Decode, check and mask every row; write nothing.")
@store_options
@json_option
@pass_state
def devtron(state: CliState, source: str, table: str, dry_run: bool, as_json: bool) -> None:
    """Import Devtron's workflow_config_snapshot rows as snapshots.

    Each row is decoded (base64, gzip, JSON), held to the identity rules of a live
    trigger, masked with the current maskers (Devtron blanked only eight fields)
    and stored with its original times and identities, labelled
    imported-from=devtron. Re-running imports nothing new; an interrupted run
    continues. --dry-run reads the store to tell what is present already, and
    never creates one (a store that does not exist has nothing). Prints a summary (imported,
    already present, refused with the reason); exit 1 when a row was refused. A
    progress bar goes to standard error when it is a terminal.
    """
    with _auditor(state, dry_run) as auditor:
        if sys.stderr.isatty() and not as_json:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=render.console(stderr=True),
                transient=True,
            ) as bar:
                task = bar.add_task("importing Devtron rows", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                report = import_rows(
                    auditor, source, table=table, dry_run=dry_run, progress=progress
                )
        else:
            report = import_rows(auditor, source, table=table, dry_run=dry_run)
    if as_json:
        data = attrs.asdict(report)
        data["refused"] = [attrs.asdict(r) for r in report.refused]
        click.echo(render.dump_json(data))
    else:
        for line in summary_lines(report):
            click.echo(line)
    if report.refused:
        sys.exit(1)


COMMANDS: tuple[click.Command, ...] = (import_group,)
"""The commands this module adds to ``wfaudit``."""


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add :data:`COMMANDS` to the ``wfaudit`` group."""
    for command in COMMANDS:
        cli.add_command(command)
