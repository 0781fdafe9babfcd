"""The HTML pages: a pipeline's timeline, one snapshot, a side-by-side diff.

Plain server-rendered HTML, no script: every value is escaped, configs are the
masked ones, and a secret in a diff is marked ``secret changed`` (added,
removed) without either value.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

from wfaudit.diff import SnapshotDiff
from wfaudit_hookspecs import Snapshot, SnapshotRecord

from .data import TimelineEntry

__all__ = [
    "diff_page",
    "error_page",
    "index_page",
    "login_page",
    "pipeline_url",
    "snapshot_page",
    "snapshot_url",
    "timeline_page",
]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1d232b; background: #f6f7f9; }
header { background: #1d3557; color: #fff; padding: .7rem 1.2rem; display: flex; gap: 1.5rem;
  align-items: baseline; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
header .where { opacity: .85; }
main { padding: 1rem 1.2rem; }
h1 { font-size: 1.35rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
table { border-collapse: collapse; background: #fff; width: 100%; font-size: .9rem; }
th, td { border: 1px solid #d9dde3; padding: .35rem .55rem; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
code, pre { font-family: ui-monospace, monospace; font-size: .85rem; }
pre { background: #fff; border: 1px solid #d9dde3; padding: .6rem; overflow-x: auto; margin: 0; }
.status { padding: .1rem .45rem; border-radius: .6rem; font-size: .8rem; background: #dde3ea; }
.status-succeeded { background: #cdeccf; } .status-failed, .status-error { background: #f6c8c8; }
.status-running { background: #d5e5fb; } .status-cancelled { background: #eee; }
.masked { background: #fff1c2; border-radius: .2rem; }
.secret-changed { background: #ffd8a8; color: #7a3b00; font-weight: 600; padding: .05rem .4rem;
  border-radius: .3rem; }
.op-added { background: #e6f6e6; } .op-removed { background: #fbe9e9; }
.op-modified { background: #fff8e1; } .op-moved { background: #eef2ff; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: .8rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; background: #fff;
  border: 1px solid #d9dde3; padding: .6rem; }
dt { font-weight: 600; } dd { margin: 0; }
.muted { color: #5b6672; }
.tag { background: #e3e8f7; color: #233; font-size: .75rem; padding: .05rem .4rem;
  border-radius: .3rem; margin-left: .3rem; }
.note { color: #5b6672; font-size: .8rem; margin-top: .2rem; }
form.login { background: #fff; border: 1px solid #d9dde3; padding: 1rem; max-width: 28rem; }
"""

_PLACEHOLDER = re.compile(r"\[masked:[0-9a-f]+\]")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def pipeline_url(pipeline_id: str) -> str:
    """The timeline page of a pipeline, for any id the engine accepts: ``/`` and
    every other reserved character are percent-encoded; the ids ``.`` and ``..``,
    which clients resolve away in a path, go in the query."""
    if pipeline_id in (".", ".."):
        return f"/ui/pipelines?id={_q(pipeline_id)}"
    return f"/ui/pipelines/{_q(pipeline_id)}"


def snapshot_url(snapshot_id: str) -> str:
    """The page of one snapshot."""
    return f"/ui/snapshots/{_q(snapshot_id)}"


def _layout(title: str, body: str, *, where: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} · wfaudit</title><style>{STYLE}</style></head><body>"
        f'<header><a href="/ui">wfaudit</a><span class="where">{_e(where)}</span></header>'
        f"<main>{body}</main></body></html>"
    )


def _status(record: SnapshotRecord) -> str:
    status = str(record.status)
    return f'<span class="status status-{_e(status)}">{_e(status)}</span>'


def _when(record: SnapshotRecord) -> str:
    return record.created_on.strftime("%Y-%m-%d %H:%M:%S")


def _config_html(config: Any) -> str:
    text = html.escape(json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True))
    return _PLACEHOLDER.sub(lambda m: f'<span class="masked">{m.group(0)}</span>', text)


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > 240:
        text = text[:239] + "…"
    marked = _PLACEHOLDER.sub(lambda m: f'<span class="masked">{m.group(0)}</span>', _e(text))
    return f"<code>{marked}</code>"


def _rows(rows: Iterable[str]) -> str:
    return "".join(rows)


def index_page(records: Sequence[SnapshotRecord]) -> str:
    """The newest snapshots, with links to their pipelines' timelines."""
    rows = _rows(
        f'<tr><td>{_when(r)}</td><td><a href="{_e(pipeline_url(r.pipeline_id))}">'
        f"{_e(r.pipeline_id)}</a></td><td>{_e(r.workflow_type)}</td>"
        f'<td><a href="{_e(snapshot_url(r.id))}">{_e(r.workflow_id)}</a></td>'
        f"<td>{_status(r)}</td><td>{r.attempt}</td><td>{_e(r.triggered_by)}</td></tr>"
        for r in records
    )
    body = (
        "<h1>Newest snapshots</h1><table><thead><tr><th>Time (UTC)</th><th>Pipeline</th>"
        "<th>Type</th><th>Workflow</th><th>Status</th><th>Attempt</th><th>User</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )
    return _layout("Snapshots", body)


def timeline_page(pipeline_id: str, entries: Sequence[TimelineEntry]) -> str:
    """A pipeline's timeline: time, type, status, attempt, user, what changed."""
    rows = []
    for entry in entries:
        r = entry.record
        diff_link = (
            f' · <a href="/ui/diff?a={_q(entry.previous)}&amp;b={_q(r.id)}">diff</a>'
            if entry.previous
            else ""
        )
        tags = "".join(f' <span class="tag">{_e(name)}</span>' for name in entry.tags)
        notes = "".join(
            f'<div class="note">{_e(note.author)}: {_e(note.note)}</div>'
            for note in entry.annotations
        )
        changed = entry.changed if entry.changed is not None else "not compared"
        rows.append(
            f'<tr data-snapshot="{_e(r.id)}"><td>{_when(r)}</td><td>{_e(r.workflow_type)}</td>'
            f'<td><a href="{_e(snapshot_url(r.id))}">{_e(r.workflow_id)}</a>{tags}</td>'
            f"<td>{_status(r)}</td><td>{r.attempt}</td><td>{_e(r.triggered_by)}</td>"
            f'<td class="changed">{_e(changed)}{diff_link}{notes}</td></tr>'
        )
    empty = '<p class="muted">No snapshot of this pipeline.</p>' if not entries else ""
    body = (
        f"<h1>Timeline of pipeline <code>{_e(pipeline_id)}</code></h1>{empty}"
        '<table id="timeline"><thead><tr><th>Time (UTC)</th><th>Type</th><th>Workflow</th>'
        "<th>Status</th><th>Attempt</th><th>User</th><th>What changed</th></tr></thead>"
        f"<tbody>{_rows(rows)}</tbody></table>"
    )
    return _layout(f"Pipeline {pipeline_id}", body, where=f"pipeline {pipeline_id}")


def snapshot_page(snapshot: Snapshot) -> str:
    """One snapshot: identity, the manifest of masked fields, the masked config."""
    s = snapshot
    facts = [
        ("Snapshot", f"<code>{_e(s.id)}</code>"),
        ("Workflow", f"{_e(s.workflow_type)} <code>{_e(s.workflow_id)}</code>"),
        ("Pipeline", f'<a href="{_e(pipeline_url(s.pipeline_id))}">{_e(s.pipeline_id)}</a>'),
        ("Status", _status(s) + (f" {_e(s.status_reason)}" if s.status_reason else "")),
        (
            "Attempt",
            str(s.attempt) + (f" (parent <code>{_e(s.parent)}</code>)" if s.parent else ""),
        ),
        ("Triggered", f"{_when(s)} UTC by {_e(s.triggered_by or '—')} ({_e(s.trigger_kind)})"),
        ("Content hash", f"<code>{_e(s.content_hash)}</code>"),
        ("Adapter", _e(s.manifest.adapter or "generic")),
    ]
    dl = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    fields = _rows(
        f"<tr><td><code>{_e(f.path)}</code>{_e(f'#{f.span[0]}:{f.span[1]}' if f.span else '')}"
        f"</td><td>{_e(f.rule)}</td><td><code>{_e(f.fingerprint[:16])}</code></td>"
        f"<td>{_e(f'{f.restore.kind}: {f.restore.target}' if f.restore else '—')}</td></tr>"
        for f in s.manifest.fields
    )
    refs = _rows(
        f"<tr><td><code>{_e(ref.path)}</code></td><td>{_e(ref.kind)}</td><td>{_e(ref.name)}</td></tr>"
        for ref in s.manifest.references
    )
    body = (
        f"<h1>Snapshot of {_e(s.workflow_type)} workflow <code>{_e(s.workflow_id)}</code></h1>"
        f"<dl>{dl}</dl><h2>Masked fields ({len(s.manifest.fields)})</h2>"
        '<table id="manifest"><thead><tr><th>Path</th><th>Rule</th><th>Fingerprint</th>'
        f"<th>Restore from</th></tr></thead><tbody>{fields}</tbody></table>"
        + (
            "<h2>Secret references</h2><table><thead><tr><th>Path</th><th>Kind</th>"
            f"<th>Name</th></tr></thead><tbody>{refs}</tbody></table>"
            if refs
            else ""
        )
        + f'<h2>Masked config</h2><pre id="config">{_config_html(s.config)}</pre>'
    )
    return _layout(f"Snapshot {s.id}", body, where=f"snapshot {s.workflow_id}")


def _secret_badge(kind: str) -> str:
    return f'<span class="secret-changed">secret {_e(kind)}</span>'


def diff_page(a: Snapshot, b: Snapshot, diff: SnapshotDiff) -> str:
    """Side by side: each change with its value before and after; secrets marked."""
    rows = []
    for change in diff.changes:
        if change.secret:
            before = after = _secret_badge(change.secret)
        else:
            before = _value(change.old) if change.op in ("modified", "removed") else ""
            after = _value(change.new) if change.op in ("modified", "added") else ""
            if change.op == "moved":
                before = f"at <code>{_e(change.from_path)}</code>"
                after = f"at <code>{_e(change.path)}</code>"
        rows.append(
            f'<tr class="op-{_e(change.op)}"><td><code>{_e(change.path)}</code></td>'
            f"<td>{_e(change.op)}</td><td>{before}</td><td>{after}</td></tr>"
        )
    summary = "identical" if diff.identical else diff.summary.words()

    def head(s: Snapshot) -> str:
        return (
            f'<a href="{_e(snapshot_url(s.id))}">{_e(s.workflow_type)} {_e(s.workflow_id)}</a>'
            f" · {_when(s)} · {_status(s)}"
        )

    body = (
        f"<h1>Diff of pipeline <code>{_e(b.pipeline_id)}</code></h1>"
        f'<p>What changed: <strong id="summary">{_e(summary)}</strong></p>'
        '<table id="changes"><thead><tr><th>Path</th><th>Change</th>'
        f"<th>A: {head(a)}</th><th>B: {head(b)}</th></tr></thead>"
        f"<tbody>{_rows(rows)}</tbody></table>"
        '<h2>Masked configs</h2><div class="side">'
        f'<pre id="config-a">{_config_html(a.config)}</pre>'
        f'<pre id="config-b">{_config_html(b.config)}</pre></div>'
    )
    return _layout("Diff", body, where=f"pipeline {b.pipeline_id}")


def error_page(status: int, message: str) -> str:
    """An error (404, 400, 503...) in the pages' layout, with a way back."""
    body = (
        f'<h1>{status}</h1><p class="status status-failed" id="error">{_e(message)}</p>'
        '<p><a href="/ui">Back to the newest snapshots</a></p>'
    )
    return _layout(f"Error {status}", body, where=f"error {status}")


def login_page(error: str | None = None, *, csrf: str = "") -> str:
    """A form that keeps the bearer token in a cookie for the browser's pages.

    :param csrf: the anti-forgery token the form posts back (the same value is in
        the sign-in cookie the response sets: see ``wfaudit_web.app``).
    """
    message = f'<p class="status status-failed">{_e(error)}</p>' if error else ""
    body = (
        f"<h1>Sign in</h1>{message}"
        '<form class="login" method="post" action="/login">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        '<p><label>Access token<br><input type="password" name="token" size="40" '
        'autocomplete="off" required></label></p>'
        '<p><button type="submit">Sign in</button></p></form>'
    )
    return _layout("Sign in", body)
