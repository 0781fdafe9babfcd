"""The HTML pages: a pipeline's timeline, one snapshot, a side-by-side diff.

Plain server-rendered HTML, no script: every value is escaped, configs are the
masked ones, and a secret in a diff is marked ``secret changed`` (added,
removed) without either value. What is long is folded with ``<details>``
(unchanged lines of a script, a long value, the whole configs under a diff),
so a one-step change is a short page.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

from wfaudit import SnapshotDiff, is_multiline, line_diff
from wfaudit_hookspecs import Snapshot, SnapshotRecord

from .data import TimelineEntry

__all__ = [
    "diff_page",
    "error_page",
    "index_page",
    "line_diff_html",
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
header form.logout { margin-left: auto; }
header form.logout button { background: none; border: 1px solid #fff8; color: #fff;
  border-radius: .3rem; padding: .15rem .6rem; cursor: pointer; }
.linediff { background: #fff; border: 1px solid #d9dde3; }
.linediff pre { border: 0; padding: 0 .6rem; white-space: pre-wrap; }
.linediff .line { display: block; } .linediff .line-removed { background: #fbe0e0; }
.linediff .line-added { background: #dcf5dc; } .linediff .hunk-head { color: #2b6cb0; }
.linediff details > summary, details.configs > summary {
  cursor: pointer; color: #5b6672; font-size: .8rem; padding: .15rem .6rem; }
details.value > summary { cursor: pointer; }
details.value .more { color: #5b6672; font-size: .8rem; }
details.configs { margin-top: 1.4rem; } details.configs > summary { font-size: 1rem; }
.labels code { background: #eef1f5; border-radius: .2rem; padding: 0 .3rem; margin-right: .3rem; }
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


def _layout(title: str, body: str, *, where: str = "", logout: str | None = None) -> str:
    """A page: the header (with a sign-out button when ``logout``, the sign-out
    form's anti-forgery token, is given), then ``body``."""
    sign_out = (
        '<form class="logout" method="post" action="/logout">'
        f'<input type="hidden" name="csrf" value="{_e(logout)}">'
        '<button type="submit" id="logout">Sign out</button></form>'
        if logout
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} · wfaudit</title><style>{STYLE}</style></head><body>"
        f'<header><a href="/ui">wfaudit</a><span class="where">{_e(where)}</span>{sign_out}'
        f"</header><main>{body}</main></body></html>"
    )


def _status(record: SnapshotRecord) -> str:
    status = str(record.status)
    return f'<span class="status status-{_e(status)}">{_e(status)}</span>'


def _when(record: SnapshotRecord) -> str:
    return record.created_on.strftime("%Y-%m-%d %H:%M:%S")


def _config_html(config: Any) -> str:
    text = html.escape(json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True))
    return _PLACEHOLDER.sub(lambda m: f'<span class="masked">{m.group(0)}</span>', text)


def _marked(text: str) -> str:
    return _PLACEHOLDER.sub(lambda m: f'<span class="masked">{m.group(0)}</span>', _e(text))


SHORT = 240
"""Characters of a value shown before it is folded (a click shows it whole)."""


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) <= SHORT:
        return f"<code>{_marked(text)}</code>"
    return (
        f'<details class="value"><summary><code>{_marked(text[: SHORT - 1])}…</code> '
        f'<span class="more">({len(text):,} characters: show all)</span></summary>'
        f"<code>{_marked(text)}</code></details>"
    )


def _lines(lines: Sequence[str], css: str, mark: str = " ") -> str:
    return "".join(f'<span class="line {css}">{_marked(mark + line)}</span>' for line in lines)


def _unchanged(lines: Sequence[str]) -> str:
    """Unchanged lines between hunks, folded (a click shows them)."""
    if not lines:
        return ""
    count = f"{len(lines)} unchanged line{'' if len(lines) == 1 else 's'}"
    return f"<details><summary>{count}</summary><pre>{_lines(lines, 'line-same')}</pre></details>"


def line_diff_html(old: str, new: str) -> str:
    """A multi-line string's change (a script) as the engine's line diff
    (:func:`wfaudit.line_diff`, what ``wfaudit diff`` shows): removed lines
    red, added lines green, each hunk with three unchanged lines around it and
    the other unchanged lines folded."""
    before = old.splitlines()
    parts = []
    done = 0
    for hunk in line_diff(old, new, 3):
        parts.append(_unchanged(before[done : hunk.old_start]))
        body = "".join(
            _lines([line], {"-": "line-removed", "+": "line-added"}.get(mark, "line-same"), mark)
            for mark, line in hunk.lines
        )
        head = f'<span class="line hunk-head">{_e(hunk.header())}</span>'
        parts.append(f'<pre class="hunk">{head}{body}</pre>')
        done = hunk.old_end
    parts.append(_unchanged(before[done:]))
    return f'<div class="linediff">{"".join(parts)}</div>'


def _rows(rows: Iterable[str]) -> str:
    return "".join(rows)


def index_page(records: Sequence[SnapshotRecord], *, logout: str | None = None) -> str:
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
    return _layout("Snapshots", body, logout=logout)


def timeline_page(
    pipeline_id: str, entries: Sequence[TimelineEntry], *, logout: str | None = None
) -> str:
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
    return _layout(f"Pipeline {pipeline_id}", body, where=f"pipeline {pipeline_id}", logout=logout)


def snapshot_page(
    snapshot: Snapshot, tags: Sequence[str] = (), *, logout: str | None = None
) -> str:
    """One snapshot: identity, labels, tags, the manifest of masked fields, the masked config."""
    s = snapshot
    labels = " ".join(f"<code>{_e(key)}={_e(value)}</code>" for key, value in s.labels.items())
    tagged = "".join(f'<span class="tag">{_e(name)}</span>' for name in tags)
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
        ("Labels", f'<span class="labels" id="labels">{labels or "-"}</span>'),
        ("Tags", f'<span id="tags">{tagged or "-"}</span>'),
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
    return _layout(f"Snapshot {s.id}", body, where=f"snapshot {s.workflow_id}", logout=logout)


def _secret_badge(kind: str) -> str:
    return f'<span class="secret-changed">secret {_e(kind)}</span>'


def diff_page(a: Snapshot, b: Snapshot, diff: SnapshotDiff, *, logout: str | None = None) -> str:
    """Side by side: each change with its value before and after; secrets marked.

    A changed multi-line string (a script) is shown as a line diff across both
    columns; the whole configs follow, folded.
    """
    rows = []
    for change in diff.changes:
        values: str
        if change.secret:
            badge = _secret_badge(change.secret)
            values = f"<td>{badge}</td><td>{badge}</td>"
        elif change.op == "moved":
            values = f"<td>at <code>{_e(change.from_path)}</code></td>"
            values += f"<td>at <code>{_e(change.path)}</code></td>"
        elif change.op == "modified" and is_multiline(change.old, change.new):
            values = f'<td colspan="2">{line_diff_html(change.old, change.new)}</td>'
        else:
            before = _value(change.old) if change.op in ("modified", "removed") else ""
            after = _value(change.new) if change.op in ("modified", "added") else ""
            values = f"<td>{before}</td><td>{after}</td>"
        rows.append(
            f'<tr class="op-{_e(change.op)}"><td><code>{_e(change.path)}</code></td>'
            f"<td>{_e(change.op)}</td>{values}</tr>"
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
        '<details class="configs" id="configs"><summary>Masked configs of A and B</summary>'
        f'<div class="side"><pre id="config-a">{_config_html(a.config)}</pre>'
        f'<pre id="config-b">{_config_html(b.config)}</pre></div></details>'
    )
    return _layout("Diff", body, where=f"pipeline {b.pipeline_id}", logout=logout)


def error_page(status: int, message: str, *, logout: str | None = None) -> str:
    """An error (404, 400, 503...) in the pages' layout, with a way back."""
    body = (
        f'<h1>{status}</h1><p class="status status-failed" id="error">{_e(message)}</p>'
        '<p><a href="/ui">Back to the newest snapshots</a></p>'
    )
    return _layout(f"Error {status}", body, where=f"error {status}", logout=logout)


def login_page(error: str | None = None, *, csrf: str = "", note: str | None = None) -> str:
    """A form that keeps the bearer token in a cookie for the browser's pages.

    :param error: why the last attempt failed (shown in red); None on a first visit.
    :param csrf: the anti-forgery token the form posts back (the same value is in
        the sign-in cookie the response sets: see ``wfaudit_web.app``).
    :param note: a neutral line above the form (why signing in is asked for).
    """
    message = f'<p class="status status-failed" id="error">{_e(error)}</p>' if error else ""
    if note:
        message += f'<p class="muted" id="note">{_e(note)}</p>'
    body = (
        f"<h1>Sign in</h1>{message}"
        '<form class="login" method="post" action="/login">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        '<p><label>Access token<br><input type="password" name="token" size="40" '
        'autocomplete="off" required></label></p>'
        '<p><button type="submit">Sign in</button></p></form>'
    )
    return _layout("Sign in", body)
