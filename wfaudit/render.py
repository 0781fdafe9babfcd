"""How the command line shows things: rich tables for people, JSON for machines.

Everything rendered here comes from masked snapshots and manifests, which hold
no secret; nothing here ever receives a request's raw config.

Data is never rich markup: every console this module hands out has markup and
emoji codes off (a reason holding ``[/]`` prints as it is, a ``[masked:…]``
placeholder stays visible), and the styles of our own words are set on
:class:`~rich.text.Text` objects, never written as markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from wfaudit_hookspecs import AuditResult, SnapshotRecord
from wfaudit_hookspecs.converter import unstructure

if TYPE_CHECKING:  # the trigger command renders neither: keep its start-up light
    from .diff import SnapshotDiff
    from .plugins import PluginInfo

__all__ = [
    "add_row",
    "audit_table",
    "diff_view",
    "dump_json",
    "history_table",
    "plugins_table",
    "snapshot_view",
    "to_json_data",
]


def add_row(table: Table, *cells: str | Text) -> None:
    """Add a row whose text cells are plain text (never parsed as markup)."""
    table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in cells))


def to_json_data(obj: Any) -> Any:
    """Model objects (attrs) → JSON data for ``--json`` output."""
    return unstructure(obj)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _when(record: SnapshotRecord) -> str:
    return record.created_on.strftime("%Y-%m-%d %H:%M:%S")


def history_table(records: Sequence[SnapshotRecord], title: str = "Snapshots") -> Table:
    table = Table(title=title, title_justify="left")
    for column in (
        "created (UTC)",
        "type",
        "workflow",
        "pipeline",
        "kind",
        "by",
        "status",
        "attempt",
        "hash",
        "masked",
    ):
        table.add_column(column, overflow="fold")
    for r in records:
        add_row(
            table,
            _when(r),
            r.workflow_type,
            r.workflow_id,
            r.pipeline_id,
            r.trigger_kind.value,
            r.triggered_by or "",
            r.status.value,
            str(r.attempt),
            r.content_hash[:12],
            str(len(r.manifest.fields)),
        )
    return table


def audit_table(rows: Iterable[tuple[str, str, AuditResult]]) -> Table:
    table = Table(title="Audited triggers", title_justify="left")
    for column in ("type", "workflow", "snapshot", "hash", "masked", "result"):
        table.add_column(column)
    for workflow_type, workflow_id, result in rows:
        if result.ok and result.ref is not None:
            outcome = "new snapshot" if result.created else "already audited (no-op)"
            add_row(
                table,
                workflow_type,
                workflow_id,
                result.ref.id,
                result.ref.content_hash[:12],
                str(result.masked),
                outcome,
            )
        else:
            add_row(
                table,
                workflow_type,
                workflow_id,
                "-",
                "-",
                "-",
                Text(f"failed: {result.error}", style="red"),
            )
    return table


def snapshot_view(record: SnapshotRecord, config: Any) -> Group:
    meta = Table.grid(padding=(0, 2))
    meta.add_column(style="bold")
    meta.add_column()
    for label, value in (
        ("snapshot", record.id),
        ("workflow", f"{record.workflow_type} {record.workflow_id}"),
        ("pipeline", record.pipeline_id),
        ("tenant", record.tenant or "-"),
        (
            "triggered",
            f"{_when(record)} UTC by {record.triggered_by or '-'} ({record.trigger_kind.value})",
        ),
        (
            "status",
            record.status.value + (f" ({record.status_reason})" if record.status_reason else ""),
        ),
        ("attempt", str(record.attempt) + (f", parent {record.parent}" if record.parent else "")),
        ("labels", ", ".join(f"{k}={v}" for k, v in record.labels.items()) or "-"),
        ("content hash", record.content_hash),
        ("schema", f"version {record.schema_version}"),
        ("size", f"{record.config_size} bytes of canonical JSON"),
        ("adapter", record.manifest.adapter or "generic"),
        ("maskers", ", ".join(record.manifest.maskers) or "none"),
    ):
        add_row(meta, label, value)
    parts: list[Any] = [meta]
    manifest = record.manifest
    if manifest.fields:
        table = Table(title="Masked fields", title_justify="left")
        for column in ("path", "rule", "fingerprint", "span", "restore from"):
            table.add_column(column, overflow="fold")
        for f in manifest.fields:
            add_row(
                table,
                f.path,
                f.rule,
                f.fingerprint[:16],
                f"{f.span[0]}..{f.span[1]}" if f.span else "whole value",
                f"{f.restore.kind}:{f.restore.target}" if f.restore else "-",
            )
        parts.append(table)
    if manifest.references:
        table = Table(title="Secret references", title_justify="left")
        for column in ("path", "kind", "name"):
            table.add_column(column, overflow="fold")
        for ref in manifest.references:
            add_row(table, ref.path, ref.kind, ref.name)
        parts.append(table)
    parts.append(
        Panel(
            JSON(json.dumps(config, ensure_ascii=False)),
            title=Text("masked config"),  # a str title would be parsed as markup
            title_align="left",
        )
    )
    return Group(*parts)


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MARKS = {
    "added": Text("+", style="green"),
    "removed": Text("-", style="red"),
    "modified": Text("~", style="yellow"),
    "moved": Text("↕", style="cyan"),
}


def diff_view(diff: SnapshotDiff) -> Group | Text:
    a, b = diff.a, diff.b
    header = Text(
        f"{a.id} ({a.workflow_type} {a.workflow_id}) → {b.id} ({b.workflow_type} {b.workflow_id})"
    )
    secrets = Text(f"secrets: {diff.secrets.words()}", style="magenta")
    if diff.identical:
        identical = Text.assemble(header, "\nidentical configs (same content hash)")
        return Group(identical, secrets) if diff.secrets else identical
    summary = Text(f"changed: {diff.summary.words()}")
    table = Table(title=f"{len(diff.changes)} changes", title_justify="left")
    for column in ("", "path", "before", "after"):
        table.add_column(column, overflow="fold")
    for change in diff.changes:
        mark = _MARKS[change.op]
        if change.secret is not None:
            add_row(
                table,
                mark,
                change.path,
                Text("secret", style="magenta"),
                Text(f"secret {change.secret}", style="magenta"),
            )
        elif change.op == "moved":
            add_row(table, mark, change.path, f"moved from {change.from_path}", "")
        else:
            before = "" if change.op == "added" else _short(change.old)
            after = "" if change.op == "removed" else _short(change.new)
            add_row(table, mark, change.path, before, after)
    return Group(header, summary, *([secrets] if diff.secrets else []), table)


def plugins_table(infos: Sequence[PluginInfo], hook: str | None = None) -> Table:
    """The plugins; with ``hook``, in call order, each marked wrapper or implementation."""
    title = "Plugins" if hook is None else f"Plugins implementing {hook}, in call order"
    table = Table(title=title, title_justify="left")
    columns = (
        ("name", "distribution", "version", "hooks")
        if hook is None
        else ("name", "distribution", "version", "role")
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for info in infos:
        if hook is not None:
            role = "wrapper" if hook in info.wrappers else "implementation"
            add_row(table, info.name, info.distribution or "-", info.version or "-", Text(role))
            continue
        hooks = (
            Text(", ".join(f"{h} (wrapper)" if h in info.wrappers else h for h in info.hooks))
            if info.error is None
            else Text(f"not loaded: {info.error}", style="red")
        )
        add_row(table, info.name, info.distribution or "-", info.version or "-", hooks)
    return table


def console(stderr: bool = False, **options: Any) -> Console:
    """The console every command prints rich output with: markup and emoji codes
    off, so that no stored or user-supplied text is ever interpreted.

    :param options: more :class:`~rich.console.Console` options (colour, width).
    """
    # Wide enough for hashes and pointers when output goes to a file or a pipe.
    options.setdefault("width", None if Console().is_terminal else 160)
    return Console(stderr=stderr, soft_wrap=False, markup=False, emoji=False, **options)
