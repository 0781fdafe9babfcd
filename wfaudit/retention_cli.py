"""The retention commands: ``retention plan|apply|expire|run|keep``, ``hold
add|release|list``, ``archive ID``, ``restore ID``, and the listing behind ``log
--archived`` (every filter of ``log``, paged with ``--before``).

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

from wfaudit_hookspecs import HistoryQuery, InvalidRequest, hookimpl, utcnow
from wfaudit_hookspecs.retention import (
    ArchiveFilter,
    ArchiveRecord,
    HoldScope,
    LegalHold,
    SweepBusy,
)

from . import render, tables
from .auditor import Auditor
from .cli_support import (
    CliState,
    chosen_format,
    format_option,
    json_option,
    pass_state,
    store_options,
)
from .history import parse_time
from .retention import (
    Action,
    CycleResult,
    ExpiryReport,
    PlanItem,
    Sweeper,
    add_hold,
    parse_every,
    release_hold,
    run_every,
)
from .tables import Column, Rows
from .words import plural

__all__ = ["archive", "archived_listing", "hold", "restore", "retention"]

_SHOWN_ACTIONS = (Action.DELETE, Action.ARCHIVE, Action.HOLD, Action.REFERENCED, Action.KEEP)


def _time(value: Any) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _compact_time(text: str) -> str:
    """``2026-12-06 11:43`` → ``12-06 11:43`` (a narrow table's form)."""
    return text[5:] if len(text) == 16 else text


@click.group()
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
@pass_state
def plan(
    state: CliState, show_all: bool, limit: int, as_json: bool, output_format: str | None
) -> None:
    """Dry run: what a sweep now would archive, delete and keep, and why."""
    fmt = chosen_format(as_json, output_format)
    with state.auditor() as auditor:
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
@pass_state
def apply(state: CliState, no_orphans: bool, as_json: bool) -> None:
    """Archive, then delete, what the policy says is due; resumes an interrupted sweep."""
    with state.auditor() as auditor:
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


# -- archive expiry, scheduled runs ----------------------------------------------------------


def _bytes(count: int) -> str:
    return plural(count, "byte")


EXPIRY_COLUMNS = (
    Column("snapshot", "snapshot_id", "id"),
    Column("pipeline", "pipeline_id", priority=2),
    Column("bytes", "object_size", "fixed", priority=3, justify="right"),
    Column("action", "action", "fixed"),
    Column("why", "reason", priority=1, wrap=True),
)
"""The columns of ``wfaudit retention expire``, most important first."""


def _expiry_rows(report: ExpiryReport, limit: int) -> Rows:
    rows = Rows(
        list(EXPIRY_COLUMNS),
        title=f"Archive objects past their date as of {_time(report.as_of)} UTC "
        f"({'dry run' if report.dry_run else 'expiry'})",
    )
    for item in report.items[:limit]:
        rows.add(
            item.snapshot_id,
            item.pipeline_id,
            f"{item.object_size:,}",
            item.action,
            item.reason,
        )
    return rows


def expiry_summary(report: ExpiryReport) -> str:
    """One line: what an archive expiry sweep did (or would do)."""
    verb = "would expire" if report.dry_run else "expired"
    freed = "would free" if report.dry_run else "freed"
    return (
        f"{verb} {plural(report.expired, 'archive object')}, {freed} {_bytes(report.bytes_freed)}; "
        f"held {report.held}, snapshot in the store {report.in_store}, kept {report.kept}, "
        f"dated {report.dated}, unreadable {report.failed}"
    )


@retention.command()
@click.option("--dry-run", is_flag=True, help="Report what would expire; delete nothing.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Rows of the table (the JSON report lists up to 1,000).",
)
@store_options
@json_option
@pass_state
def expire(state: CliState, dry_run: bool, limit: int, as_json: bool) -> None:
    """Delete the archive objects past their retention date (never under a legal hold)."""
    with state.auditor() as auditor:
        sweeper = Sweeper.for_auditor(auditor)
        report = sweeper.expire(dry_run=dry_run)
    if as_json:
        click.echo(render.dump_json(render.to_json_data(report)))
    else:
        if report.items:
            tables.emit(_expiry_rows(report, limit))
            verb = "would be" if report.dry_run else "were"
            click.echo(f"expire: the object and its record {verb} deleted")
        click.echo(expiry_summary(report))
    if report.failed:
        sys.exit(1)


BUSY_EXIT = 75
"""``retention run --once`` skipped because another run holds the sweep lock
(EX_TEMPFAIL: a systemd unit says ``SuccessExitStatus=75``)."""


def cycle_line(result: CycleResult) -> str:
    """One line: how a retention cycle went."""
    run = result.run
    counts = run.counts
    did = (
        f"archived {counts.get('archived', 0)}, deleted {counts.get('deleted', 0)}, "
        f"blocked {counts.get('blocked', 0)}, expired {counts.get('expired', 0)} archive "
        f"objects ({_bytes(counts.get('bytes_freed', 0))} freed)"
    )
    if run.ok:
        return f"retention run {run.id} ok: {did}"
    return f"retention run {run.id} failed: {run.error}; {did}"


@retention.command("run")
@click.option(
    "--every",
    metavar="PERIOD",
    default=None,
    help="Run a cycle every PERIOD (15m, 1h, 1d) until interrupted.",
)
@click.option("--once", is_flag=True, help="Run one cycle and exit (for a CronJob or timer).")
@click.option(
    "--cycles",
    type=click.IntRange(min=1),
    default=None,
    help="With --every: stop after this many cycles.",
)
@store_options
@json_option
@pass_state
def run_command(
    state: CliState, every: str | None, once: bool, cycles: int | None, as_json: bool
) -> None:
    """Sweep the store, expire the archive and clean up orphans: once, or on a schedule.

    Each cycle holds the store's sweep lock (a second runner skips its cycle and
    says so; --once then exits 75), is recorded in the store (the last
    successful one is a metric), and a failed cycle is sent to the
    wfaudit_retention_run observers (a signed webhook with wfaudit-webhooks).
    Exit status of --once: 0 ok, 1 failed, 75 skipped (another run holds the lock).
    """
    if (every is None) == (not once):
        raise InvalidRequest("give one of --every PERIOD or --once")
    period = None if every is None else parse_every(every)

    def report(result: CycleResult, next_at: Any = None) -> None:
        if as_json:
            click.echo(json.dumps(render.to_json_data(result.run), default=str))
        else:
            after = "" if next_at is None else f"; next at {_time(next_at)} UTC"
            click.echo(cycle_line(result) + after)

    def busy(error: SweepBusy, next_at: Any) -> None:
        click.echo(f"{error}: this cycle is skipped; next at {_time(next_at)} UTC", err=True)

    with state.auditor() as auditor:
        sweeper = Sweeper.for_auditor(auditor)
        if period is None:
            try:
                result = sweeper.run_cycle()
            except SweepBusy as error:
                click.echo(f"{error}: this run is skipped", err=True)
                sys.exit(BUSY_EXIT)
            report(result)
            if not result.run.ok:
                sys.exit(1)
            return
        try:
            run_every(sweeper, period, cycles=cycles, on_cycle=report, on_busy=busy)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


@retention.command("keep")
@click.argument("snapshot_id")
@click.option("--until", "until", default=None, metavar="TIME", help="Keep the archive until then.")
@click.option("--forever", is_flag=True, help="Keep the archive indefinitely.")
@click.option(
    "--policy", "by_policy", is_flag=True, help="Give the date back to the policy (ttl or rule)."
)
@click.option("--reason", "note", default=None, help="Why (recorded in the audit trail).")
@click.option("--by", default=None, help="Who sets it.")
@store_options
@json_option
@pass_state
def keep_command(
    state: CliState,
    snapshot_id: str,
    until: str | None,
    forever: bool,
    by_policy: bool,
    note: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Set an archive's retention date by hand (reason manual), or give it back to the policy."""
    if sum((until is not None, forever, by_policy)) != 1:
        raise InvalidRequest("give one of --until TIME, --forever or --policy")
    with state.auditor() as auditor:
        sweeper = Sweeper.for_auditor(auditor, archive=False)
        record = sweeper.keep_archive(
            snapshot_id,
            until=None if until is None else parse_time(until),
            forever=forever,
            note=note,
            by=by,
        )
    if as_json:
        click.echo(render.dump_json(archived_json(record)))
        return
    when = "indefinitely" if record.expires_on is None else f"until {_time(record.expires_on)} UTC"
    click.echo(f"archive of {record.snapshot_id} kept {when} ({record.retention_reason})")


# -- legal holds ---------------------------------------------------------------------


@click.group()
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
@pass_state
def hold_add(
    state: CliState,
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
    with state.auditor() as auditor:
        placed = add_hold(
            Sweeper.for_auditor(auditor, archive=False).store,
            scope=scope,
            target=target,
            tenant=auditor.settings.tenant,
            reason=reason,
            by=by,
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
@pass_state
def hold_release(
    state: CliState, hold_id: str, reason: str | None, by: str | None, as_json: bool
) -> None:
    """Release a legal hold (what it covered may be deleted by the next sweep)."""
    with state.auditor() as auditor:
        released = release_hold(
            Sweeper.for_auditor(auditor, archive=False).store,
            hold_id,
            tenant=auditor.settings.tenant,
            reason=reason,
            by=by,
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
@pass_state
def hold_list(state: CliState, show_all: bool, as_json: bool, output_format: str | None) -> None:
    """List the active legal holds (with --all, the released ones too)."""
    with state.auditor() as auditor:
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


@click.command()
@click.argument("snapshot_id")
@store_options
@json_option
@pass_state
def archive(state: CliState, snapshot_id: str, as_json: bool) -> None:
    """Archive one snapshot now (it stays in the store)."""
    with state.auditor() as auditor:
        record = Sweeper.for_auditor(auditor).archive_one(snapshot_id)
    if as_json:
        click.echo(render.dump_json(render.to_json_data(record)))
    else:
        click.echo(f"{record.snapshot_id} archived to {record.archive_url} {record.object_key}")


@click.command()
@click.argument("snapshot_id")
@click.option("--by", default=None, help="Who restores it (recorded in the audit trail).")
@store_options
@json_option
@pass_state
def restore(state: CliState, snapshot_id: str, by: str | None, as_json: bool) -> None:
    """Bring an archived snapshot back into the store (every hash verified)."""
    with state.auditor() as auditor:
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


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


ARCHIVED_COLUMNS = (
    Column("id", "snapshot_id", "id"),
    Column("type", "workflow_type", "fixed", priority=2),
    Column("workflow", "workflow_id", priority=1),
    Column("pipeline", "pipeline_id", priority=4),
    Column("status", "status", "fixed", priority=3),
    Column("started", "started_on", "fixed", priority=6, compact=_compact_time),
    Column("finished", "finished_on", "fixed", priority=9, compact=_compact_time),
    Column("took", "duration", "fixed", priority=8),
    Column("archived", "archived_on", "fixed", priority=5, compact=_compact_time),
    Column("expires", "expires", priority=7),
    Column("in store", "present", "fixed", priority=10),
    Column("object", "object_key", priority=11),
)
"""The columns of ``wfaudit log --archived``, most important first."""


def archived_rows(records: list[ArchiveRecord]) -> Rows:
    """The table of ``wfaudit log --archived``."""
    rows = Rows(list(ARCHIVED_COLUMNS), title="Archived snapshots")
    for record in records:
        expires = (
            "-"
            if record.retention_reason is None
            else f"{_time(record.expires_on) if record.expires_on else 'never'} "
            f"({record.retention_reason})"
        )
        rows.add(
            record.snapshot_id,
            record.workflow_type,
            record.workflow_id,
            record.pipeline_id,
            record.status,
            _time(record.started_on),
            _time(record.finished_on),
            _duration(record.duration_seconds),
            _time(record.archived_on),
            expires,
            "yes" if record.present else "no",
            record.object_key,
        )
    return rows


ARCHIVE_FILTER_FIELDS: dict[str, str] = {
    "tenant": "the auditor's tenant scope",
    "pipeline_id": "pipeline_id",
    "workflow_id": "workflow_id",
    "workflow_type": "workflow_type",
    "status": "status",
    "labels": "labels",
    "since": "since",
    "before": "until",
    "before_id": "before (a cursor: the last snapshot id of the previous page)",
    "limit": "limit",
    "offset": "refused (no HEAD~N among archives)",
}
"""Where each filter of the live history (``HistoryQuery``) goes in an archive
listing: every filter ``wfaudit log`` takes applies to ``--archived`` too (a test
fails when ``HistoryQuery`` gains a field this mapping does not place)."""


def archive_filter(query: HistoryQuery, *, before: str | None = None) -> ArchiveFilter:
    """The archive filter of a live history query (``before``: the paging cursor)."""
    if query.offset:
        raise InvalidRequest("archived snapshots are paged with --before, not an offset")
    return ArchiveFilter(
        pipeline_id=query.pipeline_id,
        workflow_id=query.workflow_id,
        workflow_type=query.workflow_type,
        status=None if query.status is None else str(query.status),
        labels=tuple(sorted(query.labels.items())),
        since=query.since,
        until=query.before,
        before=before,
    )


def archived_records(
    auditor: Auditor, query: HistoryQuery, *, before: str | None = None
) -> list[ArchiveRecord]:
    """One page of archived snapshots (newest archive first) matching every filter."""
    store = Sweeper.for_auditor(auditor, archive=False).store
    where = archive_filter(query, before=before)
    records: list[ArchiveRecord] = []
    for record in store.iter_archives(
        tenant=auditor.settings.tenant, batch=min(query.limit, 500), where=where
    ):
        records.append(record)
        if len(records) >= query.limit:
            break
    return records


def archived_json(record: ArchiveRecord) -> dict[str, Any]:
    """One archive record as ``log --archived --json`` prints it."""
    data: dict[str, Any] = render.to_json_data(record)
    data["duration_seconds"] = record.duration_seconds
    return data


def archived_listing(
    auditor: Auditor,
    query: HistoryQuery,
    *,
    before: str | None = None,
    as_json: bool = False,
    fmt: str = "table",
) -> None:
    """Print a page of archived snapshots, newest archive first (``wfaudit log
    --archived``), with every filter of ``log`` applied, as JSON (``as_json``, or
    ``fmt`` json), a table or TSV (:mod:`wfaudit.tables`)."""
    records = archived_records(auditor, query, before=before)
    if as_json or fmt == "json":
        click.echo(render.dump_json([archived_json(record) for record in records]))
        return
    tables.emit(archived_rows(records), fmt)
    if fmt == "table" and len(records) == query.limit:
        click.echo(f"more: wfaudit log --archived ... --before {records[-1].snapshot_id}")


COMMANDS: tuple[click.Command, ...] = (
    retention,
    hold,
    archive,
    restore,
)
"""The commands this module adds to ``wfaudit``."""


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add :data:`COMMANDS` to the ``wfaudit`` group."""
    for command in COMMANDS:
        cli.add_command(command)
