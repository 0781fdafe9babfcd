"""The operations commands: ``verify``, ``anchor``, ``stats``, ``drain``, ``backup``, ``health``.

Defined here and added to the ``wfaudit`` group by ``wfaudit.cli``. Each opens
an auditor with the root's ``--store`` and ``--tenant`` (so a tenant-scoped
command sees and touches only that tenant's data) and takes ``--json``.
"""

from __future__ import annotations

import os
import pathlib
import sys

import click

from wfaudit_hookspecs import StoreError, StoreMaintenance, hookimpl

from . import render
from .cli_support import CliState, json_option, pass_state, store_options
from .json_data import verify_data
from .spool import DrainReport
from .words import plural

__all__ = ["anchor", "backup", "drain", "health", "print_drain_report", "stats", "verify"]


@click.command()
@click.option(
    "--max-findings",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="List at most this many findings (all are counted).",
)
@click.option(
    "--anchors",
    "anchor_file",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="An anchor file written by `wfaudit anchor`: every chain must still pass "
    "through its recorded head, and a chain outside its tenant set must be keyed.",
)
@store_options
@json_option
@pass_state
def verify(
    state: CliState, max_findings: int, anchor_file: pathlib.Path | None, as_json: bool
) -> None:
    """Check the audit trail's keyed hash chains, every snapshot against its events,
    the holds, tags, annotations and archive records against theirs, and every
    blob against its content hash; exit 1 if anything was changed behind the
    store's back (modified, deleted, reordered or inserted rows)."""
    from .verify import load_anchor
    from .verify import verify as run_verify

    text = None if anchor_file is None else _read_anchor_file(anchor_file)
    with state.auditor() as auditor:
        anchor = None if text is None else load_anchor(text, auditor, source=str(anchor_file))
        if sys.stderr.isatty() and not as_json:
            with render.console(stderr=True).status("verifying the audit trail and blobs..."):
                report = run_verify(auditor, max_findings=max_findings, anchor=anchor)
        else:
            report = run_verify(auditor, max_findings=max_findings, anchor=anchor)
    if as_json:
        click.echo(render.dump_json(verify_data(report)))
    else:
        scope = f" of tenant {report.tenant!r}" if report.tenant else ""
        click.echo(
            f"checked{scope}: {plural(report.chains, 'chain')}, "
            f"{plural(report.events, 'event')}, {plural(report.snapshots, 'snapshot')}, "
            f"{plural(report.blobs, 'blob')}"
        )
        for head in report.heads:
            click.echo(f"chain {head.tenant or '(no tenant)'}: head #{head.seq} {head.hash}")
        if report.anchored:
            click.echo(f"checked against the anchors in {anchor_file}")
        if report.ok:
            click.echo("verify: OK, nothing was changed behind the store's back")
        else:
            for finding in report.findings:
                click.echo(
                    f"{finding.problem.upper():10} {finding.table}/{finding.key}: {finding.detail}"
                )
            more = report.findings_total - len(report.findings)
            if more:
                click.echo(f"... and {more} more")
            click.echo(f"verify: FAILED, {plural(report.findings_total, 'finding')}")
    if not report.ok:
        sys.exit(1)


def _read_anchor_file(path: pathlib.Path) -> str:
    from .verify import AnchorError

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise AnchorError(f"cannot read the anchor file {path}: {reason}") from None


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="Write the anchor to this file (mode 0600) instead of standard output.",
)
@click.option(
    "--previous",
    "previous_file",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="The last anchor: verify against it first, so that a new anchor never "
    "certifies what was changed since.",
)
@store_options
@pass_state
def anchor(
    state: CliState, output: pathlib.Path | None, previous_file: pathlib.Path | None
) -> None:
    """Verify the store, then write its chain heads (every tenant's, with the set
    of tenants) as an anchor for `wfaudit verify --anchors`. Keep it where the
    store's operators cannot write: a later verify proves the trail up to these
    heads was neither rewritten nor cut short, and no tenant chain was forged."""
    from .verify import load_anchor, make_anchor
    from .verify import verify as run_verify

    text = None if previous_file is None else _read_anchor_file(previous_file)
    with state.auditor() as auditor:
        previous = None if text is None else load_anchor(text, auditor, source=str(previous_file))
        report = run_verify(auditor, max_findings=1, anchor=previous)
        data = make_anchor(auditor, report).to_json(auditor)
    text = render.dump_json(data)
    if output is None:
        click.echo(text)
        return
    _write_private(output, text + "\n")
    click.echo(
        f"anchored {plural(len(data['heads']), 'chain')} in {output}; keep it where the store's "
        "operators cannot write"
    )


def _write_private(path: pathlib.Path, text: str) -> None:
    """Write a file atomically, readable by its owner only."""
    from .verify import AnchorError

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise AnchorError(f"cannot write the anchor file {path}: {error.strerror}") from None


@click.command()
@store_options
@json_option
@pass_state
def stats(state: CliState, as_json: bool) -> None:
    """Counts, bytes raw vs stored, compression and dedup ratios, spool depth."""
    from .json_data import stats_data

    with state.auditor() as auditor:
        data = stats_data(auditor)  # the web API's /api/v1/stats renders the same
        url = auditor.store.url
    if as_json:
        click.echo(render.dump_json({"store": url, **data}))
        return
    click.echo(f"store:         {url}" + (f" (tenant {state.tenant})" if state.tenant else ""))
    click.echo(f"snapshots:     {data['snapshots']:,}")
    for status, count in data["by_status"].items():
        click.echo(f"  {status + ':':12} {count:,}")
    click.echo("by type:")
    for kind, count in data["by_workflow_type"].items():
        click.echo(f"  {kind + ':':12} {count:,}")
    click.echo(f"blobs:         {data['blobs']:,} distinct configs")
    click.echo(f"events:        {data['events']:,}")
    click.echo(f"raw bytes:     {data['raw_bytes']:,} (every snapshot's config, whole)")
    click.echo(f"unique bytes:  {data['unique_raw_bytes']:,} (distinct configs)")
    click.echo(f"stored bytes:  {data['stored_bytes']:,} (compressed)")
    click.echo(f"dedup ratio:   {data['dedup_ratio']:.2f}x")
    click.echo(f"compression:   {data['compression_ratio']:.2f}x")
    click.echo(f"overall:       {data['overall_ratio']:.2f}x")
    click.echo(
        f"spool depth:   {data['spool_depth']:,} waiting, {data['spool_quarantined']} set aside"
    )
    if data["archive"] is not None:
        archive = data["archive"]
        click.echo(f"archive:       {archive['objects']:,} objects, {archive['bytes']:,} bytes")
        click.echo(f"last sweep:    {data['retention_last_success'] or 'never'} (last successful)")


@click.command()
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Replay at most N files.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for another process draining the same spool.",
)
@store_options
@json_option
@pass_state
def drain(state: CliState, limit: int | None, wait: float, as_json: bool) -> None:
    """Replay the snapshots spooled while the store was unavailable; exit 1 if
    some remain or had to be set aside.

    Every spool of the data directory is replayed: the default one and each
    worker's of `wfaudit serve --workers N` (one that died left its files there).
    """
    with state.auditor(create=True) as auditor:  # the spool's audits may be the first
        # Every spool of the data directory: the default one and those of the
        # workers of `wfaudit serve --workers N`.
        report = auditor.drain_spools(limit=limit, wait=wait)
        where = auditor.spool.directory
    if as_json:
        data = render.to_json_data(report)
        click.echo(render.dump_json({**data, "ok": report.ok, "spool": str(where)}))
    else:
        print_drain_report(report)
    if not report.ok:
        sys.exit(1)


def print_drain_report(report: DrainReport) -> None:
    """What a drain did, for people: counts, then each file set aside and why."""
    click.echo(
        f"replayed {report.replayed}, already stored {report.already_stored}, "
        f"remaining {report.remaining}"
    )
    if report.rejected or report.corrupt:
        click.echo(
            f"quarantined {report.rejected + report.corrupt}: {report.rejected} refused by "
            f"the store, {report.corrupt} corrupt (wfaudit spool list / retry / discard)"
        )
        for item in report.quarantined:
            click.echo(f"  {item.name} ({item.kind}): {item.reason}")
    if report.too_new:
        click.echo(
            f"{plural(report.too_new, 'file')} written by a newer wfaudit "
            f"{'was' if report.too_new == 1 else 'were'} left in place"
        )
    if report.busy:
        click.echo("another process is draining this spool; try again later")
    if report.error:
        click.echo(f"stopped: {report.error}")


@click.command()
@click.argument("destination", metavar="DEST", type=click.Path(dir_okay=False))
@store_options
@json_option
@pass_state
def backup(state: CliState, destination: str, as_json: bool) -> None:
    """Write a consistent copy of a live SQLite store to DEST (SQLite's online
    backup API). PostgreSQL stores are backed up with pg_dump (see
    docs/operations.md)."""
    if state.tenant:
        raise StoreError(
            "a backup copies the whole store; run it without --tenant (an operator's task)"
        )
    with state.auditor() as auditor:
        store = auditor.store
        if not isinstance(store, StoreMaintenance):
            raise StoreError(f"the store at {store.url} cannot be backed up by wfaudit")
        result = store.backup(destination)
    if as_json:
        click.echo(render.dump_json(render.to_json_data(result)))
    else:
        click.echo(
            f"backup written to {result.path}: {result.bytes:,} bytes, "
            f"{result.snapshots:,} snapshots, integrity {result.integrity}"
        )


@click.command()
@click.option("--write", is_flag=True, help="Probe the store with a write transaction.")
@click.option(
    "--live",
    "liveness",
    is_flag=True,
    help="Exit 1 only when down: a store out of reach is fine while the spool takes "
    "the audits (a liveness probe).",
)
@store_options
@json_option
@pass_state
def health(state: CliState, write: bool, liveness: bool, as_json: bool) -> None:
    """Probe the store and the spool: status ok, degraded or down.

    Exit 1 when the store cannot be read (down, or degraded with the audits
    spooled); with --live, only when down.
    """
    from .health import check

    with state.auditor(strict=False) as auditor:
        report = check(auditor, write=write)
    if as_json:
        click.echo(render.dump_json(render.to_json_data(report)))
    else:
        click.echo(f"status: {report.status} (live: {report.live}, ready: {report.ready})")
        if not report.auditing:
            click.echo(
                "audit:  OFF (WFAUDIT_ENABLED / ENABLE_WORKFLOW_AUDIT is false): "
                "triggers are not audited"
            )
        store_state = "ok" if report.store_ok else f"unavailable ({report.store_error})"
        click.echo(f"store:  {report.store}: {store_state}")
        if report.schema_revision is not None:
            click.echo(f"schema: {report.schema_revision}")
        click.echo(
            f"spool:  {report.spool_depth} waiting, {report.spool_quarantined} set aside, "
            f"{'writable' if report.spool_writable else 'NOT writable'}"
        )
    if not report.live or (not liveness and not report.ready):
        sys.exit(1)


COMMANDS: tuple[click.Command, ...] = (
    verify,
    anchor,
    stats,
    drain,
    backup,
    health,
)
"""The commands this module adds to ``wfaudit``."""


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add :data:`COMMANDS` to the ``wfaudit`` group."""
    for command in COMMANDS:
        cli.add_command(command)
