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

from rich.console import Console, RenderableType
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from wfaudit_hookspecs import AuditResult, SnapshotRecord
from wfaudit_hookspecs.converter import unstructure

from . import tables
from .consoles import console as console  # the console every command prints with
from .tables import Column, Rows

if TYPE_CHECKING:  # the trigger command renders nothing: keep its start-up light
    from .plugins import PluginInfo

__all__ = [
    "HIGHLIGHT_LIMIT",
    "View",
    "add_row",
    "audit_rows",
    "config_json",
    "dump_json",
    "plugins_rows",
    "print_view",
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


View = list[RenderableType | Rows]
"""A view printed by :func:`print_view`: rich renderables, and tables as
:class:`~wfaudit.tables.Rows` (fitted to the width, plain when piped)."""


def print_view(parts: View, out: Console) -> None:
    """Print a view's parts in order, each table by the rule of :mod:`wfaudit.tables`."""
    for part in parts:
        if isinstance(part, Rows):
            tables.emit(part, console=out)
        else:
            out.print(part)


AUDIT_COLUMNS = (
    Column("type", "workflow_type", "fixed"),
    Column("workflow", "workflow_id"),
    Column("snapshot", "snapshot_id", "id"),
    Column("hash", "content_hash", "fixed", priority=2),
    Column("masked", "masked", "fixed", priority=3, justify="right"),
    Column("result", "result", priority=1),
)


def audit_rows(rows: Iterable[tuple[str, str, AuditResult]]) -> Rows:
    """What audits did, one row per trigger (``wfaudit demo``)."""
    table = Rows(list(AUDIT_COLUMNS), title="Audited triggers")
    for workflow_type, workflow_id, result in rows:
        if result.ok and result.ref is not None:
            outcome = "new snapshot" if result.created else "already audited (no-op)"
            table.add(
                workflow_type,
                workflow_id,
                result.ref.id,
                result.ref.content_hash[:12],
                str(result.masked),
                outcome,
            )
        else:
            failed = Text(f"failed: {result.error}", style="red")
            table.add(workflow_type, workflow_id, None, None, None, failed)
    return table


HIGHLIGHT_LIMIT = 256 * 1024
"""The longest masked config (characters of indented JSON) ``show`` highlights in a
panel. Wrapping and highlighting a document costs rich seconds per megabyte (a 5 MB
payload took 22 s): a longer one is printed as plain indented JSON after the rest."""


def config_json(config: Any) -> str:
    """A masked config as indented JSON, as ``show`` prints it."""
    return json.dumps(config, indent=2, ensure_ascii=False)


FIELD_COLUMNS = (
    Column("path", "path", "id"),
    Column("rule", "rule", priority=2),
    Column("fingerprint", "fingerprint", "fixed", priority=3),
    Column("span", "span", "fixed", priority=4),
    Column("restore from", "restore", priority=1),
)
REFERENCE_COLUMNS = (
    Column("path", "path", "id"),
    Column("kind", "kind", "fixed", priority=1),
    Column("name", "name"),
)


def snapshot_view(record: SnapshotRecord, config: Any, *, plain_config: str | None = None) -> View:
    """``wfaudit show``: identity, labels, masked fields, references, the masked config.

    :param plain_config: the config's JSON when it is too long to highlight
        (:data:`HIGHLIGHT_LIMIT`): the view then ends with a heading only, and the
        caller prints this text after it, as it is.
    """
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
        ("maskers", ", ".join(record.manifest.maskers) or "-"),
    ):
        add_row(meta, label, value)
    parts: View = [meta]
    manifest = record.manifest
    if manifest.fields:
        fields = Rows(list(FIELD_COLUMNS), title="Masked fields")
        for f in manifest.fields:
            fields.add(
                f.path,
                f.rule,
                f.fingerprint[:16],
                f"{f.span[0]}..{f.span[1]}" if f.span else "whole value",
                f"{f.restore.kind}:{f.restore.target}" if f.restore else None,
            )
        parts.append(fields)
    if manifest.references:
        references = Rows(list(REFERENCE_COLUMNS), title="Secret references")
        for ref in manifest.references:
            references.add(ref.path, ref.kind, ref.name)
        parts.append(references)
    if plain_config is not None:
        parts.append(
            Text(
                f"masked config ({len(plain_config):,} characters of JSON, too long to "
                "highlight: printed plain below)",
                style="bold",
            )
        )
        return parts
    parts.append(
        Panel(
            JSON(json.dumps(config, ensure_ascii=False)),
            title=Text("masked config"),  # a str title would be parsed as markup
            title_align="left",
        )
    )
    return parts


PLUGIN_COLUMNS = (
    Column("name", "name"),
    Column("distribution", "distribution", priority=2),
    Column("version", "version", "fixed", priority=3),
    Column("hooks", "hooks", priority=1, wrap=True),
)


def plugins_rows(infos: Sequence[PluginInfo], hook: str | None = None) -> Rows:
    """``wfaudit plugins``: each plugin, its distribution and the hooks it implements;
    with ``hook``, in call order, each marked wrapper or implementation."""
    if hook is None:
        rows = Rows(list(PLUGIN_COLUMNS), title="Plugins")
    else:
        rows = Rows(
            [*PLUGIN_COLUMNS[:3], Column("role", "role", "fixed", priority=1)],
            title=f"Plugins implementing {hook}, in call order",
        )
    for info in infos:
        if hook is not None:
            role = "wrapper" if hook in info.wrappers else "implementation"
            rows.add(info.name, info.distribution, info.version, role)
            continue
        hooks = (
            Text(", ".join(f"{h} (wrapper)" if h in info.wrappers else h for h in info.hooks))
            if info.error is None
            else Text(f"not loaded: {info.error}", style="red")
        )
        rows.add(info.name, info.distribution, info.version, hooks)
    return rows
