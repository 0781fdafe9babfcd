"""The retention commands: ``retention plan|apply``, ``hold add|release|list``,
``archive ID``, ``restore ID``, and the listing behind ``log --archived``.

Defined here and added to the ``wfaudit`` group by ``wfaudit.cli``. The policy is
``[tool.wfaudit.retention]`` of ``wfaudit.toml`` / ``pyproject.toml`` (see
docs/retention.md); the archive is its ``archive_url`` (or ``WFAUDIT_ARCHIVE_URL``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from wfaudit_hookspecs import InvalidRequest, utcnow
from wfaudit_hookspecs.retention import ArchiveRecord, HoldScope, LegalHold

from . import render
from .auditor import Auditor
from .cli import CliState, cli, json_option, store_options
from .retention import Action, PlanItem, Sweeper
from .words import plural

__all__ = ["archive", "archived_listing", "hold", "restore", "retention"]

_SHOWN_ACTIONS = (Action.DELETE, Action.ARCHIVE, Action.HOLD, Action.REFERENCED, Action.KEEP)


def _state() -> CliState:
    state: CliState = click.get_current_context().find_root().obj
    return state


def _time(value: Any) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _print(*renderables: Any) -> None:
    """Print rich renderables through ``click.echo``. Rich ends the process with
    status 1 when its reader goes away (``wfaudit retention plan | head``); a
    write through click raises BrokenPipeError instead, which the command group
    ends quietly with status 0, as every other command."""
    console = render.console()
    with console.capture() as capture:
        for renderable in renderables:
            console.print(renderable)
    click.echo(capture.get(), nl=False)


@cli.group()
def retention() -> None:
    """Plan and apply the retention policy (archive, then delete, what is due)."""


@retention.command()
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="List every snapshot, not only those acted on or blocked.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Rows of the table (the JSON report lists every item).",
)
@store_options
@json_option
def plan(show_all: bool, limit: int, as_json: bool) -> None:
    """Dry run: what a sweep now would archive, delete and keep, and why."""
    with _state().auditor() as auditor:
        sweeper = Sweeper.for_auditor(auditor)
        as_of = utcnow()
        items = sweeper.plan(as_of=as_of)
        configured = bool(auditor.settings.options.get("retention"))
        if as_json:
            _plan_json(items, as_of, show_all, configured)
        else:
            if not configured:
                click.echo(NO_POLICY)
            _plan_table(items, as_of, show_all, limit)


NO_POLICY = (
    "no retention policy is configured ([tool.wfaudit.retention] in pyproject.toml, or "
    "[retention] in wfaudit.toml): the defaults apply (succeeded and cancelled 30d; "
    "failed, error, running and triggered 90d)"
)


def _item_data(item: PlanItem) -> dict[str, Any]:
    data: dict[str, Any] = render.to_json_data(item)
    return data


def _plan_json(items: Iterator[PlanItem], as_of: Any, show_all: bool, configured: bool) -> None:
    """Stream the report: one item at a time, so memory stays flat.
    ``policy_configured`` is false when the defaults apply."""
    counts: Counter[str] = Counter()
    archived = 0
    out = sys.stdout
    out.write('{\n  "as_of": ' + render.dump_json(as_of.isoformat()))
    out.write(',\n  "policy_configured": ' + json.dumps(configured) + ',\n  "items": [')
    first = True
    for item in items:
        counts[item.action.value] += 1
        archived += item.archive
        if item.action == Action.KEEP and not show_all:
            continue
        out.write(("\n    " if first else ",\n    ") + json.dumps(_item_data(item), default=str))
        first = False
    summary = {"counts": dict(sorted(counts.items())), "archived": archived}
    out.write('\n  ],\n  "summary": ' + json.dumps(summary) + "\n}\n")
    out.flush()


def _plan_table(items: Iterator[PlanItem], as_of: Any, show_all: bool, limit: int) -> None:
    table = Table(title=f"Retention plan as of {_time(as_of)} UTC", title_justify="left")
    for column in ("snapshot", "pipeline", "status", "action", "why"):
        table.add_column(column, overflow="fold")
    counts: Counter[str] = Counter()
    archived = listed = 0
    for item in items:
        counts[item.action.value] += 1
        archived += item.archive
        if item.action == Action.KEEP and not show_all:
            continue
        listed += 1
        if listed <= limit:
            render.add_row(
                table,
                item.snapshot_id,
                item.pipeline_id,
                item.status,
                item.action.value,
                item.reason,
            )
    shown: list[Any] = []
    if listed:
        shown.append(table)
        if listed > limit:
            shown.append(Text(f"... and {listed - limit} more (--limit, or --json for all)"))
    summary = Table(title="Summary", title_justify="left")
    summary.add_column("action")
    summary.add_column("snapshots", justify="right")
    for action in _SHOWN_ACTIONS:
        render.add_row(summary, action.value, str(counts[action.value]))
    render.add_row(summary, "(archived by the sweep)", str(archived))
    _print(*shown, summary)


@retention.command()
@click.option("--no-orphans", is_flag=True, help="Skip the orphan cleanup after the sweep.")
@store_options
@json_option
def apply(no_orphans: bool, as_json: bool) -> None:
    """Archive, then delete, what the policy says is due; resumes an interrupted sweep."""
    with _state().auditor() as auditor:
        sweeper = Sweeper.for_auditor(auditor)
        if sys.stderr.isatty() and not as_json:
            with Progress(
                TextColumn("{task.description}", markup=False, style="progress.description"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=render.console(stderr=True),
                transient=True,
            ) as progress:
                task = progress.add_task("sweeping", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                report = sweeper.apply(orphans=not no_orphans, on_item=advance)
        else:
            report = sweeper.apply(orphans=not no_orphans)
    if as_json:
        click.echo(render.dump_json(render.to_json_data(report)))
        if report.failed:
            sys.exit(1)
        return
    resumed = " (resumed an interrupted sweep)" if report.resumed else ""
    click.echo(f"sweep {report.sweep_id} as of {_time(report.as_of)} UTC{resumed}")
    click.echo(
        f"archived {report.archived}, deleted {report.deleted}, blocked {report.blocked}; "
        + ", ".join(f"{key} {value}" for key, value in sorted(report.counts.items()))
    )
    click.echo(
        f"orphans removed: {plural(report.orphan_blobs, 'blob')}, "
        f"{plural(report.orphan_manifests, 'manifest')}, "
        f"{plural(report.orphan_objects, 'archive object')}"
    )
    if report.failed:
        # Each one skipped: neither archived nor deleted; the next sweep tries again.
        click.echo(f"failed {report.failed} (skipped, left in the store):")
        for failure in report.failures:
            click.echo(f"  {failure.snapshot_id}: {failure.error}")
        sys.exit(1)


# -- legal holds ---------------------------------------------------------------------


@cli.group()
def hold() -> None:
    """Legal holds: while active, nothing they cover is deleted."""


def _hold_table(holds: list[LegalHold]) -> Table:
    table = Table(title="Legal holds", title_justify="left")
    for column in ("id", "scope", "target", "tenant", "since", "by", "reason", "released"):
        table.add_column(column, overflow="fold")
    for item in holds:
        render.add_row(
            table,
            item.id,
            item.scope,
            item.target,
            item.tenant or "-",
            _time(item.created_on),
            item.created_by or "-",
            item.reason or "-",
            _time(item.released_on),
        )
    return table


@hold.command("add")
@click.option("--snapshot", "snapshot_id", default=None, help="Hold one snapshot (by id).")
@click.option("--pipeline", "pipeline_id", default=None, help="Hold every snapshot of a pipeline.")
@click.option(
    "--selector", default=None, metavar="K=V[,K=V]", help="Hold every snapshot with these labels."
)
@click.option("--reason", default=None, help="Why (a case number, say).")
@click.option("--by", default=None, help="Who places the hold.")
@store_options
@json_option
def hold_add(
    snapshot_id: str | None,
    pipeline_id: str | None,
    selector: str | None,
    reason: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Place a legal hold on a snapshot, a pipeline or a label selector."""
    given = [
        (scope, target)
        for scope, target in (
            (HoldScope.SNAPSHOT, snapshot_id),
            (HoldScope.PIPELINE, pipeline_id),
            (HoldScope.SELECTOR, selector),
        )
        if target
    ]
    if len(given) != 1:
        raise InvalidRequest("give exactly one of --snapshot, --pipeline or --selector")
    scope, target = given[0]
    with _state().auditor() as auditor:
        placed = Sweeper.for_auditor(auditor, archive=False).store.add_hold(
            scope=scope, target=target, tenant=auditor.settings.tenant, reason=reason, by=by
        )
    if as_json:
        click.echo(render.dump_json(render.to_json_data(placed)))
    else:
        click.echo(f"legal hold {placed.id} placed on {placed.scope} {placed.target}")


@hold.command("release")
@click.argument("hold_id")
@click.option("--reason", default=None, help="Why it is released.")
@click.option("--by", default=None, help="Who releases it.")
@store_options
@json_option
def hold_release(hold_id: str, reason: str | None, by: str | None, as_json: bool) -> None:
    """Release a legal hold (what it covered may be deleted by the next sweep)."""
    with _state().auditor() as auditor:
        released = Sweeper.for_auditor(auditor, archive=False).store.release_hold(
            hold_id, tenant=auditor.settings.tenant, reason=reason, by=by
        )
    if as_json:
        click.echo(render.dump_json(render.to_json_data(released)))
    else:
        click.echo(f"legal hold {released.id} released")


@hold.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include released holds.")
@store_options
@json_option
def hold_list(show_all: bool, as_json: bool) -> None:
    """List the active legal holds (with --all, the released ones too)."""
    with _state().auditor() as auditor:
        holds = Sweeper.for_auditor(auditor, archive=False).store.list_holds(
            tenant=auditor.settings.tenant, active=not show_all
        )
    if as_json:
        click.echo(render.dump_json(render.to_json_data(holds)))
    else:
        _print(_hold_table(holds))


# -- archive and restore -----------------------------------------------------------------


@cli.command()
@click.argument("snapshot_id")
@store_options
@json_option
def archive(snapshot_id: str, as_json: bool) -> None:
    """Archive one snapshot now (it stays in the store)."""
    with _state().auditor() as auditor:
        record = Sweeper.for_auditor(auditor).archive_one(snapshot_id)
    if as_json:
        click.echo(render.dump_json(render.to_json_data(record)))
    else:
        click.echo(f"{record.snapshot_id} archived to {record.archive_url} {record.object_key}")


@cli.command()
@click.argument("snapshot_id")
@click.option("--by", default=None, help="Who restores it (recorded in the audit trail).")
@store_options
@json_option
def restore(snapshot_id: str, by: str | None, as_json: bool) -> None:
    """Bring an archived snapshot back into the store (every hash verified)."""
    with _state().auditor() as auditor:
        result = Sweeper.for_auditor(auditor).restore(snapshot_id, by=by)
    if as_json:
        click.echo(render.dump_json(render.to_json_data(result)))
    elif result.restored:
        click.echo(
            f"{result.snapshot_id} restored from {result.object_key} "
            f"(content hash {result.content_hash[:12]} verified)"
        )
    else:
        click.echo(f"{result.snapshot_id} is in the store already; nothing to restore")


def archived_table(records: list[ArchiveRecord]) -> Table:
    """The rich table of ``wfaudit log --archived``."""
    table = Table(title="Archived snapshots", title_justify="left")
    for column in (
        "id",
        "type",
        "workflow",
        "pipeline",
        "status",
        "created",
        "archived",
        "in store",
        "object",
    ):
        table.add_column(column, overflow="fold")
    for record in records:
        render.add_row(
            table,
            record.snapshot_id,
            record.workflow_type,
            record.workflow_id,
            record.pipeline_id,
            record.status,
            _time(record.created_on),
            _time(record.archived_on),
            "yes" if record.present else "no",
            record.object_key,
        )
    return table


def archived_listing(
    auditor: Auditor, *, pipeline_id: str | None = None, limit: int = 50, as_json: bool = False
) -> None:
    """Print the archived snapshots, newest archive first (``wfaudit log --archived``)."""
    store = Sweeper.for_auditor(auditor, archive=False).store
    records: list[ArchiveRecord] = []
    for record in store.iter_archives(tenant=auditor.settings.tenant, batch=min(limit, 500)):
        if pipeline_id is not None and record.pipeline_id != pipeline_id:
            continue
        records.append(record)
        if len(records) >= limit:
            break
    if as_json:
        click.echo(render.dump_json(render.to_json_data(records)))
    else:
        _print(archived_table(records))
