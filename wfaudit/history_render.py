"""How ``wfaudit log``, ``diff`` and ``show`` look: timelines, diff views, tags and notes.

Two diff views: *unified* (one block per change, ``-`` before and ``+`` after,
multi-line strings such as scripts diffed line by line) and *side-by-side* (a
table of path, before, after). Each is a list of :class:`rich.text.Text` lines
or a rich table, so the same rendering prints in colour on a terminal and as
plain text elsewhere. Data is never parsed as rich markup: a masked value such
as ``[masked:1f2e...]`` prints as it is.

Values come from masked configs and manifests, which hold no secret; a masked
field's change is shown as ``secret changed`` (``added``, ``removed``), decided
by fingerprints, followed, when the secret is a span of a larger string, by the
masked text before and after (the rest of the string may have changed too). The
header counts the masked fields by status, ``unchanged`` included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from wfaudit_hookspecs import Annotation, AuditEvent, SnapshotRecord, SnapshotRef, Tag

from .diff import Change, SnapshotDiff, is_multiline, line_diff
from .history import TimelineEntry
from .masking import PLACEHOLDER_PREFIX
from .tables import Cell, Column, Rows, Shown
from .words import plural

__all__ = [
    "annotations_rows",
    "conflicts_rows",
    "diff_header",
    "history_block",
    "side_by_side",
    "timeline_rows",
    "unified_lines",
]

_STYLES = {
    "added": "green",
    "removed": "red",
    "modified": "yellow",
    "moved": "cyan",
}
_MARKS = {"added": "+", "removed": "-", "modified": "~", "moved": ">"}
SHORT = 100
"""Characters of a value shown in a view, unless ``full``."""


def _when(record: SnapshotRecord) -> str:
    return record.created_on.strftime("%Y-%m-%d %H:%M:%S")


# -- the timeline ----------------------------------------------------------------------


def _compact_time(text: str) -> str:
    """``2026-12-06 11:43:58`` → ``12-06 11:43`` (a narrow table's form)."""
    return text[5:16] if len(text) == 19 else text


TIMELINE_COLUMNS = (
    Column("id", "id", "id"),
    Column("created (UTC)", "created_on", "fixed", priority=5, compact=_compact_time),
    Column("type", "workflow_type", "fixed", priority=3),
    Column("workflow", "workflow_id", priority=2),
    Column("pipeline", "pipeline_id", priority=4),
    Column("kind", "trigger_kind", "fixed", priority=8),
    Column("by", "triggered_by", priority=7),
    Column("status", "status", "fixed"),
    Column("attempt", "attempt", "fixed", priority=9, justify="right"),
    Column("hash", "content_hash", "fixed", priority=10),
    Column("tags", "tags", priority=6),
    Column("changed", "changed", priority=1, min_width=20),
)
"""The columns of ``wfaudit log``, most important first (priority 0 is never dropped)."""


def timeline_rows(
    entries: Sequence[TimelineEntry], *, show_pipeline: bool, title: str = "Timeline"
) -> Rows:
    """``wfaudit log``: one row per snapshot, newest first."""
    columns = [c for c in TIMELINE_COLUMNS if show_pipeline or c.key != "pipeline_id"]
    rows = Rows(columns, title=title)
    for entry in entries:
        r = entry.record
        changed = Text(entry.changed or "(not compared)")
        if entry.annotations:
            changed.append(f"  [{plural(len(entry.annotations), 'note')}]", style="magenta")
        # TSV gets the words alone, as --json's "changed" (empty: not compared).
        changed_cell = Shown(changed, entry.changed)
        cells: list[Cell] = [r.id, _when(r), r.workflow_type, r.workflow_id]
        if show_pipeline:
            cells.append(r.pipeline_id)
        cells += [
            r.trigger_kind.value,
            r.triggered_by,
            Text(r.status.value, style="red" if r.status.is_failure else ""),
            str(r.attempt),
            Shown(Text(r.content_hash[:12]), r.content_hash),
            Text(", ".join(entry.tags), style="bold cyan"),
            changed_cell,
        ]
        rows.add(*cells)
    return rows


# -- diffs -----------------------------------------------------------------------------


def _describe(ref: SnapshotRef, record: SnapshotRecord | None) -> str:
    text = f"{ref.id} ({ref.workflow_type} {ref.workflow_id}"
    if record is not None:
        text += f", pipeline {record.pipeline_id}, {_when(record)} UTC"
    return text + ")"


def diff_header(
    diff: SnapshotDiff, a: SnapshotRecord | None = None, b: SnapshotRecord | None = None
) -> list[Text]:
    """The ``---``/``+++`` lines and the summary of a diff, then, when either
    snapshot has masked fields, their statuses in one line (``secrets: 1
    changed, 3 unchanged``), decided by fingerprints."""
    lines = [
        Text(f"--- a {_describe(diff.a, a)}", style="bold red"),
        Text(f"+++ b {_describe(diff.b, b)}", style="bold green"),
    ]
    if diff.identical:
        lines.append(Text("identical configs (same content hash)"))
    else:
        lines.append(
            Text(f"{plural(len(diff.changes), 'change')}: {diff.summary.words()}", style="bold")
        )
    if diff.secrets:
        lines.append(Text(f"secrets: {diff.secrets.words()}", style="magenta"))
    return lines


def _value(value: Any, full: bool) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n") if not full else text
    if full or len(text) <= SHORT:
        return text
    return text[: SHORT - 1] + "…"


_BARE_PLACEHOLDER = re.compile(re.escape(PLACEHOLDER_PREFIX) + r"[0-9a-f]+\]")


def _only_placeholders(change: Change) -> bool:
    """True when a secret's change has nothing more to show: each value it has
    is a bare placeholder (the whole field was masked)."""
    values: list[Any] = []
    if change.op != "added":
        values.append(change.old)
    if change.op != "removed":
        values.append(change.new)
    return all(isinstance(v, str) and _BARE_PLACEHOLDER.fullmatch(v) for v in values)


def _secret_line(change: Change) -> Text:
    line = Text(f"{_MARKS[change.op]} {change.path}  ", style=_STYLES[change.op])
    line.append(f"secret {change.secret}", style="bold magenta")
    return line


def unified_lines(diff: SnapshotDiff, *, full: bool = False, context: int = 1) -> list[Text]:
    """The unified view of a diff's changes (without the header).

    A masked field's change says ``secret changed`` (``added``, ``removed``);
    when the secret is a span of a larger string, the rest of the string's
    change follows, shown with the placeholders of the masked config.
    """
    lines: list[Text] = []
    for change in diff.changes:
        style = _STYLES[change.op]
        if change.secret is not None:
            lines.append(_secret_line(change))
            if _only_placeholders(change):
                continue
        elif change.op == "moved":
            lines.append(Text(f"> {change.path}  (moved from {change.from_path})", style=style))
            continue
        else:
            lines.append(Text(f"{_MARKS[change.op]} {change.path}", style=style))
        if change.op == "modified" and is_multiline(change.old, change.new):
            lines.extend(_text_diff(change.old, change.new, context))
            continue
        if change.op != "added":
            lines.append(Text(f"    - {_value(change.old, full)}", style="red"))
        if change.op != "removed":
            lines.append(Text(f"    + {_value(change.new, full)}", style="green"))
    return lines


def _text_diff(old: str, new: str, context: int) -> list[Text]:
    out = []
    for hunk in line_diff(old, new, context):
        out.append(Text(f"    {hunk.header()}", style="cyan"))
        for mark, line in hunk.lines:
            style = "red" if mark == "-" else "green" if mark == "+" else ""
            out.append(Text(f"    {mark}{line}", style=style))
    return out


def side_by_side(diff: SnapshotDiff, *, full: bool = False) -> Table:
    """The side-by-side view: path, before, after."""
    table = Table(title=None, expand=False)  # a view (before and after wrap), not a listing
    table.add_column("", no_wrap=True)
    table.add_column("path", overflow="fold")
    table.add_column("before", overflow="fold", style="red")
    table.add_column("after", overflow="fold", style="green")
    for change in diff.changes:
        mark = Text(_MARKS[change.op], style=_STYLES[change.op])
        path = Text(change.path)
        if change.secret is not None:
            secret = Text(f"secret {change.secret}", style="bold magenta")
            if _only_placeholders(change):
                table.add_row(mark, path, Text("secret", style="magenta"), secret)
                continue
            before = "" if change.op == "added" else _value(change.old, full)
            after = "" if change.op == "removed" else _value(change.new, full)
            table.add_row(mark, path, Text(before), Text.assemble(secret, "\n", after))
        elif change.op == "moved":
            table.add_row(mark, path, Text(f"at {change.from_path}"), Text("moved here"))
        else:
            before = "" if change.op == "added" else _value(change.old, full)
            after = "" if change.op == "removed" else _value(change.new, full)
            table.add_row(mark, path, Text(before), Text(after))
    return table


# -- show ------------------------------------------------------------------------------


ANNOTATION_COLUMNS = (
    Column("#", "id", "fixed", justify="right"),
    Column("when (UTC)", "created_on", "fixed", priority=2, compact=_compact_time),
    Column("author", "author", priority=3),
    Column("path", "path", priority=1),
    Column("note", "note", wrap=True),
)
CONFLICT_COLUMNS = (
    Column("when (UTC)", "at", "fixed", compact=_compact_time),
    Column("sent by", "actor", priority=2),
    Column("content hash sent", "content_hash", "fixed", priority=3),
    Column("differs in", "differing", priority=1),
    Column("via", "via", "fixed", priority=4),
)


def annotations_rows(notes: Sequence[Annotation]) -> Rows:
    rows = Rows(list(ANNOTATION_COLUMNS), title="Annotations")
    for note in notes:
        rows.add(
            str(note.id),
            note.created_on.strftime("%Y-%m-%d %H:%M:%S"),
            note.author,
            note.path or "(snapshot)",
            note.note,
        )
    return rows


def history_block(tags: Sequence[Tag], notes: Sequence[Annotation]) -> list[Text | Rows]:
    """Tags and annotations of one snapshot, for ``wfaudit show``."""
    line = Text("tags: ", style="bold")
    line.append(", ".join(t.name for t in tags) or "-", style="cyan" if tags else "")
    return [line, annotations_rows(notes)] if notes else [line]


def conflicts_rows(events: Sequence[AuditEvent]) -> Rows:
    """The conflicting triggers kept on a snapshot's trail (:mod:`wfaudit.conflicts`)."""
    rows = Rows(list(CONFLICT_COLUMNS), title="Conflicting triggers (refused, kept as evidence)")
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        rows.add(
            event.at.strftime("%Y-%m-%d %H:%M:%S"),
            None if event.actor is None else str(event.actor),
            str(data.get("conflicting_content_hash", "?"))[:12],
            ", ".join(str(name) for name in data.get("differing", ())) or None,
            "spool" if data.get("spooled") else "audit",
        )
    return rows
