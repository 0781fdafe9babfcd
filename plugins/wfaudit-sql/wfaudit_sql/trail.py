"""Verifying the audit trail and the rows it describes, inside one read transaction.

Several passes, each reading a page at a time (keyset pagination, so memory stays
flat however large the store is):

1. **Chains.** Each tenant's events in chain order: every event's hash must
   match its columns (else the row was *modified*); positions must follow each
   other (a gap: events *deleted*); every event must name the hash of the one
   before it. A broken link is resolved afterwards: an event chained to one two
   places back means the event between was *inserted*; chained to another
   position, *reordered*; chained to a hash no event has, the event before was
   rewritten (*modified*). Row ids must grow along the chain (else *reordered*),
   and the head row must name the last event (else events were cut off the end,
   *deleted*, or appended behind the store's back, *inserted*). Keyed events
   (``key_id`` set) are checked with the chain key; one with another key is
   *unreadable*; an unkeyed event after a keyed one was written without the
   key (*modified*). With anchors, the chain must pass through its anchored
   head (else *modified*) and reach it (else its tail was *deleted*).
2. **Subjects.** Each snapshot's events in ``seq`` order next to its row: the
   ``seq`` numbers must run 1, 2, 3 … in chain order; the row's sealed columns
   must match the digest its ``snapshot.audited`` event recorded, and its status
   columns the newest recorded state (else *modified*); a row that is gone must
   have a ``snapshot.deleted`` event (else *deleted*). On the same pages, the
   ``tags``, ``annotations`` and ``archives`` rows of each subject against what
   its events say (:class:`_Described`), and the legal holds the events record,
   checked against ``legal_holds`` once the pass is done.
3. **Rows without events**: snapshots the store never audited, and tag,
   annotation and archive rows of subjects with no event (*inserted*).
4. **Blob rows**: ``stored_size`` must be the length of the bytes, and every
   snapshot's blob must exist. (The engine checks each blob's bytes against its
   content hash, with the codec: see ``wfaudit verify``.)
5. **Manifest rows** (:mod:`wfaudit_sql.manifests`): every manifest must decode
   to text whose SHA-256 is its key, and every snapshot's manifest must exist.
   Pass 2 seals each row together with its manifest's text, so a manifest
   swapped for another one (a valid row of its own) shows up there.

Findings name tables, ids, positions and column names, never values.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import LargeBinary, cast, func, select, tuple_
from sqlalchemy.engine import Connection, Row, RowMapping

from wfaudit_hookspecs import (
    STATE_FIELDS,
    ChainHead,
    EventKind,
    Finding,
    Problem,
    TrailCheck,
)

from .chain import (
    COLUMN_SIGNATURE_LENGTH,
    GENESIS,
    SEALED_COLUMNS,
    column_digest,
    event_form,
    event_hash,
    record_digest,
    state_of,
    timestamp_text,
)
from .manifests import manifest_text, record_query
from .schema import (
    archives,
    blobs,
    chain_heads,
    events,
    legal_holds,
    manifests,
    snapshots,
    tags,
)
from .schema import snapshot_annotations as notes

__all__ = ["ARCHIVED_FIELDS", "ChainKey", "archive_differences", "check"]

_PAGE = 2000
_LOOKUP_CHUNK = 500

# The fields a snapshot.audited event of revision 0001 recorded (no digest then).
_LEGACY_FIELDS = {
    "content_hash": "content_hash",
    "workflow_id": "workflow_id",
    "workflow_type": "workflow_type",
    "pipeline_id": "pipeline_id",
    "attempt": "attempt",
    "parent": "parent_id",
}


class _Findings:
    """Findings, the first ``limit`` kept and all counted."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.kept: list[Finding] = []
        self.total = 0
        self._seen: set[tuple[str, str, str]] = set()

    def add(self, problem: str, table: str, key: str, detail: str, tenant: str | None) -> None:
        if (problem, table, key) in self._seen:
            return  # one finding per row and problem, however it was noticed
        self._seen.add((problem, table, key))
        self.total += 1
        if len(self.kept) < self.limit:
            self.kept.append(
                Finding(problem=problem, table=table, key=key, detail=detail, tenant=tenant or None)
            )


class ChainKey(NamedTuple):
    """The chain key keyed events are checked with (both None: no key given)."""

    key: bytes | None
    key_id: str | None
    retired: Mapping[str, bytes] = {}
    """Keys of the chain before a rotation, by key id."""


_NO_KEY = ChainKey(None, None, {})


def check(
    connection: Connection,
    *,
    tenant: str | None,
    max_findings: int,
    key: ChainKey = _NO_KEY,
    anchors: Mapping[str, ChainHead] | None = None,
) -> TrailCheck:
    """Check the trail of ``tenant`` (the stored value; None: every tenant).

    :param anchors: heads recorded earlier, by stored tenant: each chain must
        still pass through its anchored head.
    """
    anchors = dict(anchors or {})
    if tenant is not None:
        anchors = {name: head for name, head in anchors.items() if name == tenant}
    findings = _Findings(max_findings)
    head_query = select(chain_heads)
    tenant_query = select(events.c.tenant).distinct()
    if tenant is not None:
        head_query = head_query.where(chain_heads.c.tenant == tenant)
        tenant_query = tenant_query.where(events.c.tenant == tenant)
    heads = {row.tenant: (int(row.seq), str(row.hash)) for row in connection.execute(head_query)}
    present = {str(row[0]) for row in connection.execute(tenant_query)} | set(heads)
    chains = sorted(present | set(anchors))

    event_count = 0
    keyed: dict[str, int | None] = {}
    for chain in chains:
        walk = _Walk(chain, key, anchors.get(chain))
        event_count += _check_chain(connection, walk, heads.get(chain), findings)
        keyed[chain] = walk.keyed_from
    facts = _Facts()
    _check_subjects(connection, tenant, findings, facts)
    _check_holds(connection, tenant, facts, findings)
    _check_rows_without_events(connection, tenant, findings)
    _check_described_without_events(connection, tenant, findings)
    _check_blob_rows(connection, tenant, findings)
    _check_manifest_rows(connection, tenant, findings)

    count_query = select(func.count()).select_from(snapshots)
    if tenant is not None:
        count_query = count_query.where(snapshots.c.tenant == tenant)
    return TrailCheck(
        findings=tuple(findings.kept),
        findings_total=findings.total,
        chains=len(present),
        events=event_count,
        snapshots=int(connection.execute(count_query).scalar_one()),
        heads=tuple(
            ChainHead(tenant=name or None, seq=seq, hash=digest, keyed_from=keyed.get(name))
            for name, (seq, digest) in sorted(heads.items())
        ),
    )


# -- pass 1: the chains ------------------------------------------------------------


def _label(chain: str, position: int, last: int | None = None) -> str:
    span = str(position) if last is None or last == position else f"{position}..{last}"
    return f"{chain or '-'}#{span}"


class _Walk:
    """One chain's walk: the key to check keyed events with, the anchored head
    it must pass through, and what the walk learnt about keying."""

    def __init__(self, chain: str, key: ChainKey, anchor: ChainHead | None) -> None:
        self.chain = chain
        self.key = key
        self.anchor = anchor
        self.keyed_from: int | None = None
        """Where the trailing run of keyed events began (None: the last is not keyed)."""
        self.last_keyed: int | None = None
        self.foreign: dict[str, list[int]] = {}
        """Events keyed with another key (or with no key given), by key id: [first, last, n]."""
        self.passed_anchor = False

    def hash_of(self, row: Row[Any]) -> str | None:
        """The hash the event's columns give; None when a column holds a value of
        the wrong type (SQLite keeps whatever is written into a column), or when
        the event is keyed with a key this check does not have (noted in foreign)."""
        key_id = row.key_id
        if key_id is None:
            return _hash_of(row, None)
        if self.key.key is not None and key_id == self.key.key_id:
            return _hash_of(row, self.key.key)
        retired = self.key.retired.get(str(key_id))
        if retired is not None:
            return _hash_of(row, retired)
        here = int(row.chain_seq)
        span = self.foreign.setdefault(str(key_id), [here, here, 0])
        span[1], span[2] = here, span[2] + 1
        return row.hash if isinstance(row.hash, str) else None

    def keying(self, row: Row[Any], here: int, findings: _Findings) -> None:
        """Keyed runs: once a chain is keyed, an event without a key is a
        rewrite by someone who does not have it (a downgrade)."""
        if row.key_id is not None:
            if self.keyed_from is None:
                self.keyed_from = here
            self.last_keyed = here
            return
        self.keyed_from = None
        if self.last_keyed is not None:
            findings.add(
                Problem.MODIFIED,
                "events",
                _label(self.chain, here),
                f"the event is not keyed, though event #{self.last_keyed} before it is: "
                "it was written without the chain key, behind the store's back",
                self.chain,
            )

    def anchored(self, row: Row[Any], here: int, findings: _Findings) -> None:
        anchor = self.anchor
        if anchor is None or here != anchor.seq:
            return
        self.passed_anchor = True
        if row.hash != anchor.hash:
            findings.add(
                Problem.MODIFIED,
                "events",
                _label(self.chain, here),
                f"the chain no longer passes through its anchored head (#{anchor.seq}): "
                "the chain was rewritten up to there",
                self.chain,
            )

    def finish(self, position: int, findings: _Findings) -> None:
        chain = self.chain
        for key_id, (first, last, count) in sorted(self.foreign.items()):
            given = (
                "no chain key was given"
                if self.key.key_id is None
                else f"this installation's chain key is {self.key.key_id}"
            )
            findings.add(
                Problem.UNREADABLE,
                "events",
                _label(chain, first, last),
                f"{count} {'event is' if count == 1 else 'events are'} keyed with chain key "
                f"{key_id} and {given}: "
                "verify with the installation's fingerprint key",
                chain,
            )
        anchor = self.anchor
        if anchor is not None and not self.passed_anchor and position < anchor.seq:
            findings.add(
                Problem.DELETED,
                "events",
                _label(chain, position + 1, anchor.seq),
                f"the anchored head is #{anchor.seq} but the chain ends at #{position}: "
                "its tail was cut off" + (" (the whole chain is gone)" if position == 0 else ""),
                chain,
            )


def _check_chain(
    connection: Connection, walk: _Walk, head: tuple[int, str] | None, findings: _Findings
) -> int:
    """Walk one chain; returns how many events it has."""
    chain = walk.chain
    position, prev_hash, prev_id, count = 0, GENESIS, None, 0
    broken: list[tuple[int, str]] = []  # (position, the hash it names) of links to resolve
    c = events.c
    while True:
        rows = connection.execute(
            select(events)
            .where(c.tenant == chain, c.chain_seq > position)
            .order_by(c.chain_seq)
            .limit(_PAGE)
        ).all()
        for row in rows:
            count += 1
            here = int(row.chain_seq)
            key = _label(chain, here)
            if here != position + 1:
                findings.add(
                    Problem.DELETED,
                    "events",
                    _label(chain, position + 1, here - 1),
                    f"the chain has no event #{_span(position + 1, here - 1)}",
                    chain,
                )
            elif row.prev_hash != prev_hash:
                broken.append((here, str(row.prev_hash)))
            if walk.hash_of(row) != row.hash:
                findings.add(
                    Problem.MODIFIED,
                    "events",
                    key,
                    f"the columns of the event (row id {row.id}) no longer match its hash: "
                    "the row was edited",
                    chain,
                )
            if prev_id is not None and row.id <= prev_id:
                findings.add(
                    Problem.REORDERED,
                    "events",
                    key,
                    f"its row id ({row.id}) is not greater than that of the event before it "
                    f"({prev_id})",
                    chain,
                )
            walk.keying(row, here, findings)
            walk.anchored(row, here, findings)
            position, prev_hash, prev_id = here, str(row.hash), row.id
        if len(rows) < _PAGE:
            break

    _resolve_links(connection, chain, broken, findings)
    _check_head(chain, head, count, position, prev_hash, findings)
    walk.finish(position, findings)
    return count


def _hash_of(row: Row[Any], key: bytes | None) -> str | None:
    """The hash the event's columns give (under ``key``), or None when a column
    holds a value of the wrong type (SQLite keeps whatever is written into a column)."""
    try:
        form = event_form(
            tenant=row.tenant,
            subject=row.subject,
            seq=row.seq,
            kind=row.kind,
            at=row.at,
            actor=row.actor,
            data=row.data,
        )
        return event_hash(str(row.prev_hash), form, key)
    except (TypeError, ValueError, AttributeError):
        return None


def _resolve_links(
    connection: Connection, chain: str, broken: Sequence[tuple[int, str]], findings: _Findings
) -> None:
    """Say what each broken link means, from where the hash it names is found.

    A link is broken when an event does not name the hash of the event before
    it. Where the named hash is found tells what happened: two places back,
    the event in between does not belong (inserted, or moved there if its own
    link points elsewhere too); elsewhere, the event was moved (reordered);
    nowhere, the event before was rewritten with a recomputed hash, or this
    one was inserted with a made-up link.
    """
    if not broken:
        return
    wanted = sorted({digest for _, digest in broken})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        for seq, digest in connection.execute(
            select(events.c.chain_seq, events.c.hash).where(
                events.c.tenant == chain, events.c.hash.in_(chunk)
            )
        ):
            found[str(digest)] = int(seq)
    targets: dict[int, int | None] = {
        here: (0 if digest == GENESIS else found.get(digest)) for here, digest in broken
    }
    intact = object()
    for here, target in sorted(targets.items()):
        if target is None:
            if targets.get(here + 1, intact) == here - 1:
                findings.add(
                    Problem.INSERTED,
                    "events",
                    _label(chain, here),
                    f"it is chained to no event of the chain, and event #{here + 1} is "
                    f"chained to #{here - 1}: it was put between them",
                    chain,
                )
            else:
                findings.add(
                    Problem.MODIFIED,
                    "events",
                    _label(chain, here - 1),
                    f"event #{here} was chained to another event than this one: "
                    "it was rewritten (hash recomputed) or replaced",
                    chain,
                )
        elif target == here - 2:
            before = targets.get(here - 1, intact)
            if before is None:
                continue  # reported above, as an insertion
            moved = before is not intact
            findings.add(
                Problem.REORDERED if moved else Problem.INSERTED,
                "events",
                _label(chain, here - 1),
                f"event #{here} was chained to #{here - 2}: "
                + (
                    "this event was moved here from elsewhere in the chain"
                    if moved
                    else "this event was put between them"
                ),
                chain,
            )
        else:
            findings.add(
                Problem.REORDERED,
                "events",
                _label(chain, here),
                "it claims to start the chain, but is not its first event"
                if target == 0
                else f"it was chained to event #{target}, not to #{here - 1}",
                chain,
            )


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first} to #{last}"


def _check_head(
    chain: str,
    head: tuple[int, str] | None,
    count: int,
    position: int,
    last_hash: str,
    findings: _Findings,
) -> None:
    if head is None:
        if count:
            findings.add(
                Problem.DELETED,
                "chain_heads",
                chain or "-",
                "the chain's head row is missing",
                chain,
            )
        return
    head_seq, head_hash = head
    if head_seq > position:
        findings.add(
            Problem.DELETED,
            "events",
            _label(chain, position + 1, head_seq),
            f"the chain head is at #{head_seq}: event #{_span(position + 1, head_seq)} "
            "was cut off its end",
            chain,
        )
    elif head_seq < position:
        findings.add(
            Problem.INSERTED,
            "events",
            _label(chain, head_seq + 1, position),
            f"event #{_span(head_seq + 1, position)} comes after the chain head "
            f"(#{head_seq}): appended behind the store's back",
            chain,
        )
    elif head_hash != last_hash:
        findings.add(
            Problem.MODIFIED,
            "chain_heads",
            chain or "-",
            f"the head's hash is not that of event #{position}",
            chain,
        )


# -- pass 2: each snapshot against its events ---------------------------------------


def _check_subjects(
    connection: Connection, tenant: str | None, findings: _Findings, facts: _Facts
) -> None:
    c = events.c
    columns = (c.subject, c.seq, c.kind, c.at, c.actor, c.data, c.chain_seq, c.tenant)
    after: tuple[Any, Any] | None = None
    pending: list[Any] = []
    while True:
        query = select(*columns).order_by(c.subject, c.seq).limit(_PAGE)
        if tenant is not None:
            query = query.where(c.tenant == tenant)
        if after is not None:
            query = query.where(tuple_(c.subject, c.seq) > tuple_(*after))
        rows = connection.execute(query).all()
        last_page = len(rows) < _PAGE
        pending.extend(rows)
        if rows:
            after = (rows[-1].subject, rows[-1].seq)
        groups = _group(pending)
        # The last subject of a full page may go on in the next one.
        held = [] if last_page or not groups else groups.pop()
        _check_groups(connection, groups, findings, facts)
        pending = list(held)
        if last_page:
            return


def _group(rows: Iterable[Row[Any]]) -> list[list[Row[Any]]]:
    groups: list[list[Row[Any]]] = []
    for row in rows:
        if groups and groups[-1][0].subject == row.subject:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _check_groups(
    connection: Connection, groups: Sequence[list[Row[Any]]], findings: _Findings, facts: _Facts
) -> None:
    if not groups:
        return
    ids = [group[0].subject for group in groups]
    rows: dict[str, dict[str, Any]] = {}
    described = _Described()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        for row in connection.execute(record_query().where(snapshots.c.id.in_(chunk))).mappings():
            # The sealed form of the row: with its manifest's text, as audited.
            rows[row["id"]] = {**row, "manifest": manifest_text(row)}
        described.load(connection, chunk)
    for group in groups:
        record = rows.get(group[0].subject)
        _check_subject(group, record, findings)
        facts.collect(group)
        described.check(group, record is not None, findings)


def _data(event: Row[Any]) -> dict[str, Any]:
    try:
        value = json.loads(event.data)
    except (TypeError, ValueError):
        return {}  # an edited row: pass 1 reports it
    return value if isinstance(value, dict) else {}


def _check_subject(
    group: list[Row[Any]], row: Mapping[str, Any] | None, findings: _Findings
) -> None:
    subject, chain = group[0].subject, group[0].tenant
    try:
        seqs = [int(event.seq) for event in group]
        positions = [int(event.chain_seq) for event in group]
    except (TypeError, ValueError):
        return  # a column of the wrong type: pass 1 reports the row as modified
    missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
    if missing:
        ranges = _ranges(missing)
        findings.add(
            Problem.DELETED,
            "events",
            f"{subject}@{ranges}",
            f"event number {ranges} of subject {subject} is missing",
            chain,
        )
    if positions != sorted(positions):
        findings.add(
            Problem.REORDERED,
            "events",
            subject,
            f"the events of subject {subject} are not numbered in chain order",
            chain,
        )
    audited = next((event for event in group if event.kind == EventKind.AUDITED), None)
    if row is None:
        if audited is not None and not _deleted_on_record(group):
            findings.add(
                Problem.DELETED,
                "snapshots",
                subject,
                "the snapshot row is gone, and no snapshot.deleted event records its deletion",
                chain,
            )
        return
    if audited is None:
        findings.add(
            Problem.INSERTED,
            "snapshots",
            subject,
            "the row has events but no snapshot.audited event: it was not written by an audit",
            row["tenant"],
        )
        return
    _check_sealed(row, audited, findings)
    _check_state(row, group, findings)


def _differ(names: Sequence[str]) -> str:
    """``"tenant differs"``, ``"labels, manifest differ"``."""
    return f"{', '.join(names)} {'differs' if len(names) == 1 else 'differ'}"


def _ranges(numbers: Sequence[int], most: int = 10) -> str:
    """``[4, 5, 6, 9]`` → ``"4-6,9"`` (at most ``most`` ranges, then "...")."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    text = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans[:most])
    return text + (",..." if len(spans) > most else "")


def _deleted_on_record(group: Sequence[Row[Any]]) -> bool:
    lifecycle = [e.kind for e in group if e.kind in (EventKind.DELETED, EventKind.RESTORED)]
    return bool(lifecycle) and lifecycle[-1] == EventKind.DELETED


def _check_sealed(row: Mapping[str, Any], audited: Row[Any], findings: _Findings) -> None:
    data = _data(audited)
    differing: list[str] = []
    if row["tenant"] != audited.tenant:
        differing.append("tenant")
    if "record_digest" in data:
        if record_digest(row) != data["record_digest"]:
            differing.extend(_changed_columns(row, data))
    else:
        differing.extend(
            column
            for field, column in _LEGACY_FIELDS.items()
            if field in data and data[field] != row[column]
        )
    if differing:
        findings.add(
            Problem.MODIFIED,
            "snapshots",
            str(row["id"]),
            f"{_differ(list(dict.fromkeys(differing)))} from what the audit recorded",
            row["tenant"],
        )


def _changed_columns(row: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    """The sealed columns of ``row`` that differ from what its audit recorded:
    by each column's digest, and by the values the event holds in clear."""
    named = [
        column
        for field, column in _LEGACY_FIELDS.items()
        if field in data and data[field] != row[column]
    ]
    digests = data.get("column_digests")
    signature = data.get("columns")
    if isinstance(signature, str) and len(signature) == len(SEALED_COLUMNS) * (
        COLUMN_SIGNATURE_LENGTH
    ):
        step = COLUMN_SIGNATURE_LENGTH
        named.extend(
            column
            for index, column in enumerate(SEALED_COLUMNS)
            if signature[index * step : (index + 1) * step] != column_digest(row, column)[:step]
        )
    elif isinstance(digests, dict):
        named.extend(
            column
            for column in SEALED_COLUMNS
            if column in digests and digests[column] != column_digest(row, column)
        )
    if named:
        return named
    # An event written before wfaudit recorded a digest per column (or the row's
    # columns all match theirs, and the event's record digest was changed).
    return ["a sealed column (the audit recorded one digest of them all)"]


def _check_state(row: Mapping[str, Any], group: Sequence[Row[Any]], findings: _Findings) -> None:
    expected = None
    for event in reversed(group):
        expected = _state_recorded(event)
        if expected is not None:
            break
    if expected is None:
        return  # a row audited before revision 0002 with no outcome since
    actual = state_of(row)
    differing = [name for name in STATE_FIELDS if actual.get(name) != expected.get(name)]
    if differing:
        findings.add(
            Problem.MODIFIED,
            "snapshots",
            str(row["id"]),
            f"{_differ(differing)} from the last recorded state",
            row["tenant"],
        )


def _state_recorded(event: Row[Any]) -> dict[str, Any] | None:
    data = _data(event)
    state = data.get("state")
    if isinstance(state, dict):
        return state
    if event.kind == EventKind.OUTCOME and "status" in data:
        # An outcome of revision 0001: the state is in the event's own columns.
        return {
            "status": data["status"],
            "status_reason": data.get("reason"),
            "updated_on": timestamp_text(event.at),
            "updated_by": event.actor,
        }
    return None


# -- the tables the events describe: tags, annotations, archives, legal holds ----------


def _text(value: Any) -> str | None:
    return timestamp_text(value) if isinstance(value, _dt.datetime) else None


class _Described:
    """The ``tags``, ``annotations`` and ``archives`` rows of a page of subjects,
    checked against what the subjects' events say they must be.

    - **tags**: replaying a snapshot's ``snapshot.tagged`` / ``untagged`` events
      (those naming a tag) gives the tags it must carry, with who set them and when;
    - **annotations**: each ``snapshot.annotated`` event names its row's id, path
      and the SHA-256 of its note, its author (actor) and time;
    - **archives**: the ``snapshot.archived`` event holds where the archive object
      is and the hashes that check it; ``restored_on`` is the time of the last
      ``snapshot.restored`` event after it.

    Tags and annotations go with their snapshot row (a cascade): those of a
    snapshot whose row is gone are not expected. Archive records outlive it.
    """

    def __init__(self) -> None:
        self.tags: dict[str, list[RowMapping]] = {}
        self.notes: dict[str, list[RowMapping]] = {}
        self.archives: dict[str, RowMapping] = {}

    def load(self, connection: Connection, chunk: Sequence[str]) -> None:
        for row in connection.execute(select(tags).where(tags.c.snapshot_id.in_(chunk))).mappings():
            self.tags.setdefault(str(row["snapshot_id"]), []).append(row)
        query = select(notes).where(notes.c.snapshot_id.in_(chunk))
        for row in connection.execute(query).mappings():
            self.notes.setdefault(str(row["snapshot_id"]), []).append(row)
        query = select(archives).where(archives.c.snapshot_id.in_(chunk))
        for row in connection.execute(query).mappings():
            self.archives[str(row["snapshot_id"])] = row

    def check(self, group: Sequence[Row[Any]], present: bool, findings: _Findings) -> None:
        subject = str(group[0].subject)
        if present:
            self._tags(subject, group, findings)
            self._notes(subject, group, findings)
        self._archive(subject, group, findings)

    def _tags(self, subject: str, group: Sequence[Row[Any]], findings: _Findings) -> None:
        expected: dict[str, tuple[Any, Row[Any]]] = {}  # name -> (pipeline, its event)
        for event in group:
            if event.kind not in (EventKind.TAGGED, EventKind.UNTAGGED):
                continue
            data = _data(event)
            name = data.get("tag")
            if not isinstance(name, str):
                continue  # an event that names no tag (appended by other means)
            if event.kind == EventKind.TAGGED and "pipeline_id" in data:
                expected[name] = (data["pipeline_id"], event)
            elif event.kind == EventKind.UNTAGGED:
                expected.pop(name, None)
        rows = {str(row["name"]): row for row in self.tags.get(subject, [])}
        chain = group[0].tenant
        for name, row in sorted(rows.items()):
            key = f"{row['pipeline_id']}/{name}"
            fact = expected.get(name)
            if fact is None:
                findings.add(
                    Problem.INSERTED,
                    "tags",
                    key,
                    f"snapshot {subject} carries the tag, but no snapshot.tagged event "
                    "of the trail put it there",
                    row["tenant"],
                )
                continue
            pipeline, event = fact
            differing = [
                column
                for column, ok in (
                    ("tenant", row["tenant"] == event.tenant),
                    ("pipeline_id", row["pipeline_id"] == pipeline),
                    ("created_by", row["created_by"] == event.actor),
                    ("created_on", _text(row["created_on"]) == _text(event.at)),
                )
                if not ok
            ]
            if differing:
                findings.add(
                    Problem.MODIFIED,
                    "tags",
                    key,
                    f"{_differ(differing)} from the snapshot.tagged event",
                    row["tenant"],
                )
        for name, (pipeline, _) in sorted(expected.items()):
            if name not in rows:
                findings.add(
                    Problem.DELETED,
                    "tags",
                    f"{pipeline}/{name}",
                    f"the trail says snapshot {subject} carries the tag, but its row is gone",
                    chain,
                )

    def _notes(self, subject: str, group: Sequence[Row[Any]], findings: _Findings) -> None:
        expected: dict[int, Row[Any]] = {}
        for event in group:
            if event.kind == EventKind.ANNOTATED:
                number = _data(event).get("annotation")
                if isinstance(number, int):
                    expected[number] = event
        chain = group[0].tenant
        for row in self.notes.get(subject, []):
            number = int(row["id"])
            noted = expected.pop(number, None)
            if noted is None:
                findings.add(
                    Problem.INSERTED,
                    "annotations",
                    str(number),
                    f"the note on snapshot {subject} has no snapshot.annotated event",
                    row["tenant"],
                )
                continue
            data = _data(noted)
            note = row["note"]
            digest = (
                hashlib.sha256(note.encode("utf-8", "surrogatepass")).hexdigest()
                if isinstance(note, str)
                else None
            )
            differing = [
                column
                for column, ok in (
                    ("tenant", row["tenant"] == noted.tenant),
                    ("note", digest == data.get("note_sha256")),
                    ("path", row["path"] == data.get("path")),
                    ("author", row["author"] == noted.actor),
                    ("created_on", _text(row["created_on"]) == _text(noted.at)),
                )
                if not ok
            ]
            if differing:
                findings.add(
                    Problem.MODIFIED,
                    "annotations",
                    str(number),
                    f"{_differ(differing)} from the snapshot.annotated event",
                    row["tenant"],
                )
        for number in sorted(expected):
            findings.add(
                Problem.DELETED,
                "annotations",
                str(number),
                f"the trail has a note on snapshot {subject}, but its row is gone",
                chain,
            )

    def _archive(self, subject: str, group: Sequence[Row[Any]], findings: _Findings) -> None:
        archived: Row[Any] | None = None
        restored: Row[Any] | None = None
        for event in group:
            if event.kind == EventKind.ARCHIVED and "object_key" in _data(event):
                archived, restored = event, None
            elif event.kind == EventKind.RESTORED and archived is not None:
                restored = event
            elif (
                event.kind == EventKind.ARCHIVE_EXPIRED
                and archived is not None
                and _data(event).get("object_key") == _data(archived).get("object_key")
            ):
                archived, restored = None, None  # the record went with its object
        row = self.archives.get(subject)
        chain = group[0].tenant
        if archived is None:
            if row is not None:
                findings.add(
                    Problem.INSERTED,
                    "archives",
                    subject,
                    "the archive record has no snapshot.archived event",
                    row["tenant"],
                )
            return
        if row is None:
            findings.add(
                Problem.DELETED,
                "archives",
                subject,
                "the trail says the snapshot was archived, but its archive record is gone",
                chain,
            )
            return
        differing = archive_differences(row, archived)
        if row["tenant"] != archived.tenant:
            differing.insert(0, "tenant")
        expected_restore = None if restored is None else _text(restored.at)
        if _text(row["restored_on"]) != expected_restore:
            differing.append("restored_on")
        if differing:
            findings.add(
                Problem.MODIFIED,
                "archives",
                subject,
                f"{_differ(differing)} from the snapshot.archived event",
                row["tenant"],
            )


def archive_differences(row: Mapping[Any, Any], archived: Any) -> list[str]:
    """The columns of an ``archives`` row that differ from its ``snapshot.archived``
    event (``archived``: the event's row or its data as a mapping)."""
    data = archived if isinstance(archived, Mapping) else _data(archived)
    differing = [column for column in ARCHIVED_FIELDS if row[column] != data.get(column)]
    differing.extend(
        column
        for column in ARCHIVED_OPTIONAL_FIELDS
        if column in data and _plain(row[column]) != data[column]
    )
    return differing


ARCHIVED_FIELDS = (
    "archive_url",
    "object_key",
    "object_sha256",
    "object_size",
    "content_hash",
    "record_digest",
)
"""The ``archives`` columns every ``snapshot.archived`` event records."""

ARCHIVED_OPTIONAL_FIELDS = (
    "workflow_id",
    "workflow_type",
    "pipeline_id",
    "status",
    "created_on",
    "archived_on",
)
"""Columns the events record since revision 0007 (checked when present)."""


def _plain(value: Any) -> Any:
    return timestamp_text(value) if isinstance(value, _dt.datetime) else value


class _Facts:
    """The legal holds the trail records (set, and released), by hold id."""

    def __init__(self) -> None:
        self.holds: dict[str, dict[str, Any]] = {}

    def collect(self, group: Sequence[Row[Any]]) -> None:
        for event in group:
            if event.kind not in (EventKind.HOLD_SET, EventKind.HOLD_RELEASED):
                continue
            data = _data(event)
            hold = data.get("hold")
            if not isinstance(hold, str):
                continue  # an event that names no hold (appended by other means)
            fact = self.holds.setdefault(hold, {})
            if event.kind == EventKind.HOLD_SET:
                fact.update(set=event, data=data)
            else:
                fact.update(released=event, release=data)


def _check_holds(
    connection: Connection, tenant: str | None, facts: _Facts, findings: _Findings
) -> None:
    """Every ``legal_holds`` row against its ``legal_hold.set`` / ``released`` events."""
    query = select(legal_holds)
    if tenant is not None:
        query = query.where(legal_holds.c.tenant == tenant)
    seen: set[str] = set()
    for row in connection.execute(query.order_by(legal_holds.c.id)).mappings():
        hold = str(row["id"])
        seen.add(hold)
        fact = facts.holds.get(hold, {})
        event, data = fact.get("set"), fact.get("data", {})
        if event is None:
            findings.add(
                Problem.INSERTED,
                "legal_holds",
                hold,
                "the hold has no legal_hold.set event",
                row["tenant"],
            )
            continue
        differing = [
            column
            for column, ok in (
                ("tenant", row["tenant"] == event.tenant),
                ("scope", row["scope"] == data.get("scope")),
                ("target", row["target"] == data.get("target")),
                ("reason", row["reason"] == data.get("reason")),
                ("created_by", row["created_by"] == event.actor),
                ("created_on", _text(row["created_on"]) == _text(event.at)),
            )
            if not ok
        ]
        released = fact.get("released")
        if released is None:
            if row["released_on"] is not None:
                differing.append("released_on (released without a legal_hold.released event)")
        else:
            release = fact.get("release", {})
            if _text(row["released_on"]) != _text(released.at):
                differing.append("released_on")
            if row["released_by"] != released.actor:
                differing.append("released_by")
            if row["release_reason"] != release.get("reason"):
                differing.append("release_reason")
        if differing:
            findings.add(
                Problem.MODIFIED,
                "legal_holds",
                hold,
                f"{_differ(differing)} from the hold's events",
                row["tenant"],
            )
    for hold, fact in sorted(facts.holds.items()):
        event = fact.get("set")
        if hold not in seen and event is not None:
            findings.add(
                Problem.DELETED,
                "legal_holds",
                hold,
                "the trail has a legal_hold.set event for the hold, but its row is gone"
                + ("" if "released" in fact else ": the hold is still in force on the trail"),
                event.tenant,
            )


# -- passes 3 and 4 -------------------------------------------------------------------


def _check_rows_without_events(
    connection: Connection, tenant: str | None, findings: _Findings
) -> None:
    s, e = snapshots.c, events.c
    query = select(s.id, s.tenant).where(~select(e.id).where(e.subject == s.id).exists())
    if tenant is not None:
        query = query.where(s.tenant == tenant)
    for row in connection.execute(query.order_by(s.id).limit(findings.limit + 1)):
        findings.add(
            Problem.INSERTED,
            "snapshots",
            str(row.id),
            "the row has no events: it was written behind the store's back "
            "(or its snapshot.audited event was deleted)",
            row.tenant,
        )


def _check_described_without_events(
    connection: Connection, tenant: str | None, findings: _Findings
) -> None:
    """Tag, annotation and archive rows of subjects that have no event at all."""
    e = events.c
    keys: dict[str, Callable[[RowMapping], str]] = {
        "tags": lambda r: f"{r['pipeline_id']}/{r['name']}",
        "annotations": lambda r: str(r["id"]),
        "archives": lambda r: str(r["snapshot_id"]),
    }
    for table, column, name in (
        (tags, tags.c.snapshot_id, "tags"),
        (notes, notes.c.snapshot_id, "annotations"),
        (archives, archives.c.snapshot_id, "archives"),
    ):
        key_of = keys[name]
        query = select(table).where(~select(e.id).where(e.subject == column).exists())
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        for row in connection.execute(query.limit(findings.limit + 1)).mappings():
            findings.add(
                Problem.INSERTED,
                name,
                key_of(row),
                f"the row's snapshot {row['snapshot_id']} has no events: "
                "it was written behind the store's back",
                row["tenant"],
            )


def _check_blob_rows(connection: Connection, tenant: str | None, findings: _Findings) -> None:
    b, s = blobs.c, snapshots.c
    # length() of a value cast to binary counts bytes on both backends (of text, SQLite
    # would count characters).
    size_query = select(b.content_hash).where(
        b.stored_size != func.length(cast(b.data, LargeBinary))
    )
    missing_query = (
        select(s.id, s.tenant, s.content_hash)
        .select_from(snapshots.outerjoin(blobs, b.content_hash == s.content_hash))
        .where(b.content_hash.is_(None))
    )
    if tenant is not None:
        size_query = size_query.where(
            b.content_hash.in_(select(s.content_hash).where(s.tenant == tenant))
        )
        missing_query = missing_query.where(s.tenant == tenant)
    for row in connection.execute(size_query.limit(findings.limit + 1)):
        findings.add(
            Problem.MODIFIED,
            "blobs",
            str(row.content_hash),
            "stored_size does not match the length of the stored bytes",
            tenant,
        )
    for row in connection.execute(missing_query.limit(findings.limit + 1)):
        findings.add(
            Problem.DELETED,
            "blobs",
            str(row.content_hash),
            f"the blob of snapshot {row.id} is missing",
            row.tenant,
        )


def _check_manifest_rows(connection: Connection, tenant: str | None, findings: _Findings) -> None:
    m, s = manifests.c, snapshots.c
    last: str | None = None
    while True:
        query = select(m.manifest_hash, m.codec, m.data).order_by(m.manifest_hash).limit(_PAGE)
        if last is not None:
            query = query.where(m.manifest_hash > last)
        if tenant is not None:
            query = query.where(
                m.manifest_hash.in_(select(s.manifest_hash).where(s.tenant == tenant))
            )
        rows = connection.execute(query).all()
        for row in rows:
            form = {"manifest_hash": row[0], "manifest_codec": row[1], "manifest_data": row[2]}
            if manifest_text(form) is None:
                findings.add(
                    Problem.MODIFIED,
                    "manifests",
                    str(row[0]),
                    "its bytes do not decode to text with its hash: they were changed",
                    tenant,
                )
        if len(rows) < _PAGE:
            break
        last = str(rows[-1][0])
    missing_query = (
        select(s.id, s.tenant, s.manifest_hash)
        .select_from(snapshots.outerjoin(manifests, m.manifest_hash == s.manifest_hash))
        .where(m.manifest_hash.is_(None))
    )
    if tenant is not None:
        missing_query = missing_query.where(s.tenant == tenant)
    for row in connection.execute(missing_query.limit(findings.limit + 1)):
        findings.add(
            Problem.DELETED,
            "manifests",
            str(row.manifest_hash or row.id),
            f"the manifest of snapshot {row.id} is missing",
            row.tenant,
        )
