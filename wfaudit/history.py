"""History: a pipeline's timeline of snapshots, tags and annotations.

:func:`timeline` is what ``wfaudit log`` prints and what a web page can show:
one :class:`TimelineEntry` per snapshot, newest first, with its tags, its
annotations, and what changed since the snapshot before it in a few words
(:meth:`~wfaudit.diff.DiffSummary.words`).

"The snapshot before" is the previous snapshot of the same pipeline, workflow
type and tenant, whatever the filters of the page: a timeline of failed runs
still says what changed since the run before each failure. The work per page
is bounded: a pair with equal content hashes is "no change" without reading
anything, each config is read once per page, the words of a pair are kept in
a small per-process cache (snapshots are immutable), and at most ``max_diffs``
pairs are compared per call.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from wfaudit_hookspecs import (
    Annotation,
    EventKind,
    HistoryQuery,
    InvalidRequest,
    Snapshot,
    SnapshotRecord,
    Status,
    Tag,
    UnknownReference,
    UnknownWorkflowType,
    normalize_workflow_type,
    parse_pointer,
    utcnow,
)
from wfaudit_hookspecs.converter import unstructure
from wfaudit_hookspecs.pointer import get_at
from wfaudit_hookspecs.util import LRU, parse_key_value

from .diff import diff_configs, shape_for, summarize
from .refs import history_store, optional_history_store, resolve

if TYPE_CHECKING:
    from .ports import AuditorReads

__all__ = [
    "FIRST",
    "MAX_LIMIT",
    "NOT_COMPARED",
    "TimelineEntry",
    "annotate",
    "entry_json",
    "history_query",
    "known_workflow_type",
    "parse_labels",
    "parse_time",
    "tag",
    "timeline",
    "untag",
]

FIRST = "first snapshot"
"""What changed, for the first snapshot of a pipeline's history."""
NOT_COMPARED = None
"""``changed`` of an entry whose pair was not compared (over the page's budget)."""
MAX_LIMIT = 1000
"""The largest page of a timeline."""
DEFAULT_MAX_DIFFS = 200
"""Pairs compared per :func:`timeline` call at most."""

_WORDS_CACHE_SIZE = 4096
SPAN = 500
"""Records of one history read at once to find the previous snapshots of a filtered page."""


@attrs.frozen(kw_only=True)
class TimelineEntry:
    """One snapshot in a timeline.

    :ivar record: the snapshot's record (no config).
    :ivar previous: the id of the snapshot before it in its pipeline's history
        (same workflow type and tenant), or None for the first one.
    :ivar changed: what changed since ``previous`` in a few words (``2 steps
        modified, image``), ``no change``, ``first snapshot``, or None when it
        was not compared (the page's comparison budget ran out).
    :ivar tags: the names of the tags on the snapshot.
    :ivar annotations: the notes on the snapshot, oldest first.
    """

    record: SnapshotRecord
    previous: str | None = None
    changed: str | None = None
    tags: tuple[str, ...] = ()
    annotations: tuple[Annotation, ...] = ()


def entry_json(entry: TimelineEntry) -> dict[str, Any]:
    """An entry as JSON data: the record's fields, then ``tags``, ``previous``,
    ``changed`` and ``annotations``."""
    data: dict[str, Any] = unstructure(entry.record)
    data["tags"] = list(entry.tags)
    data["previous"] = entry.previous
    data["changed"] = entry.changed
    data["annotations"] = [unstructure(a) for a in entry.annotations]
    return data


# -- queries -------------------------------------------------------------------------


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, *, now: _dt.datetime | None = None) -> _dt.datetime:
    """``2026-11-01``, ``2026-11-01T12:00:00+01:00`` or a time ago: ``90m``, ``7d``, ``2w``.

    A date or time without a zone is UTC.
    """
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        return (now or utcnow()) - _dt.timedelta(seconds=seconds)
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is not a time: give an ISO date or time (2026-11-01, "
            "2026-11-01T12:00:00Z) or a time ago (30m, 12h, 7d, 2w)"
        ) from None
    return parsed.replace(tzinfo=_dt.UTC) if parsed.tzinfo is None else parsed


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    """``["app=payments", "env=prod"]`` → a label filter."""
    labels: dict[str, str] = {}
    for item in items:
        key, value = parse_key_value(item, what="label filter")
        labels[key] = value
    return labels


def history_query(
    auditor: AuditorReads,
    *,
    pipeline_id: str | int | None = None,
    workflow_id: str | int | None = None,
    workflow_type: str | None = None,
    status: Status | str | None = None,
    labels: Mapping[str, str] | None = None,
    since: _dt.datetime | str | None = None,
    until: _dt.datetime | str | None = None,
    before: str | None = None,
    tenant: str | None = None,
    limit: int = 50,
) -> HistoryQuery:
    """A store query from a timeline's filters, scoped to the auditor's tenant.

    :param since: created at or after (a datetime, or text for :func:`parse_time`).
    :param until: created before.
    :param before: a cursor: the id (or any reference) of the last entry of the
        previous page; the page starts right after it.
    :raises UnknownWorkflowType: ``workflow_type`` is not one the engine or an
        adapter declares.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}")
    scoped = auditor.settings.tenant
    if scoped is not None and tenant not in (None, scoped):
        raise InvalidRequest(f"this auditor is scoped to tenant {scoped!r}")
    kind = None if workflow_type is None else known_workflow_type(auditor, workflow_type)
    start = parse_time(since) if isinstance(since, str) else since
    end = parse_time(until) if isinstance(until, str) else until
    if start is not None and end is not None and start >= end:
        raise InvalidRequest("--since must be earlier than --until")
    query = HistoryQuery(
        tenant=scoped if scoped is not None else tenant,
        pipeline_id=None if pipeline_id is None else str(pipeline_id),
        workflow_id=None if workflow_id is None else str(workflow_id),
        workflow_type=kind,
        status=None if status is None else _status(status),
        labels=dict(labels or {}),
        since=start,
        before=end,
        limit=limit,
    )
    if before is not None:
        cursor = resolve(
            auditor.store,
            before,
            tenant=query.tenant,
            pipeline_id=query.pipeline_id,
            workflow_type=query.workflow_type,
            workflow_types=frozenset(auditor.workflow_types),
        )
        if end is None or cursor.created_on < end:
            query = attrs.evolve(query, before=cursor.created_on, before_id=cursor.id)
        # else: --until is older than the cursor and already narrows the page
    return query


def known_workflow_type(auditor: AuditorReads, value: str) -> str:
    """``value`` normalized (``ci`` → ``CI``), if the engine or an adapter declares it.

    :raises UnknownWorkflowType: no one does (the message lists the known types).
    """
    kind = normalize_workflow_type(value)
    known = auditor.workflow_types
    if known and kind not in known:
        raise UnknownWorkflowType(kind, known)
    return kind


def _status(value: Status | str) -> Status:
    try:
        return Status(str(value).strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in Status)
        raise InvalidRequest(f"unknown status {value!r}; use one of {known}") from None


# -- the timeline ----------------------------------------------------------------------


WORDS_CACHE: LRU[tuple[str, str], str] = LRU(_WORDS_CACHE_SIZE)
"""The per-process cache of :func:`timeline`'s comparisons: what changed between
two snapshots, by their ids (records are immutable; ``WORDS_CACHE.clear()``)."""


def _complete(query: HistoryQuery) -> bool:
    """True when the query drops no snapshot of a (tenant, pipeline, type) history
    inside its time range: the snapshot before an entry is then the next entry
    of the same history on the page."""
    return query.workflow_id is None and query.status is None and not query.labels


def _history_key(record: SnapshotRecord) -> tuple[str, str, str]:
    return (record.tenant or "", record.pipeline_id, record.workflow_type)


def timeline(
    auditor: AuditorReads,
    query: HistoryQuery,
    *,
    changes: bool = True,
    max_diffs: int = DEFAULT_MAX_DIFFS,
) -> list[TimelineEntry]:
    """The snapshots ``query`` selects, newest first, as timeline entries.

    :param query: from :func:`history_query` (or built directly; its tenant is
        the caller's to scope).
    :param changes: compute what changed since each entry's previous snapshot.
    :param max_diffs: compare at most this many pairs (others get ``changed=None``).
    """
    records = auditor.store.history(query)
    if not records:
        return []
    previous = _previous_records(auditor, records, query)
    ids = [r.id for r in records]
    tags: dict[str, list[str]] = {}
    notes: dict[str, list[Annotation]] = {}
    store = optional_history_store(auditor.store)  # a store without tags: none shown
    for t in store.list_tags(snapshot_ids=ids, tenant=query.tenant) if store else ():
        tags.setdefault(t.snapshot_id, []).append(t.name)
    for note in store.list_annotations(snapshot_ids=ids, tenant=query.tenant) if store else ():
        notes.setdefault(note.snapshot_id, []).append(note)
    words = _what_changed(auditor, records, previous, max_diffs) if changes else {}
    return [
        TimelineEntry(
            record=record,
            previous=_id_of(previous.get(record.id)),
            changed=words.get(record.id) if changes else None,
            tags=tuple(sorted(tags.get(record.id, ()))),
            annotations=tuple(notes.get(record.id, ())),
        )
        for record in records
    ]


def _id_of(record: SnapshotRecord | None) -> str | None:
    return None if record is None else record.id


def _previous_records(
    auditor: AuditorReads, records: Sequence[SnapshotRecord], query: HistoryQuery
) -> dict[str, SnapshotRecord | None]:
    """Each record's previous snapshot.

    From the page itself when the query is complete; else, for a history with
    several entries on the page, from one read of that history below its newest
    entry (at most :data:`SPAN` records); the rest (the oldest entry of each
    history, entries further apart) with one indexed query each.
    """
    found: dict[str, SnapshotRecord | None] = {}
    if _complete(query):
        newer: dict[tuple[str, str, str], SnapshotRecord] = {}
        for record in records:  # newest first
            key = _history_key(record)
            if key in newer:
                found[newer[key].id] = record
            newer[key] = record
    groups: dict[tuple[str, str, str], list[SnapshotRecord]] = {}
    for record in records:
        if record.id not in found:
            groups.setdefault(_history_key(record), []).append(record)
    for group in groups.values():
        if len(group) < 2:
            continue
        run = auditor.store.history(_before(group[0], SPAN))
        position = {r.id: i for i, r in enumerate(run)}
        found[group[0].id] = run[0] if run else None
        for record in group[1:]:
            at = position.get(record.id)
            if at is not None and at + 1 < len(run):
                found[record.id] = run[at + 1]
            elif at is not None and len(run) < SPAN:
                found[record.id] = None  # the history ends here
    for record in records:
        if record.id not in found:
            before = auditor.store.history(_before(record, 1))
            found[record.id] = before[0] if before else None
    return found


def _before(record: SnapshotRecord, limit: int) -> HistoryQuery:
    """The snapshots of ``record``'s history older than it, newest first."""
    return HistoryQuery(
        tenant=record.tenant or "",  # '' is "no tenant" (None would be any)
        pipeline_id=record.pipeline_id,
        workflow_type=record.workflow_type,
        before=record.created_on,
        before_id=record.id,
        limit=limit,
    )


def _what_changed(
    auditor: AuditorReads,
    records: Sequence[SnapshotRecord],
    previous: Mapping[str, SnapshotRecord | None],
    max_diffs: int,
) -> dict[str, str]:
    words: dict[str, str] = {}
    pairs: list[tuple[SnapshotRecord, SnapshotRecord]] = []
    for record in records:
        before = previous.get(record.id)
        if before is None:
            words[record.id] = FIRST
        elif before.content_hash == record.content_hash:
            # Placeholders carry the secrets' fingerprints: equal hashes, equal secrets.
            words[record.id] = "no change"
        elif (cached := WORDS_CACHE.get((before.id, record.id))) is not None:
            words[record.id] = cached
        elif len(pairs) < max_diffs:
            pairs.append((before, record))
    if not pairs:
        return words
    # The page's blobs in one read (when the store can), each config decoded once.
    wanted = list(dict.fromkeys(r.content_hash for pair in pairs for r in pair))
    store = optional_history_store(auditor.store)
    blobs = {b.content_hash: b for b in store.get_blobs(wanted)} if store else {}
    configs: dict[str, Snapshot] = {}

    def load(record: SnapshotRecord) -> Snapshot:
        if record.content_hash not in configs:
            blob = blobs.pop(record.content_hash, None)
            configs[record.content_hash] = auditor.load(record, blob=blob)
        return configs[record.content_hash]

    for before, record in pairs:
        key = (before.id, record.id)
        old, new = load(before), load(record)
        changes = diff_configs(old.config, new.config, before.manifest, record.manifest)
        shape = shape_for(auditor.diff_shapes, before.manifest, record.manifest)
        summary = summarize(changes, shape)
        words[record.id] = summary.words()
        WORDS_CACHE.put(key, words[record.id])
    return words


# -- tags and annotations ------------------------------------------------------------------


def tag(
    auditor: AuditorReads,
    ref: str,
    name: str,
    *,
    move: bool = False,
    by: str | None = None,
    pipeline_id: str | None = None,
) -> Tag:
    """Put tag ``name`` on the snapshot ``ref`` names (see :mod:`wfaudit.refs`)."""
    record = auditor.resolve(ref, pipeline_id=pipeline_id)
    result = history_store(auditor.store).add_tag(
        snapshot_id=record.id, name=name, tenant=record.tenant, by=by, move=move
    )
    auditor.notify(EventKind.TAGGED, record, {"tag": result.name})
    return result


def untag(
    auditor: AuditorReads, name: str, *, pipeline_id: str | None = None, by: str | None = None
) -> Tag:
    """Remove tag ``name`` (from ``pipeline_id``, needed when several pipelines have it)."""
    tenant = auditor.settings.tenant
    store = history_store(auditor.store)
    if pipeline_id is None:
        tagged = store.list_tags(name=name, tenant=tenant)
        pipelines = sorted({t.pipeline_id for t in tagged})
        if len(pipelines) > 1:
            raise InvalidRequest(
                f"tag {name!r} is in several pipelines ({', '.join(pipelines)}); give --pipeline P"
            )
        if not pipelines:
            raise UnknownReference(f"no tag {name!r} (wfaudit tags lists the tags)")
        pipeline_id = pipelines[0]
    removed = store.remove_tag(name=name, pipeline_id=pipeline_id, tenant=tenant, by=by)
    record = auditor.store.get_record_by_id(removed.snapshot_id, tenant=tenant)
    if record is not None:
        auditor.notify(EventKind.UNTAGGED, record, {"tag": removed.name})
    return removed


def annotate(
    auditor: AuditorReads,
    ref: str,
    note: str,
    *,
    author: str,
    path: str | None = None,
    pipeline_id: str | None = None,
) -> Annotation:
    """Add a note to the snapshot ``ref`` names, or to the node at ``path`` in its
    masked config (which must exist there)."""
    record = auditor.resolve(ref, pipeline_id=pipeline_id)
    if path:
        config = auditor.load(record).config
        try:
            get_at(config, parse_pointer(path, config))
        except (KeyError, IndexError, TypeError):
            raise InvalidRequest(f"{path} is not a path in snapshot {record.id}'s config") from None
    result = history_store(auditor.store).add_annotation(
        snapshot_id=record.id, note=note, author=author, tenant=record.tenant, path=path
    )
    auditor.notify(EventKind.ANNOTATED, record, {"annotation": result.id, "path": result.path})
    return result
