"""The history commands: ``log``, ``show``, ``diff``, ``tag``, ``untag``, ``tags``, ``annotate``.

Defined here and added to the ``wfaudit`` group by ``wfaudit.cli``. Snapshots
are named by references (:mod:`wfaudit.refs`): an id or unique id prefix,
``WORKFLOW_ID:TYPE``, a tag, ``HEAD``, each optionally followed by ``~N``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from wfaudit_hookspecs import InvalidRequest, Snapshot, Status, hookimpl
from wfaudit_hookspecs.converter import unstructure

from . import conflicts, history, history_render, render, tables
from .auditor import Auditor
from .cli_support import (
    CliState,
    chosen_format,
    format_option,
    json_option,
    pass_state,
    store_options,
)
from .diff import SnapshotDiff
from .refs import history_store, optional_history_store
from .tables import Column, Rows

__all__ = ["annotate", "diff", "log", "show", "tag", "tags", "untag"]

F = TypeVar("F", bound=Callable[..., Any])


def _pipeline_option(help_text: str) -> Callable[[F], F]:
    return click.option("--pipeline", "pipeline_id", default=None, help=help_text)


# -- log -------------------------------------------------------------------------------


@click.command()
@_pipeline_option("Only this pipeline's snapshots.")
@click.option("--workflow-id", default=None, help="Only this workflow run.")
@click.option("--type", "workflow_type", default=None, help="Only this workflow type.")
@click.option(
    "--status", type=click.Choice([s.value for s in Status]), default=None, help="Only this status."
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only snapshots with this label (repeatable: all must match).",
)
@click.option(
    "--since", default=None, metavar="TIME", help="Created at or after: ISO time or 30m, 12h, 7d."
)
@click.option("--until", default=None, metavar="TIME", help="Created before: ISO time or 7d.")
@click.option(
    "--limit",
    type=click.IntRange(1, history.MAX_LIMIT),
    default=50,
    show_default=True,
    help="Snapshots per page.",
)
@click.option(
    "--before",
    default=None,
    metavar="REF",
    help="Next page: start after this snapshot (the last one of the previous page).",
)
@click.option(
    "--no-changes", is_flag=True, help="Do not compute what changed (faster on huge configs)."
)
@click.option(
    "--archived",
    is_flag=True,
    help="List the archived snapshots instead (also those retention deleted); see restore.",
)
@store_options
@json_option
@format_option
@pass_state
def log(
    state: CliState,
    pipeline_id: str | None,
    workflow_id: str | None,
    workflow_type: str | None,
    status: str | None,
    labels: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int,
    before: str | None,
    no_changes: bool,
    archived: bool,
    as_json: bool,
    output_format: str | None,
) -> None:
    """A timeline of snapshots, newest first: time, type, trigger kind, user, status,
    attempt, content hash, tags, and what changed since the snapshot before it (in
    the same pipeline and workflow type) in a few words. Page with --before.

    The table fits the terminal (or COLUMNS): it drops the least useful columns
    first and never splits an id; piped, it is plain text with every column.
    --format tsv and --json are for scripts."""
    fmt = chosen_format(as_json, output_format)
    with state.auditor() as auditor:
        # --archived takes the same filters as the live timeline; --before pages
        # the archive (a cursor), where it bounds the live timeline.
        query = history.history_query(
            auditor,
            pipeline_id=pipeline_id,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            status=status,
            labels=history.parse_labels(labels),
            since=since,
            until=until,
            before=None if archived else before,
            limit=limit,
        )
        if archived:
            from .retention_cli import archived_listing

            archived_listing(auditor, query, before=before, fmt=fmt)
            return
        entries = history.timeline(auditor, query, changes=not no_changes)
    if fmt == "json":
        click.echo(render.dump_json([history.entry_json(e) for e in entries]))
        return
    rows = history_render.timeline_rows(entries, show_pipeline=pipeline_id is None)
    if fmt == "tsv":
        tables.emit(rows, "tsv")
        return
    if not entries:
        filtered = any(
            (pipeline_id, workflow_id, workflow_type, status, labels, since, until, before)
        )
        click.echo(
            "no snapshot matches these filters"
            if filtered
            else "no snapshot in this store yet: `wfaudit trigger FILE --type CI --workflow-id "
            "ID --pipeline-id P` audits one (`wfaudit demo` shows the whole loop)"
        )
        return
    tables.emit(rows)
    if len(entries) == limit:
        click.echo(f"more: wfaudit log ... --before {entries[-1].record.id}")


# -- show ------------------------------------------------------------------------------


@click.command()
@click.argument("ref", required=False)
@click.option("--type", "workflow_type", default=None, help="REF is a workflow id of this type.")
@click.option("--id", "snapshot_id", default=None, help="Show the snapshot with this id.")
@_pipeline_option("The pipeline of HEAD (and of a tag used in several pipelines).")
@click.option("--config-only", is_flag=True, help="Print only the masked config, as JSON.")
@store_options
@json_option
@pass_state
def show(
    state: CliState,
    ref: str | None,
    workflow_type: str | None,
    snapshot_id: str | None,
    pipeline_id: str | None,
    config_only: bool,
    as_json: bool,
) -> None:
    """Show one snapshot: identity, tags, annotations, manifest and masked config.

    REF is a snapshot reference (id, id prefix, WORKFLOW_ID:TYPE, tag, HEAD, ~N),
    or a workflow id with --type.
    """
    with state.auditor() as auditor:
        snapshot = _find(auditor, ref, workflow_type, snapshot_id, pipeline_id)
        store = optional_history_store(auditor.store)
        tags = store.list_tags(snapshot_ids=[snapshot.id], tenant=snapshot.tenant) if store else []
        notes = (
            store.list_annotations(snapshot_ids=[snapshot.id], tenant=snapshot.tenant)
            if store
            else []
        )
        conflicting = conflicts.conflicts_of(auditor.store, snapshot)
    if config_only:
        click.echo(render.dump_json(snapshot.config))
    elif as_json:
        data = render.to_json_data(snapshot)
        data["tags"] = [t.name for t in tags]
        data["annotations"] = [unstructure(n) for n in notes]
        data["conflicting_triggers"] = [
            {"at": e.at.isoformat(), "actor": e.actor, **(e.data or {})} for e in conflicting
        ]
        click.echo(render.dump_json(data))
    else:
        text = render.config_json(snapshot.config)
        plain = text if len(text) > render.HIGHLIGHT_LIMIT else None
        view = render.snapshot_view(snapshot, snapshot.config, plain_config=plain)
        extra: render.View = [*history_render.history_block(tags, notes)]
        if conflicting:
            extra.append(history_render.conflicts_rows(conflicting))
        view[1:1] = extra
        render.print_view(view, render.console())
        if plain is not None:  # a large document: as it is, neither wrapped nor highlighted
            click.echo(plain)


def _find(
    auditor: Auditor,
    ref: str | None,
    workflow_type: str | None,
    snapshot_id: str | None,
    pipeline_id: str | None,
) -> Snapshot:
    if snapshot_id:
        if ref:
            raise InvalidRequest("give either REF or --id SNAPSHOT_ID, not both")
        return auditor.get_snapshot_by_id(snapshot_id)
    if not ref:
        raise InvalidRequest("give a snapshot reference (REF), WORKFLOW_ID with --type T, or --id")
    if workflow_type:
        return auditor.get_snapshot(ref, workflow_type)
    return auditor.get(ref, pipeline_id=pipeline_id)


# -- diff ------------------------------------------------------------------------------


@click.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="[B]", default="HEAD")
@_pipeline_option("The pipeline of HEAD when neither endpoint names one.")
@click.option("--type", "workflow_type", default=None, help="The workflow type of HEAD.")
@click.option(
    "--view",
    type=click.Choice(["unified", "side-by-side"]),
    default="unified",
    show_default=True,
    help="Unified (- before, + after) or a side-by-side table.",
)
@click.option("--full", is_flag=True, help="Show whole values, not the first 100 characters.")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour: auto (on a terminal), always or never.",
)
@store_options
@json_option
@pass_state
def diff(
    state: CliState,
    a: str,
    b: str,
    pipeline_id: str | None,
    workflow_type: str | None,
    view: str,
    full: bool,
    color: str,
    as_json: bool,
) -> None:
    """Compare two snapshots: what changed from A to B (default B: HEAD).

    A and B are references: an id or unique id prefix, WORKFLOW_ID:TYPE, a tag,
    HEAD (the newest snapshot of the pipeline), each optionally followed by ~N
    (N snapshots older in the same pipeline and workflow type). A secret appears
    only as changed, added or removed, decided by its keyed fingerprint.
    """
    with state.auditor() as auditor:
        if workflow_type is not None:
            workflow_type = history.known_workflow_type(auditor, workflow_type)
        result = auditor.diff(a, b, pipeline_id=pipeline_id, workflow_type=workflow_type)
        left = auditor.store.get_record_by_id(result.a.id, tenant=auditor.settings.tenant)
        right = auditor.store.get_record_by_id(result.b.id, tenant=auditor.settings.tenant)
    if as_json:
        click.echo(render.dump_json(render.to_json_data(result)))
        return
    console = _diff_console(color)
    _print_diff(console, result, left, right, view=view, full=full)


def _diff_console(color: str) -> Console:
    """A console that colours on a terminal (or when asked) and prints plain text
    otherwise, as wide as COLUMNS, the terminal, or 160 columns for a file or a
    pipe (:func:`wfaudit.render.console`)."""
    terminal = sys.stdout.isatty() if color == "auto" else color == "always"
    width = render.console().width
    return render.console(
        force_terminal=terminal,
        no_color=not terminal,
        color_system="standard" if terminal else None,
        highlight=False,
        width=width,
    )


def _print_diff(
    console: Console,
    result: SnapshotDiff,
    left: Any,
    right: Any,
    *,
    view: str,
    full: bool,
) -> None:
    for line in history_render.diff_header(result, left, right):
        console.print(line)
    if result.identical or not result.changes:
        return
    if view == "side-by-side":
        console.print(history_render.side_by_side(result, full=full))
        return
    for line in history_render.unified_lines(result, full=full):
        console.print(line)


# -- tags and annotations --------------------------------------------------------------


@click.command()
@click.argument("ref")
@click.argument("name")
@click.option("--move", is_flag=True, help="Move the tag here from another snapshot.")
@click.option("--by", default=None, help="Who tags (recorded in the audit trail).")
@_pipeline_option("The pipeline of REF when it is HEAD or a shared tag.")
@store_options
@json_option
@pass_state
def tag(
    state: CliState,
    ref: str,
    name: str,
    move: bool,
    by: str | None,
    pipeline_id: str | None,
    as_json: bool,
) -> None:
    """Tag the snapshot REF as NAME (baseline, production ...).

    A tag name is unique within a pipeline: tagging another snapshot of the
    pipeline needs --move. Tags are references: wfaudit diff baseline HEAD.
    """
    with state.auditor() as auditor:
        record = auditor.resolve(ref, pipeline_id=pipeline_id)
        before = history_store(auditor.store).list_tags(
            name=name, pipeline_id=record.pipeline_id, tenant=record.tenant
        )
        result = auditor.tag(record.id, name, move=move, by=by)
    if as_json:
        click.echo(render.dump_json(unstructure(result)))
        return
    moved = [t for t in before if t.snapshot_id != result.snapshot_id]
    where = f"{record.workflow_type} {record.workflow_id}, pipeline {record.pipeline_id}"
    if moved:
        click.echo(f"moved tag {result.name} from {moved[0].snapshot_id} to {record.id} ({where})")
    elif before:
        click.echo(f"tag {result.name} is already on {record.id} ({where})")
    else:
        click.echo(f"tagged {record.id} ({where}) as {result.name}")


@click.command()
@click.argument("name")
@_pipeline_option("The tag's pipeline (needed when several pipelines have the name).")
@click.option("--by", default=None, help="Who removes it (recorded in the audit trail).")
@store_options
@json_option
@pass_state
def untag(
    state: CliState, name: str, pipeline_id: str | None, by: str | None, as_json: bool
) -> None:
    """Remove the tag NAME (the snapshot stays; the audit trail records the removal)."""
    with state.auditor() as auditor:
        removed = auditor.untag(name, pipeline_id=pipeline_id, by=by)
    if as_json:
        click.echo(render.dump_json(unstructure(removed)))
    else:
        click.echo(
            f"removed tag {removed.name} from {removed.snapshot_id} "
            f"(pipeline {removed.pipeline_id})"
        )


TAG_COLUMNS = (
    Column("name", "name", "fixed"),
    Column("snapshot", "snapshot_id", "id"),
    Column("pipeline", "pipeline_id", priority=1),
    Column("tagged (UTC)", "created_on", "fixed", priority=2, compact=lambda t: t[5:16]),
    Column("by", "created_by", priority=3),
)
"""The columns of ``wfaudit tags``, most important first."""


@click.command()
@_pipeline_option("Only this pipeline's tags.")
@store_options
@json_option
@format_option
@pass_state
def tags(
    state: CliState, pipeline_id: str | None, as_json: bool, output_format: str | None
) -> None:
    """List tags: name, snapshot, pipeline, when and by whom."""
    fmt = chosen_format(as_json, output_format)
    with state.auditor() as auditor:
        found = history_store(auditor.store).list_tags(
            pipeline_id=pipeline_id, tenant=auditor.settings.tenant
        )
    if fmt == "json":
        click.echo(render.dump_json([unstructure(t) for t in found]))
        return
    if not found and fmt == "table":
        where = f" in pipeline {pipeline_id}" if pipeline_id else ""
        click.echo(f"no tag{where} yet: `wfaudit tag REF NAME` puts one on a snapshot")
        return
    rows = Rows(list(TAG_COLUMNS), title="Tags")
    for t in found:
        rows.add(
            t.name,
            t.snapshot_id,
            t.pipeline_id,
            t.created_on.strftime("%Y-%m-%d %H:%M:%S"),
            t.created_by,
        )
    tables.emit(rows, fmt)


class _HiddenAliases(click.Option):
    """An option whose help shows only its first name: the others are old names
    still taken (``annotate --author`` is ``--by``, as everywhere else)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None:
            return None
        names, text = record
        for old in self.opts[1:]:
            names = names.replace(f", {old}", "")
        return names, text


@click.command()
@click.argument("ref")
@click.argument("note")
@click.option(
    "--by",
    "--author",  # the old name, still taken, not shown
    "author",
    cls=_HiddenAliases,
    required=True,
    envvar="WFAUDIT_AUTHOR",
    help="Who writes the note (default: WFAUDIT_AUTHOR).",
)
@click.option(
    "--path",
    default=None,
    metavar="POINTER",
    help="The node the note is about, as a JSON pointer (/jobs/test/steps/2).",
)
@_pipeline_option("The pipeline of REF when it is HEAD or a shared tag.")
@store_options
@json_option
@pass_state
def annotate(
    state: CliState,
    ref: str,
    note: str,
    author: str,
    path: str | None,
    pipeline_id: str | None,
    as_json: bool,
) -> None:
    """Add a NOTE to the snapshot REF, or to one node of its config (--path).

    Notes are free text kept with the snapshot and shown by log and show; do not
    paste secrets into them.
    """
    with state.auditor() as auditor:
        record = auditor.resolve(ref, pipeline_id=pipeline_id)
        result = auditor.annotate(record.id, note, author=author, path=path)
    if as_json:
        click.echo(render.dump_json(unstructure(result)))
    else:
        on = f" at {result.path}" if result.path else ""
        click.echo(f"annotated {result.snapshot_id}{on} (note #{result.id} by {result.author})")


COMMANDS: tuple[click.Command, ...] = (
    log,
    show,
    diff,
    tag,
    untag,
    tags,
    annotate,
)
"""The commands this module adds to ``wfaudit``."""


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add :data:`COMMANDS` to the ``wfaudit`` group."""
    for command in COMMANDS:
        cli.add_command(command)
