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

import difflib
import json
import re
from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from wfaudit_hookspecs import Annotation, AuditEvent, SnapshotRecord, SnapshotRef, Tag

from .diff import Change, SnapshotDiff
from .history import TimelineEntry
from .masking import PLACEHOLDER_PREFIX
from .words import plural

__all__ = [
    "annotations_table",
    "conflicts_table",
    "diff_header",
    "side_by_side",
    "timeline_table",
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


def timeline_table(
    entries: Sequence[TimelineEntry], *, show_pipeline: bool, title: str = "Timeline"
) -> Table:
    """``wfaudit log``: one row per snapshot, newest first."""
    table = Table(title=title, title_justify="left")
    columns = ["created (UTC)", "type", "workflow"]
    if show_pipeline:
        columns.append("pipeline")
    columns += ["kind", "by", "status", "attempt", "hash", "tags", "changed since previous"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for entry in entries:
        r = entry.record
        cells: list[Text] = [Text(_when(r)), Text(r.workflow_type), Text(r.workflow_id)]
        if show_pipeline:
            cells.append(Text(r.pipeline_id))
        changed = Text(entry.changed or "(not compared)")
        if entry.annotations:
            changed.append(f"  [{plural(len(entry.annotations), 'note')}]", style="magenta")
        cells += [
            Text(r.trigger_kind.value),
            Text(r.triggered_by or ""),
            Text(r.status.value, style="red" if r.status.is_failure else ""),
            Text(str(r.attempt)),
            Text(r.content_hash[:12]),
            Text(", ".join(entry.tags), style="bold cyan"),
            changed,
        ]
        table.add_row(*cells)
    return table


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
        if change.op == "modified" and _multiline(change.old, change.new):
            lines.extend(_text_diff(change.old, change.new, context))
            continue
        if change.op != "added":
            lines.append(Text(f"    - {_value(change.old, full)}", style="red"))
        if change.op != "removed":
            lines.append(Text(f"    + {_value(change.new, full)}", style="green"))
    return lines


def _multiline(old: Any, new: Any) -> bool:
    return isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new)


def _text_diff(old: str, new: str, context: int) -> list[Text]:
    out = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=context):
        if line.startswith(("---", "+++")):
            continue
        style = "cyan" if line.startswith("@@") else "red" if line[:1] == "-" else ""
        style = "green" if line[:1] == "+" else style
        out.append(Text(f"    {line}", style=style))
    return out


def side_by_side(diff: SnapshotDiff, *, full: bool = False) -> Table:
    """The side-by-side view: path, before, after."""
    table = Table(title=None, expand=False)
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


def annotations_table(notes: Sequence[Annotation]) -> Table:
    table = Table(title="Annotations", title_justify="left")
    for column in ("#", "when (UTC)", "author", "path", "note"):
        table.add_column(column, overflow="fold")
    for note in notes:
        table.add_row(
            Text(str(note.id)),
            Text(note.created_on.strftime("%Y-%m-%d %H:%M:%S")),
            Text(note.author),
            Text(note.path or "(snapshot)"),
            Text(note.note),
        )
    return table


def history_block(tags: Sequence[Tag], notes: Sequence[Annotation]) -> RenderableType:
    """Tags and annotations of one snapshot, for ``wfaudit show``."""
    parts: list[RenderableType] = []
    line = Text("tags: ", style="bold")
    line.append(", ".join(t.name for t in tags) or "-", style="cyan" if tags else "")
    parts.append(line)
    if notes:
        parts.append(annotations_table(notes))
    return Group(*parts)


def conflicts_table(events: Sequence[AuditEvent]) -> Table:
    """The conflicting triggers kept on a snapshot's trail (:mod:`wfaudit.conflicts`)."""
    table = Table(title="Conflicting triggers (refused, kept as evidence)", title_justify="left")
    for column in ("when (UTC)", "sent by", "content hash sent", "differs in", "via"):
        table.add_column(column, overflow="fold")
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        table.add_row(
            Text(event.at.strftime("%Y-%m-%d %H:%M:%S")),
            Text(str(event.actor or "-")),
            Text(str(data.get("conflicting_content_hash", "?"))[:12]),
            Text(", ".join(str(name) for name in data.get("differing", ())) or "-"),
            Text("spool" if data.get("spooled") else "audit"),
        )
    return table
