"""Verifying the audit trail and the rows it describes, inside one read transaction.

Four passes, each reading a page at a time (keyset pagination, so memory stays
flat however large the store is):

1. **Chains.** Each tenant's events in chain order: every event's hash must
   match its columns (else the row was *modified*); positions must follow each
   other (a gap: events *deleted*); every event must name the hash of the one
   before it. A broken link is resolved afterwards: an event chained to one two
   places back means the event between was *inserted*; chained to another
   position, *reordered*; chained to a hash no event has, the event before was
   rewritten (*modified*). Row ids must grow along the chain (else *reordered*),
   and the head row must name the last event (else events were cut off the end,
   *deleted*, or appended behind the store's back, *inserted*).
2. **Subjects.** Each snapshot's events in ``seq`` order next to its row: the
   ``seq`` numbers must run 1, 2, 3 … in chain order; the row's sealed columns
   must match the digest its ``snapshot.audited`` event recorded, and its status
   columns the newest recorded state (else *modified*); a row that is gone must
   have a ``snapshot.deleted`` event (else *deleted*).
3. **Rows without events**: snapshots the store never audited (*inserted*).
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

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import LargeBinary, cast, func, select, tuple_
from sqlalchemy.engine import Connection, Row

from wfaudit_hookspecs import (
    STATE_FIELDS,
    ChainHead,
    EventKind,
    Finding,
    Problem,
    TrailCheck,
)

from .chain import GENESIS, event_form, event_hash, record_digest, state_of, timestamp_text
from .manifests import manifest_text, record_query
from .schema import blobs, chain_heads, events, manifests, snapshots

__all__ = ["check"]

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


def check(connection: Connection, *, tenant: str | None, max_findings: int) -> TrailCheck:
    """Check the trail of ``tenant`` (the stored value; None: every tenant)."""
    findings = _Findings(max_findings)
    head_query = select(chain_heads)
    tenant_query = select(events.c.tenant).distinct()
    if tenant is not None:
        head_query = head_query.where(chain_heads.c.tenant == tenant)
        tenant_query = tenant_query.where(events.c.tenant == tenant)
    heads = {row.tenant: (int(row.seq), str(row.hash)) for row in connection.execute(head_query)}
    chains = sorted({str(row[0]) for row in connection.execute(tenant_query)} | set(heads))

    event_count = 0
    for chain in chains:
        event_count += _check_chain(connection, chain, heads.get(chain), findings)
    _check_subjects(connection, tenant, findings)
    _check_rows_without_events(connection, tenant, findings)
    _check_blob_rows(connection, tenant, findings)
    _check_manifest_rows(connection, tenant, findings)

    count_query = select(func.count()).select_from(snapshots)
    if tenant is not None:
        count_query = count_query.where(snapshots.c.tenant == tenant)
    return TrailCheck(
        findings=tuple(findings.kept),
        findings_total=findings.total,
        chains=len(chains),
        events=event_count,
        snapshots=int(connection.execute(count_query).scalar_one()),
        heads=tuple(
            ChainHead(tenant=name or None, seq=seq, hash=digest)
            for name, (seq, digest) in sorted(heads.items())
        ),
    )


# -- pass 1: the chains ------------------------------------------------------------


def _label(chain: str, position: int, last: int | None = None) -> str:
    span = str(position) if last is None or last == position else f"{position}..{last}"
    return f"{chain or '-'}#{span}"


def _check_chain(
    connection: Connection, chain: str, head: tuple[int, str] | None, findings: _Findings
) -> int:
    """Walk one chain; returns how many events it has."""
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
            if _hash_of(row) != row.hash:
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
            position, prev_hash, prev_id = here, str(row.hash), row.id
        if len(rows) < _PAGE:
            break

    _resolve_links(connection, chain, broken, findings)
    _check_head(chain, head, count, position, prev_hash, findings)
    return count


def _hash_of(row: Row[Any]) -> str | None:
    """The hash the event's columns give, or None when a column holds a value of
    the wrong type (SQLite keeps whatever is written into a column)."""
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
        return event_hash(str(row.prev_hash), form)
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


def _check_subjects(connection: Connection, tenant: str | None, findings: _Findings) -> None:
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
        _check_groups(connection, groups, findings)
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
    connection: Connection, groups: Sequence[list[Row[Any]]], findings: _Findings
) -> None:
    if not groups:
        return
    ids = [group[0].subject for group in groups]
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        for row in connection.execute(record_query().where(snapshots.c.id.in_(chunk))).mappings():
            # The sealed form of the row: with its manifest's text, as audited.
            rows[row["id"]] = {**row, "manifest": manifest_text(row)}
    for group in groups:
        _check_subject(group, rows.get(group[0].subject), findings)


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
            # Name what can be named from the event; the digest covers the rest.
            named = [
                column
                for field, column in _LEGACY_FIELDS.items()
                if field in data and data[field] != row[column]
            ]
            differing.extend(named or ["a sealed column"])
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
            f"{', '.join(dict.fromkeys(differing))} differ(s) from what the audit recorded",
            row["tenant"],
        )


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
            f"{', '.join(differing)} differ(s) from the last recorded state",
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
