"""``wfaudit spool``: look at the spool and manage the files drain set aside.

``wfaudit drain`` replays the spool and moves a file that can never be replayed
(the store refused its snapshot for good, or the file is damaged) to the
quarantine, with the reason, and goes on with the next. Nothing leaves the
quarantine but by these commands: ``list`` shows the files and their reasons,
``retry`` puts files back and drains (after the cause was fixed: a schema
upgraded, a conflicting snapshot resolved), ``discard`` deletes them.

Every spool of the data directory is covered: the default one and each worker's
of ``wfaudit serve --workers N`` (:func:`wfaudit.spool.spool_roots`).
"""

from __future__ import annotations

import sys

import click

from wfaudit_hookspecs import hookimpl

from . import render, tables
from .cli_support import (
    CliState,
    chosen_format,
    format_option,
    json_option,
    pass_state,
    store_options,
)
from .ops_cli import print_drain_report
from .spool import QuarantinedFile, Spool, SpoolError, spool_roots
from .tables import Column, Rows
from .words import plural

__all__ = ["spool"]


def _spools(state: CliState) -> list[Spool]:
    """The spools of the store in ``--store``: the default one first, then each
    worker's that exists (no store is opened: the store may be down)."""
    from .settings import Settings

    settings = Settings.load(store_url=state.store_url)
    roots = spool_roots(settings.home / "spool")
    spools = [Spool(root, settings.store_url) for root in roots]
    return [spools[0], *(each for each in spools[1:] if each.directory.is_dir())]


def _item_data(item: QuarantinedFile) -> dict[str, object]:
    return {
        "file": item.name,
        "kind": item.kind,
        "reason": item.reason,
        "snapshot_id": item.snapshot_id,
        "workflow_id": item.workflow_id,
        "workflow_type": item.workflow_type,
        "tenant": item.tenant,
        "written_on": item.written_on,
        "path": str(item.path),
    }


def _selected(
    state: CliState, names: tuple[str, ...], every: bool
) -> list[tuple[Spool, QuarantinedFile]]:
    """The quarantined files named (or every one), each with the spool it is in."""
    spools = _spools(state)
    tenant = state.tenant
    if every == bool(names):
        raise click.UsageError("name the files (snapshot ids or file names) or give --all")
    if every:
        return [(each, item) for each in spools for item in each.quarantined_files(tenant)]
    found = []
    for name in dict.fromkeys(names):
        for each in spools:
            try:
                found.append((each, each.find_quarantined(name, tenant)))
                break
            except SpoolError as error:
                missing = error
        else:
            raise click.ClickException(str(missing)) from None
    return found


@click.group()
def spool() -> None:
    """The spool: snapshots waiting for the store, and the files drain set aside."""


QUARANTINE_COLUMNS = (
    Column("snapshot", "snapshot_id", "id"),
    Column("workflow", "workflow", priority=1),
    Column("tenant", "tenant", priority=3),
    Column("kind", "kind", "fixed", priority=2),
    Column("reason", "reason", wrap=True),
)
"""The columns of ``wfaudit spool list``, most important first."""


@spool.command("list")
@store_options
@json_option
@format_option
@pass_state
def list_files(state: CliState, as_json: bool, output_format: str | None) -> None:
    """How many snapshots wait, and every quarantined file with its reason
    (--format tsv: the quarantined files only)."""
    fmt = chosen_format(as_json, output_format)
    spools = _spools(state)
    tenant = state.tenant
    counts = [(each, each.depth(tenant), each.quarantined_files(tenant)) for each in spools]
    items = [item for _, _, found in counts for item in found]
    if fmt == "json":
        click.echo(
            render.dump_json(
                {
                    "spool": str(spools[0].directory),
                    "waiting": sum(waiting for _, waiting, _ in counts),
                    "quarantined": [_item_data(item) for item in items],
                    "spools": [
                        {
                            "spool": str(each.directory),
                            "waiting": waiting,
                            "quarantined": len(found),
                        }
                        for each, waiting, found in counts
                    ],
                }
            )
        )
        return
    rows = Rows(list(QUARANTINE_COLUMNS), title="Quarantined (set aside by drain)")
    for item in items:
        rows.add(
            item.snapshot_id or item.name,
            f"{item.workflow_type} {item.workflow_id}" if item.readable else "?",
            item.tenant,
            item.kind,
            item.reason,
        )
    if fmt == "tsv":
        tables.emit(rows, "tsv")
        return
    for each, waiting, found in counts:
        click.echo(f"spool {each.directory}: {waiting} waiting, {len(found)} quarantined")
    if items:
        tables.emit(rows)


@spool.command()
@click.argument("names", nargs=-1, metavar="[SNAPSHOT_ID|FILE]...")
@click.option("--all", "every", is_flag=True, help="Every quarantined file (of --tenant).")
@click.option(
    "--no-drain", is_flag=True, help="Only put the files back; the next drain replays them."
)
@store_options
@json_option
@pass_state
def retry(
    state: CliState, names: tuple[str, ...], every: bool, no_drain: bool, as_json: bool
) -> None:
    """Put quarantined files back in the spool and drain it; exit 1 if any is set aside again."""
    moved: list[str] = []
    for each, item in _selected(state, names, every):
        try:
            each.requeue(item)
        except SpoolError as error:
            raise click.ClickException(str(error)) from None
        moved.append(item.name)
    report = None
    if moved and not no_drain:
        with state.auditor(strict=False) as auditor:
            report = auditor.drain_spools()
    if as_json:
        data: dict[str, object] = {"requeued": moved}
        if report is not None:
            data["drain"] = {**render.to_json_data(report), "ok": report.ok}
        click.echo(render.dump_json(data))
    else:
        click.echo(f"put back {plural(len(moved), 'file')}")
        if report is not None:
            print_drain_report(report)
    if report is not None and not report.ok:
        sys.exit(1)


@spool.command()
@click.argument("names", nargs=-1, metavar="[SNAPSHOT_ID|FILE]...")
@click.option("--all", "every", is_flag=True, help="Every quarantined file (of --tenant).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@store_options
@json_option
@pass_state
def discard(state: CliState, names: tuple[str, ...], every: bool, yes: bool, as_json: bool) -> None:
    """Delete quarantined files for good (their snapshots never reach the store)."""
    selected = _selected(state, names, every)
    items = [item for _, item in selected]
    if items and not yes:
        click.confirm(
            f"delete {plural(len(items), 'quarantined file')} for good? Their snapshots never "
            "reach the store",
            abort=True,
            err=True,
        )
    for each, item in selected:
        each.discard(item)
    if as_json:
        click.echo(render.dump_json({"discarded": [_item_data(item) for item in items]}))
        return
    for item in items:
        click.echo(f"discarded {item.name} ({item.kind}: {item.reason})")
    click.echo(f"discarded {plural(len(items), 'file')}")


COMMANDS: tuple[click.Command, ...] = (spool,)
"""The commands this module adds to ``wfaudit``."""


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add :data:`COMMANDS` to the ``wfaudit`` group."""
    for command in COMMANDS:
        cli.add_command(command)
