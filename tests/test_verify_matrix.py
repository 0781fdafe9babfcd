"""A systematic tamper matrix: every table that carries meaning, edited directly in SQL.

A store is filled through the API (audits, outcomes, a tag, a note, legal holds,
an archive record, a custom event), verified clean and anchored (``make_anchor``,
what ``wfaudit anchor`` writes). Then one direct edit per case: for every table
a row deleted, a row inserted and a meaningful column updated, plus the edits
of a writer who knows the chain's algorithm: a consistent rewrite (hashes
recomputed), the tail cut off (head row moved back), a forged tenant chain.

Each case says whether ``verify`` must catch it on its own or needs the anchor.
``NEEDS_ANCHOR`` is the record of which edits need one: for those, ``verify``
without the anchor passes (the limit is real, and documented in
docs/operations.md) and ``verify`` with it fails.

``retention_sweeps`` and ``sweep_locks`` are left out on purpose: they hold a
sweep's progress and its lock, which no audit fact depends on (an edit there
can make a sweep start over or wait, never delete what is held or referenced).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

from tests.conftest import KeyNameMasker
from wfaudit import Auditor
from wfaudit.archive import FileArchive
from wfaudit.cli import cli
from wfaudit.retention import Action, RetentionPolicy, Sweeper, add_hold, delete_snapshot
from wfaudit.testing.clock import Clock
from wfaudit.verify import Anchor, AnchorError, load_anchor, make_anchor, verify
from wfaudit_hookspecs import StoreError
from wfaudit_hookspecs.retention import HoldScope
from wfaudit_sql.chain import event_form, event_hash
from wfaudit_sql.schema import digest_bytes, digest_text
from wfaudit_sql.urls import parse_store_url


@attrs.frozen
class World:
    auditor: Auditor
    anchor: Anchor
    ids: dict[str, str]
    archive_dir: pathlib.Path


@pytest.fixture
def sql(store_url: str) -> Iterator[Engine]:
    engine = create_engine(parse_store_url(store_url).url)
    yield engine
    engine.dispose()


@pytest.fixture
def world(make_auditor: Callable[..., Auditor], tmp_path: pathlib.Path) -> World:
    auditor = make_auditor(KeyNameMasker())
    ids: dict[str, str] = {}
    for n in range(1, 7):
        result = auditor.audit_trigger(
            workflow_id=n,
            workflow_type="CI",
            pipeline_id=f"p{n % 2}",
            triggered_by="ci",
            labels={"app": "payments"},
            config={"step": n, "password": "pw", "shared": n % 3},
        )
        assert result.ok and result.ref is not None, result.error
        ids[str(n)] = result.ref.id
    for n in (3, 5):
        auditor.record_outcome(n, "CI", "failed", reason="exit 1", by="runner")
    store: Any = auditor.store
    auditor.tag(ids["1"], "v1", by="qa")
    auditor.annotate(ids["1"], "looks fine", author="qa")
    add_hold(
        store, scope=HoldScope.SNAPSHOT, target=ids["2"], tenant=None, reason="case", by="legal"
    )
    add_hold(store, scope=HoldScope.PIPELINE, target="p7", tenant=None, reason=None, by="legal")
    archive_dir = tmp_path / "archive"
    Sweeper(store, RetentionPolicy(), archive=FileArchive(archive_dir, fsync=False)).archive_one(
        ids["5"]
    )
    store.append_event(subject="ops", kind="acme.note", tenant=None, data={"n": 1})
    report = verify(auditor)
    assert report.ok, report.findings
    return World(auditor, make_anchor(auditor, report), ids, archive_dir)


def one(c: Connection, sql: str, **params: Any) -> Any:
    return c.execute(text(sql), params).scalar_one()


def _copy_row(c: Connection, table: str, key: str, value: str, changes: dict[str, Any]) -> None:
    query = text(f"SELECT * FROM {table} WHERE {key} = :v")  # noqa: S608
    row = dict(c.execute(query, {"v": value}).mappings().one())
    row.update(changes)
    if table in ("events", "annotations"):
        del row["id"]  # a new row id
    names, params = ", ".join(row), ", ".join(f":{name}" for name in row)
    c.execute(text(f"INSERT INTO {table} ({names}) VALUES ({params})"), row)  # noqa: S608


def rehash(c: Connection, tenant: str, start: int = 1) -> None:
    """Recompute every link of a chain from ``start`` with the published, unkeyed
    algorithm, and move the head row: what a writer without the key can do."""
    prev = (
        "0" * 64
        if start == 1
        else digest_text(
            one(
                c,
                "SELECT hash FROM events WHERE tenant = :t AND chain_seq = :s",
                t=tenant,
                s=start - 1,
            )
        )
    )
    rows = (
        c.execute(
            text("SELECT * FROM events WHERE tenant = :t AND chain_seq >= :s ORDER BY chain_seq"),
            {"t": tenant, "s": start},
        )
        .mappings()
        .all()
    )
    last = start - 1
    for row in rows:
        at = row["at"]
        if isinstance(at, str):
            at = dt.datetime.fromisoformat(at)
        form = event_form(
            tenant=row["tenant"], subject=row["subject"], seq=row["seq"], kind=row["kind"],
            at=at, actor=row["actor"], data=row["data"],
        )  # fmt: skip
        digest = event_hash(prev, form)
        c.execute(
            text("UPDATE events SET prev_hash = :p, hash = :h, key_id = NULL WHERE id = :i"),
            {"p": digest_bytes(prev), "h": digest_bytes(digest), "i": row["id"]},
        )
        prev, last = digest, int(row["chain_seq"])
    c.execute(
        text("UPDATE chain_heads SET seq = :s, hash = :h WHERE tenant = :t"),
        {"s": last, "h": digest_bytes(prev), "t": tenant},
    )


# -- the edits ------------------------------------------------------------------------
# Each takes the connection and the world's ids; returns nothing.

Edit = Callable[[Connection, dict[str, str]], None]


def snapshots_delete(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("DELETE FROM snapshots WHERE id = :i"), {"i": ids["6"]})


def snapshots_insert(c: Connection, ids: dict[str, str]) -> None:
    _copy_row(
        c, "snapshots", "id", ids["6"], {"id": "FORGED0000000000000000000X", "workflow_id": "999"}
    )


def snapshots_update(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("UPDATE snapshots SET status = 'succeeded' WHERE id = :i"), {"i": ids["3"]})


def events_delete(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("DELETE FROM events WHERE chain_seq = 4"))


def events_insert(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("UPDATE events SET chain_seq = chain_seq + 1000 WHERE chain_seq > 5"))
    _copy_row(c, "events", "chain_seq", 5, {"chain_seq": 6, "subject": "forged", "seq": 1})
    c.execute(text("UPDATE events SET chain_seq = chain_seq - 999 WHERE chain_seq > 1000"))


def events_update(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("UPDATE events SET actor = 'mallory' WHERE chain_seq = 3"))


def chain_heads_delete(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("DELETE FROM chain_heads"))


def chain_heads_insert(c: Connection, ids: dict[str, str]) -> None:
    _copy_row(c, "chain_heads", "tenant", "", {"tenant": "ghost"})


def chain_heads_update(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("UPDATE chain_heads SET hash = :h"), {"h": digest_bytes("0" * 64)})


def _blob_of(c: Connection, ids: dict[str, str], n: str) -> Any:
    # The stored key as it is (32 bytes since 0010), for the statements below.
    return one(c, "SELECT content_hash FROM snapshots WHERE id = :i", i=ids[n])


def blobs_delete(c: Connection, ids: dict[str, str]) -> None:
    if c.dialect.name == "postgresql":
        c.execute(text("SET session_replication_role = replica"))
    c.execute(text("DELETE FROM blobs WHERE content_hash = :h"), {"h": _blob_of(c, ids, "6")})


def blobs_insert(c: Connection, ids: dict[str, str]) -> None:
    _copy_row(
        c, "blobs", "content_hash", _blob_of(c, ids, "6"), {"content_hash": digest_bytes("f" * 64)}
    )


def blobs_update(c: Connection, ids: dict[str, str]) -> None:
    c.execute(
        text("UPDATE blobs SET raw_size = raw_size + 1 WHERE content_hash = :h"),
        {"h": _blob_of(c, ids, "6")},
    )


def _manifest_of(c: Connection, ids: dict[str, str], n: str) -> Any:
    return one(c, "SELECT manifest_hash FROM snapshots WHERE id = :i", i=ids[n])


def manifests_delete(c: Connection, ids: dict[str, str]) -> None:
    if c.dialect.name == "postgresql":
        c.execute(text("SET session_replication_role = replica"))
    c.execute(
        text("DELETE FROM manifests WHERE manifest_hash = :h"), {"h": _manifest_of(c, ids, "6")}
    )


def manifests_insert(c: Connection, ids: dict[str, str]) -> None:
    _copy_row(
        c,
        "manifests",
        "manifest_hash",
        _manifest_of(c, ids, "6"),
        {"manifest_hash": digest_bytes("e" * 64)},
    )


def manifests_update(c: Connection, ids: dict[str, str]) -> None:
    c.execute(
        text("UPDATE manifests SET data = :d WHERE manifest_hash = :h"),
        {"d": b"[]", "h": _manifest_of(c, ids, "6")},
    )


def tags_delete(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("DELETE FROM tags"))


def tags_insert(c: Connection, ids: dict[str, str]) -> None:
    _copy_row(c, "tags", "name", "v1", {"name": "forged", "snapshot_id": ids["3"]})


def tags_update(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("UPDATE tags SET snapshot_id = :i"), {"i": ids["3"]})


def annotations_delete(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("DELETE FROM annotations"))


def annotations_insert(c: Connection, ids: dict[str, str]) -> None:
    _copy_row(c, "annotations", "note", "looks fine", {"note": "approved by the board"})


def annotations_update(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("UPDATE annotations SET note = 'approved by the board'"))


def legal_holds_delete(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("DELETE FROM legal_holds WHERE scope = 'snapshot'"))


def legal_holds_insert(c: Connection, ids: dict[str, str]) -> None:
    _copy_row(c, "legal_holds", "scope", "pipeline", {"id": "hold-forged", "target": "p1"})


def legal_holds_update(c: Connection, ids: dict[str, str]) -> None:
    c.execute(
        text(
            "UPDATE legal_holds SET released_on = :t, released_by = 'mallory' WHERE scope = 'snapshot'"
        ),
        {"t": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)},
    )


def archives_delete(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("DELETE FROM archives"))


def archives_insert(c: Connection, ids: dict[str, str]) -> None:
    _copy_row(
        c, "archives", "snapshot_id", ids["5"], {"snapshot_id": ids["3"], "object_key": "forged"}
    )


def archives_update(c: Connection, ids: dict[str, str]) -> None:
    c.execute(text("UPDATE archives SET object_sha256 = :h"), {"h": "a" * 64})


# -- the edits of a writer who knows the algorithm ------------------------------------------


def rewrite_suffix(c: Connection, ids: dict[str, str]) -> None:
    """An event's data changed and every hash after it recomputed (no key)."""
    c.execute(text("UPDATE events SET data = :d WHERE kind = 'acme.note'"), {"d": '{"n":2}'})
    last = int(one(c, "SELECT seq FROM chain_heads WHERE tenant = ''"))
    rehash(c, "", last)


def rewrite_whole_chain(c: Connection, ids: dict[str, str]) -> None:
    """The whole chain recomputed without the key, from the first event on."""
    c.execute(text("UPDATE events SET data = :d WHERE kind = 'acme.note'"), {"d": '{"n":2}'})
    rehash(c, "", 1)


def truncate_tail(c: Connection, ids: dict[str, str]) -> None:
    """The last event cut off and the head row moved back to the one before."""
    last = int(one(c, "SELECT seq FROM chain_heads WHERE tenant = ''"))
    c.execute(text("DELETE FROM events WHERE tenant = '' AND chain_seq = :s"), {"s": last})
    previous = one(c, "SELECT hash FROM events WHERE tenant = '' AND chain_seq = :s", s=last - 1)
    c.execute(
        text("UPDATE chain_heads SET seq = :s, hash = :h WHERE tenant = ''"),
        {"s": last - 1, "h": previous},
    )


def truncate_tail_with_a_fact(c: Connection, ids: dict[str, str]) -> None:
    """The tail cut off down to the tagging: the tag row no longer has its event."""
    cut = int(one(c, "SELECT chain_seq FROM events WHERE kind = 'snapshot.tagged'"))
    c.execute(text("DELETE FROM events WHERE tenant = '' AND chain_seq >= :s"), {"s": cut})
    previous = one(c, "SELECT hash FROM events WHERE tenant = '' AND chain_seq = :s", s=cut - 1)
    c.execute(
        text("UPDATE chain_heads SET seq = :s, hash = :h WHERE tenant = ''"),
        {"s": cut - 1, "h": previous},
    )


def forge_tenant(c: Connection, ids: dict[str, str]) -> None:
    """A whole new tenant's chain, consistent, written behind the store's back."""
    _copy_row(
        c,
        "events",
        "kind",
        "acme.note",
        {"tenant": "mallory", "subject": "m-1", "chain_seq": 1, "seq": 1},
    )
    _copy_row(c, "chain_heads", "tenant", "", {"tenant": "mallory"})
    rehash(c, "mallory", 1)


def delete_tenant_chain(c: Connection, ids: dict[str, str]) -> None:
    """Every trace of the store's only tenant chain gone: events, head, rows."""
    for table in (
        "tags",
        "annotations",
        "legal_holds",
        "archives",
        "snapshots",
        "events",
        "chain_heads",
    ):
        c.execute(text(f"DELETE FROM {table}"))  # noqa: S608


CASES: dict[str, tuple[Edit, tuple[str, str]]] = {
    "snapshots-delete": (snapshots_delete, ("deleted", "snapshots")),
    "snapshots-insert": (snapshots_insert, ("inserted", "snapshots")),
    "snapshots-update": (snapshots_update, ("modified", "snapshots")),
    "events-delete": (events_delete, ("deleted", "events")),
    "events-insert": (events_insert, ("inserted", "events")),
    "events-update": (events_update, ("modified", "events")),
    "chain_heads-delete": (chain_heads_delete, ("deleted", "chain_heads")),
    "chain_heads-insert": (chain_heads_insert, ("deleted", "events")),
    "chain_heads-update": (chain_heads_update, ("modified", "chain_heads")),
    "blobs-delete": (blobs_delete, ("deleted", "blobs")),
    "blobs-insert": (blobs_insert, ("modified", "blobs")),
    "blobs-update": (blobs_update, ("modified", "blobs")),
    "manifests-delete": (manifests_delete, ("deleted", "manifests")),
    "manifests-insert": (manifests_insert, ("modified", "manifests")),
    "manifests-update": (manifests_update, ("modified", "manifests")),
    "tags-delete": (tags_delete, ("deleted", "tags")),
    "tags-insert": (tags_insert, ("inserted", "tags")),
    "tags-update": (tags_update, ("inserted", "tags")),
    "annotations-delete": (annotations_delete, ("deleted", "annotations")),
    "annotations-insert": (annotations_insert, ("inserted", "annotations")),
    "annotations-update": (annotations_update, ("modified", "annotations")),
    "legal_holds-delete": (legal_holds_delete, ("deleted", "legal_holds")),
    "legal_holds-insert": (legal_holds_insert, ("inserted", "legal_holds")),
    "legal_holds-update": (legal_holds_update, ("modified", "legal_holds")),
    "archives-delete": (archives_delete, ("deleted", "archives")),
    "archives-insert": (archives_insert, ("inserted", "archives")),
    "archives-update": (archives_update, ("modified", "archives")),
    "rewrite-suffix": (rewrite_suffix, ("modified", "events")),
    "rewrite-whole-chain": (rewrite_whole_chain, ("modified", "events")),
    "truncate-tail": (truncate_tail, ("deleted", "events")),
    "truncate-tail-with-a-fact": (truncate_tail_with_a_fact, ("inserted", "tags")),
    "forge-tenant": (forge_tenant, ("inserted", "events")),
    "delete-tenant-chain": (delete_tenant_chain, ("deleted", "events")),
}

NEEDS_ANCHOR = frozenset(
    {"rewrite-whole-chain", "truncate-tail", "forge-tenant", "delete-tenant-chain"}
)
"""The edits ``verify`` catches only against an anchor: a chain rewritten from its
first event without the key (indistinguishable from a chain written before the
key existed), the tail cut off with the head row moved back (a valid earlier
state), a tenant chain forged or wiped out whole."""


def found(findings: Any) -> set[tuple[str, str]]:
    return {(f.problem, f.table) for f in findings}


@pytest.mark.parametrize("case", list(CASES))
def test_tamper_matrix(world: World, sql: Engine, case: str) -> None:
    edit, expected = CASES[case]
    with sql.begin() as connection:
        edit(connection, world.ids)
    plain = verify(world.auditor)
    anchored = verify(world.auditor, anchor=world.anchor)
    if case in NEEDS_ANCHOR:
        assert plain.ok, f"{case} is caught without an anchor now: {plain.findings}"
    else:
        assert not plain.ok
        assert expected in found(plain.findings), plain.findings
    assert not anchored.ok
    assert expected in found(anchored.findings), anchored.findings
    # Findings name rows and columns, never values.
    text_of = repr(anchored)
    assert "approved by the board" not in text_of and "looks fine" not in text_of


def test_the_clean_world_verifies_with_its_anchor(world: World) -> None:
    report = verify(world.auditor, anchor=world.anchor)
    assert report.ok and report.anchored, report.findings
    (head,) = report.heads
    assert head.keyed_from == 1  # a store written by this wfaudit is keyed throughout


def test_a_tenant_created_after_the_anchor_is_accepted_when_keyed(
    world: World, make_auditor: Callable[..., Auditor]
) -> None:
    scoped = make_auditor(KeyNameMasker(), tenant="acme")
    assert scoped.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id="p", config={}).ok
    report = verify(world.auditor, anchor=world.anchor)
    assert report.ok, report.findings


def test_an_old_unkeyed_chain_still_verifies_and_goes_on_keyed(world: World, sql: Engine) -> None:
    """Events written before the chain was keyed (no key id) keep their plain hashes."""
    with sql.begin() as connection:
        rehash(connection, "", 1)  # the store as revision 0006 left it: nothing keyed
    assert verify(world.auditor).ok
    world.auditor.record_outcome(1, "CI", "succeeded", by="runner")
    report = verify(world.auditor)
    assert report.ok, report.findings
    (head,) = report.heads
    assert head.keyed_from == head.seq  # keyed from the first event after the upgrade


def test_another_key_is_reported_not_mistaken_for_tampering(
    world: World, make_auditor: Callable[..., Auditor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_FINGERPRINT_KEY", "ab" * 32)
    stranger = make_auditor(KeyNameMasker())
    report = verify(stranger)
    assert not report.ok
    assert found(report.findings) == {("unreadable", "events")}
    assert "fingerprint key" in report.findings[0].detail
    with pytest.raises(AnchorError, match="written with chain key"):
        load_anchor(json.dumps(world.anchor.to_json(world.auditor)), stranger)


def test_an_edited_anchor_file_is_refused(world: World) -> None:
    data = world.anchor.to_json(world.auditor)
    load_anchor(json.dumps(data), world.auditor)  # as written: fine
    data["tenants"] = [*data["tenants"], "mallory"]
    with pytest.raises(AnchorError, match="changed"):
        load_anchor(json.dumps(data), world.auditor)
    for bad in ("not json", "[]", json.dumps({"format": "wfaudit-anchor/1"})):
        with pytest.raises(AnchorError):
            load_anchor(bad, world.auditor)


def test_anchor_refuses_a_store_that_does_not_verify(world: World, sql: Engine) -> None:
    with sql.begin() as connection:
        events_update(connection, world.ids)
    with pytest.raises(StoreError, match="does not verify"):
        make_anchor(world.auditor, verify(world.auditor))


# -- retention and restore decide from the chained facts ----------------------------------


def test_deleting_a_hold_row_does_not_let_the_sweep_delete_the_held_snapshot(
    wfaudit_clock: Clock, world: World, sql: Engine
) -> None:
    store: Any = world.auditor.store
    held = world.ids["2"]
    with sql.begin() as connection:
        legal_holds_delete(connection, world.ids)
    # The listing, the sweep's plan and the store's own check all still see the hold.
    assert any(h.target == held for h in store.list_holds())
    blocked = delete_snapshot(store, held, require_archive=False, reason={}, by="mallory")
    assert not blocked.deleted and blocked.blocked is not None
    assert "legal hold" in blocked.blocked
    sweep = Sweeper(store, RetentionPolicy(), archive=FileArchive(world.archive_dir, fsync=False))
    wfaudit_clock.advance(days=400)
    assert {item.snapshot_id: item.action for item in sweep.plan()}[held] == Action.HOLD
    assert sweep.apply().deleted >= 1  # the sweep ran, and deleted what was due
    assert store.get_candidate(held) is not None
    assert store.get_candidate(world.ids["6"]) is None


def test_a_hold_released_behind_the_stores_back_still_holds(world: World, sql: Engine) -> None:
    store: Any = world.auditor.store
    with sql.begin() as connection:
        legal_holds_update(connection, world.ids)
    outcome = delete_snapshot(store, world.ids["2"], require_archive=False, reason={}, by="x")
    assert not outcome.deleted and "legal hold" in str(outcome.blocked)


def test_deleting_a_tag_row_does_not_let_the_sweep_delete_the_tagged_snapshot(
    world: World, sql: Engine
) -> None:
    store: Any = world.auditor.store
    with sql.begin() as connection:
        tags_delete(connection, world.ids)
    assert store.references(world.ids["1"]) == ["tag v1"]
    outcome = delete_snapshot(store, world.ids["1"], require_archive=False, reason={}, by="x")
    assert not outcome.deleted and outcome.blocked == "tag v1 references it"


def test_a_forged_archive_digest_makes_restore_refuse(world: World, sql: Engine) -> None:
    """The archive object replaced and the record's SHA-256 updated to match it:
    restore checks the object against the chained snapshot.archived event."""
    store: Any = world.auditor.store
    snapshot_id = world.ids["5"]
    sweeper = Sweeper(store, RetentionPolicy(), archive=FileArchive(world.archive_dir, fsync=False))
    assert delete_snapshot(store, snapshot_id, require_archive=True, reason={}, by="ops").deleted
    record = store.get_archive(snapshot_id)
    path = world.archive_dir / record.object_key
    forged = path.read_bytes() + b"\n"
    path.write_bytes(forged)
    with sql.begin() as connection:
        connection.execute(
            text("UPDATE archives SET object_sha256 = :h, object_size = :n"),
            {"h": hashlib.sha256(forged).hexdigest(), "n": len(forged)},
        )
    with pytest.raises(StoreError, match=r"differs from its snapshot\.archived event"):
        sweeper.restore(snapshot_id)
    assert store.get_candidate(snapshot_id) is None  # nothing was restored


def test_restore_from_an_untouched_archive_still_works(world: World) -> None:
    store: Any = world.auditor.store
    snapshot_id = world.ids["5"]
    sweeper = Sweeper(store, RetentionPolicy(), archive=FileArchive(world.archive_dir, fsync=False))
    assert delete_snapshot(store, snapshot_id, require_archive=True, reason={}, by="ops").deleted
    assert sweeper.restore(snapshot_id, by="ops").restored
    assert verify(world.auditor, anchor=world.anchor).ok


# -- the commands ------------------------------------------------------------------------------


def test_anchor_and_verify_anchors_commands(
    world: World, sql: Engine, store_url: str, tmp_path: pathlib.Path
) -> None:
    runner = CliRunner()
    path = tmp_path / "anchors" / "heads.json"
    path.parent.mkdir()
    written = runner.invoke(cli, ["--store", store_url, "anchor", "--output", str(path)])
    assert written.exit_code == 0, written.output
    assert "anchored 1 chain " in written.output
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert data["tenants"] == [""] and data["heads"][0]["keyed_from"] == 1
    printed = runner.invoke(cli, ["--store", store_url, "anchor"])
    assert printed.exit_code == 0 and json.loads(printed.output)["format"] == "wfaudit-anchor/1"

    clean = runner.invoke(cli, ["--store", store_url, "verify", "--anchors", str(path)])
    assert clean.exit_code == 0, clean.output
    assert "checked against the anchors" in clean.output

    with sql.begin() as connection:
        forge_tenant(connection, world.ids)
    assert runner.invoke(cli, ["--store", store_url, "verify"]).exit_code == 0
    caught = runner.invoke(cli, ["--store", store_url, "verify", "--anchors", str(path), "--json"])
    assert caught.exit_code == 1, caught.output
    assert ("inserted", "events") in {
        (f["problem"], f["table"]) for f in json.loads(caught.output)["findings"]
    }

    # A new anchor taken against the last one never certifies the forgery.
    refused = runner.invoke(cli, ["--store", store_url, "anchor", "--previous", str(path)])
    assert refused.exit_code == 1 and "does not verify" in refused.output
    missing = runner.invoke(
        cli, ["--store", store_url, "verify", "--anchors", str(tmp_path / "no.json")]
    )
    assert missing.exit_code == 1
    assert "cannot read the anchor file" in missing.output and "Traceback" not in missing.output


def test_the_anchor_commands_of_the_operations_page_run(
    world: World, store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/operations.md's anchor block, command by command, on a filled store."""
    page = (pathlib.Path(__file__).parents[1] / "docs" / "operations.md").read_text()
    block = page.split("### Anchors", 1)[1].split("```console", 1)[1].split("```", 1)[0]
    commands = [line[2:].split("#", 1)[0].split() for line in block.splitlines() if line]
    assert [c[1] for c in commands] == ["anchor", "verify", "anchor"]
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(cli, ["--store", store_url, *command[1:]])
        assert result.exit_code == 0, (command, result.output)
    assert (tmp_path / "heads-2.json").stat().st_mode & 0o777 == 0o600


def test_each_tenant_chain_is_anchored_and_checked_in_its_scope(
    world: World, make_auditor: Callable[..., Auditor], sql: Engine
) -> None:
    acme = make_auditor(KeyNameMasker(), tenant="acme")
    assert acme.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id="p", config={}).ok
    report = verify(world.auditor)
    anchor = make_anchor(world.auditor, report)
    assert anchor.tenants == ("", "acme")
    assert verify(acme, anchor=anchor).ok  # a store-wide anchor, checked for one tenant
    scoped = make_anchor(acme, verify(acme))
    assert scoped.tenant == "acme" and scoped.tenants == ("acme",)
    with pytest.raises(AnchorError, match="--tenant acme"):
        load_anchor(json.dumps(scoped.to_json(world.auditor)), world.auditor)
    with sql.begin() as connection:
        for table in ("snapshots", "events", "chain_heads"):
            connection.execute(text(f"DELETE FROM {table} WHERE tenant = 'acme'"))  # noqa: S608
    assert verify(acme).ok  # nothing left to see
    for auditor, used in ((acme, anchor), (acme, scoped), (world.auditor, anchor)):
        caught = verify(auditor, anchor=used)
        assert ("deleted", "events") in found(caught.findings), caught.findings
    assert verify(world.auditor, anchor=world.anchor).ok  # the other tenant is untouched


def test_a_store_opened_late_is_keyed_too(store_url: str, world: World) -> None:
    """The spool's stand-in for a store that was down hands the key over on opening."""
    from wfaudit.spool import DeferredStore
    from wfaudit_sql import SqlStore

    late = DeferredStore(
        store_url, lambda: SqlStore(store_url), StoreError("down"), retry_interval=0
    )
    late.use_chain_key(b"k" * 32, key_id="late-key")
    opened: Any = late.opened()
    opened.append_event(subject="ops", kind="acme.note", tenant="late", data={})
    with opened._engine.connect() as connection:
        assert one(connection, "SELECT key_id FROM events WHERE tenant = 'late'") == "late-key"
    opened.close()


def test_deleting_an_archive_record_does_not_make_its_object_an_orphan(
    wfaudit_clock: Clock, world: World, sql: Engine
) -> None:
    store: Any = world.auditor.store
    record = store.get_archive(world.ids["5"])
    path = world.archive_dir / record.object_key
    with sql.begin() as connection:
        archives_delete(connection, world.ids)
    wfaudit_clock.advance(days=30)
    sweep = Sweeper(store, RetentionPolicy(), archive=FileArchive(world.archive_dir, fsync=False))
    sweep.clean_orphans()
    assert path.exists()
