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

from wfaudit_hookspecs import InvalidRequest, utcnow
from wfaudit_hookspecs.retention import ArchiveRecord, HoldScope, LegalHold

from . import render, tables
from .auditor import Auditor
from .cli import CliState, chosen_format, cli, format_option, json_option, store_options
from .retention import Action, PlanItem, Sweeper
from .tables import Column, Rows
from .words import plural

__all__ = ["archive", "archived_listing", "hold", "restore", "retention"]

_SHOWN_ACTIONS = (Action.DELETE, Action.ARCHIVE, Action.HOLD, Action.REFERENCED, Action.KEEP)


def _state() -> CliState:
    state: CliState = click.get_current_context().find_root().obj
    return state


def _time(value: Any) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _compact_time(text: str) -> str:
    """``2026-12-06 11:43`` → ``12-06 11:43`` (a narrow table's form)."""
    return text[5:] if len(text) == 16 else text


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
    help="Rows of the table (the JSON and TSV reports list every item).",
)
@store_options
@json_option
@format_option
def plan(show_all: bool, limit: int, as_json: bool, output_format: str | None) -> None:
    """Dry run: what a sweep now would archive, delete and keep, and why."""
    fmt = chosen_format(as_json, output_format)
    with _state().auditor() as auditor:
        sweeper = Sweeper.for_auditor(auditor)
        as_of = utcnow()
        items = sweeper.plan(as_of=as_of)
        configured = bool(auditor.settings.options.get("retention"))
        if fmt == "json":
            _plan_json(items, as_of, show_all, configured)
        elif fmt == "tsv":
            _plan_tsv(items, show_all)
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


PLAN_COLUMNS = (
    Column("snapshot", "snapshot_id", "id"),
    Column("pipeline", "pipeline_id", priority=2),
    Column("status", "status", "fixed", priority=3),
    Column("action", "action", "fixed"),
    Column("why", "reason", priority=1, wrap=True),
)
"""The columns of ``wfaudit retention plan``, most important first."""


def _plan_cells(item: PlanItem) -> tuple[str, str, str, str, str]:
    return item.snapshot_id, item.pipeline_id, item.status, item.action.value, item.reason


def _plan_tsv(items: Iterator[PlanItem], show_all: bool) -> None:
    """Every item acted on or blocked (every item with ``show_all``), streamed."""
    click.echo(tables.tsv_header(PLAN_COLUMNS))
    for item in items:
        if item.action != Action.KEEP or show_all:
            click.echo(tables.tsv_line(_plan_cells(item)))


def _plan_table(items: Iterator[PlanItem], as_of: Any, show_all: bool, limit: int) -> None:
    rows = Rows(list(PLAN_COLUMNS), title=f"Retention plan as of {_time(as_of)} UTC")
    counts: Counter[str] = Counter()
    archived = listed = 0
    for item in items:
        counts[item.action.value] += 1
        archived += item.archive
        if item.action == Action.KEEP and not show_all:
            continue
        listed += 1
        if listed <= limit:
            rows.add(*_plan_cells(item))
    if listed:
        tables.emit(rows)
        if listed > limit:
            click.echo(f"... and {listed - limit} more (--limit, or --json for all)")
    counted = Column("snapshots", "count", "fixed", justify="right")
    summary = Rows([Column("action", "action", "fixed"), counted], title="Summary")
    for action in _SHOWN_ACTIONS:
        summary.add(action.value, str(counts[action.value]))
    summary.add("(archived by the sweep)", str(archived))
    tables.emit(summary)


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


HOLD_COLUMNS = (
    Column("id", "id", "id"),
    Column("scope", "scope", "fixed", priority=3),
    Column("target", "target", "id"),
    Column("tenant", "tenant", priority=6),
    Column("since", "created_on", "fixed", priority=4, compact=_compact_time),
    Column("by", "created_by", priority=5),
    Column("reason", "reason", priority=2, wrap=True),
    Column("released", "released_on", "fixed", priority=7, compact=_compact_time),
)
"""The columns of ``wfaudit hold list``, most important first."""


def _hold_rows(holds: list[LegalHold]) -> Rows:
    rows = Rows(list(HOLD_COLUMNS), title="Legal holds")
    for item in holds:
        rows.add(
            item.id,
            item.scope,
            item.target,
            item.tenant,
            _time(item.created_on),
            item.created_by,
            item.reason,
            None if item.released_on is None else _time(item.released_on),
        )
    return rows


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
@format_option
def hold_list(show_all: bool, as_json: bool, output_format: str | None) -> None:
    """List the active legal holds (with --all, the released ones too)."""
    with _state().auditor() as auditor:
        holds = Sweeper.for_auditor(auditor, archive=False).store.list_holds(
            tenant=auditor.settings.tenant, active=not show_all
        )
    fmt = chosen_format(as_json, output_format)
    if fmt == "json":
        click.echo(render.dump_json(render.to_json_data(holds)))
    elif not holds and fmt == "table":
        click.echo(
            "no legal hold"
            + ("" if show_all else " is active")
            + ": `wfaudit hold add --snapshot ID` places one"
        )
    else:
        tables.emit(_hold_rows(holds), fmt)


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


ARCHIVED_COLUMNS = (
    Column("id", "snapshot_id", "id"),
    Column("type", "workflow_type", "fixed", priority=2),
    Column("workflow", "workflow_id", priority=1),
    Column("pipeline", "pipeline_id", priority=4),
    Column("status", "status", "fixed", priority=3),
    Column("created", "created_on", "fixed", priority=6, compact=_compact_time),
    Column("archived", "archived_on", "fixed", priority=5, compact=_compact_time),
    Column("in store", "present", "fixed", priority=7),
    Column("object", "object_key", priority=8),
)
"""The columns of ``wfaudit log --archived``, most important first."""


def archived_rows(records: list[ArchiveRecord]) -> Rows:
    """The table of ``wfaudit log --archived``."""
    rows = Rows(list(ARCHIVED_COLUMNS), title="Archived snapshots")
    for record in records:
        rows.add(
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
    return rows


def archived_listing(
    auditor: Auditor,
    *,
    pipeline_id: str | None = None,
    limit: int = 50,
    as_json: bool = False,
    fmt: str = "table",
) -> None:
    """Print the archived snapshots, newest archive first (``wfaudit log --archived``),
    as JSON (``as_json``, or ``fmt`` json), a table or TSV (:mod:`wfaudit.tables`)."""
    store = Sweeper.for_auditor(auditor, archive=False).store
    records: list[ArchiveRecord] = []
    for record in store.iter_archives(tenant=auditor.settings.tenant, batch=min(limit, 500)):
        if pipeline_id is not None and record.pipeline_id != pipeline_id:
            continue
        records.append(record)
        if len(records) >= limit:
            break
    if as_json or fmt == "json":
        click.echo(render.dump_json(render.to_json_data(records)))
    else:
        tables.emit(archived_rows(records), fmt)
