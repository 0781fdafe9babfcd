"""Conformance kits for the optional store protocols :class:`StoreHistory`,
:class:`StoreMaintenance` and :class:`KeyedTrail`.

Subclass a kit and override its ``store`` fixture to return a fresh, empty
store of your backend, as for :class:`~wfaudit.testing.StoreConformance`. A kit
fails its first test when the store does not implement the protocol at all::

    class TestMyStoreHistory(StoreHistoryConformance):
        @pytest.fixture
        def store(self, tmp_path):
            yield MyStore(f"mystore://{tmp_path}")
"""

from __future__ import annotations

import itertools
import pathlib
from typing import Any

import pytest

from wfaudit_hookspecs import (
    EventKind,
    InvalidRequest,
    KeyedTrail,
    SnapshotNotFound,
    Status,
    Store,
    StoreError,
    StoreHistory,
    StoreMaintenance,
    StoreSchema,
    TagConflict,
    UnknownReference,
)

from .kit_store import make_record

__all__ = [
    "KeyedTrailConformance",
    "StoreHistoryConformance",
    "StoreMaintenanceConformance",
    "StoreSchemaConformance",
]


def _common_prefix(a: str, b: str) -> str:
    return "".join(
        x for x, _ in itertools.takewhile(lambda pair: pair[0] == pair[1], zip(a, b, strict=False))
    )


def _kinds(store: Any, subject: str) -> list[str]:
    return [event.kind for event in store.list_events(subject=subject, limit=1000)]


class _Kit:
    @pytest.fixture
    def store(self) -> Store:
        """A fresh, empty store. Override this fixture in your subclass."""
        pytest.fail("override the `store` fixture to return a fresh store of your backend")


class StoreHistoryConformance(_Kit):
    """:class:`~wfaudit_hookspecs.StoreHistory`: id prefixes, tags (unique per
    pipeline, moved only when asked), annotations and batched blob reads, each
    change recorded on the audit trail. Override :meth:`store`."""

    def test_history_implements_the_protocol(self, store: Any) -> None:
        assert isinstance(store, StoreHistory), (
            "the store lacks methods of wfaudit_hookspecs.StoreHistory"
        )

    def test_history_finds_records_by_id_prefix(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1})
        b, blob_b = make_record(2, content={"i": 2}, tenant="team-b")
        store.save(a, blob_a)
        store.save(b, blob_b)
        assert [r.id for r in store.find_by_id_prefix(a.id[:20])] == [a.id], (
            "find_by_id_prefix did not find the snapshot its id starts with"
        )
        assert store.find_by_id_prefix(a.id, tenant="team-b") == [], (
            "find_by_id_prefix shows another tenant's snapshot"
        )
        assert store.find_by_id_prefix("ZZZZZZZZ") == []
        common = _common_prefix(a.id, b.id)
        if common:  # ids made a moment apart share their time part
            found = store.find_by_id_prefix(common, limit=5)
            assert [r.id for r in found] == sorted([a.id, b.id]), (
                "find_by_id_prefix lists every match by id, at most `limit`"
            )
            assert len(store.find_by_id_prefix(common, limit=1)) == 1, "limit is not applied"
        for bad in ("", "X" * 65):
            with pytest.raises(InvalidRequest):
                store.find_by_id_prefix(bad)

    def test_history_tags_are_unique_per_pipeline_and_move_only_when_asked(
        self, store: Any
    ) -> None:
        first, blob_1 = make_record(1, content={"i": 1})
        second, blob_2 = make_record(2, content={"i": 2})
        store.save(first, blob_1)
        store.save(second, blob_2)
        tag = store.add_tag(snapshot_id=first.id, name="baseline", tenant=None, by="ana")
        assert (tag.name, tag.snapshot_id, tag.pipeline_id) == ("baseline", first.id, "7")
        again = store.add_tag(snapshot_id=first.id, name="baseline", tenant=None, by="ana")
        assert again.snapshot_id == first.id, "re-tagging the same snapshot must be a no-op"
        assert _kinds(store, first.id).count(EventKind.TAGGED) == 1, (
            "re-tagging the same snapshot appended another snapshot.tagged event"
        )
        with pytest.raises(TagConflict):
            store.add_tag(snapshot_id=second.id, name="baseline", tenant=None)
        moved = store.add_tag(snapshot_id=second.id, name="baseline", tenant=None, move=True)
        assert moved.snapshot_id == second.id, "move=True did not move the tag"
        assert [t.snapshot_id for t in store.list_tags(name="baseline")] == [second.id], (
            "a moved tag must be on the new snapshot only"
        )
        assert _kinds(store, first.id)[-1] == EventKind.UNTAGGED, (
            "the snapshot a tag leaves gets a snapshot.untagged event"
        )
        assert _kinds(store, second.id)[-1] == EventKind.TAGGED
        with pytest.raises(SnapshotNotFound):
            store.add_tag(snapshot_id="nope", name="x", tenant=None)

    def test_history_tags_are_listed_by_filter_and_removed(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1})
        b, blob_b = make_record(2, content={"i": 2}, pipeline_id="8")
        store.save(a, blob_a)
        store.save(b, blob_b)
        store.add_tag(snapshot_id=a.id, name="prod", tenant=None)
        store.add_tag(snapshot_id=a.id, name="baseline", tenant=None)
        store.add_tag(snapshot_id=b.id, name="prod", tenant=None)
        listed = [(t.pipeline_id, t.name) for t in store.list_tags()]
        assert listed == [("7", "baseline"), ("7", "prod"), ("8", "prod")], (
            f"list_tags must list by pipeline, then name; got {listed}"
        )
        assert [t.name for t in store.list_tags(snapshot_ids=[a.id])] == ["baseline", "prod"]
        assert [t.snapshot_id for t in store.list_tags(pipeline_id="8")] == [b.id]
        assert [t.pipeline_id for t in store.list_tags(name="prod", pipeline_id="7")] == ["7"]
        removed = store.remove_tag(name="prod", pipeline_id="7", tenant=None, by="ana")
        assert removed.snapshot_id == a.id, "remove_tag returns the tag as it was"
        assert [t.name for t in store.list_tags(pipeline_id="7")] == ["baseline"]
        assert _kinds(store, a.id)[-1] == EventKind.UNTAGGED
        with pytest.raises(UnknownReference):
            store.remove_tag(name="prod", pipeline_id="7", tenant=None)

    def test_history_tags_keep_to_their_tenant(self, store: Any) -> None:
        a, blob_a = make_record(1, tenant="team-a")
        b, blob_b = make_record(1, tenant="team-b")
        store.save(a, blob_a)
        store.save(b, blob_b)
        with pytest.raises(SnapshotNotFound):
            store.add_tag(snapshot_id=a.id, name="prod", tenant="team-b")
        store.add_tag(snapshot_id=a.id, name="prod", tenant="team-a")
        store.add_tag(snapshot_id=b.id, name="prod", tenant="team-b")  # no conflict: own tenant
        assert [t.snapshot_id for t in store.list_tags(tenant="team-a")] == [a.id], (
            "list_tags shows another tenant's tags"
        )
        with pytest.raises(UnknownReference):
            store.remove_tag(name="nope", pipeline_id="7", tenant="team-a")

    def test_history_annotations(self, store: Any) -> None:
        record, blob = make_record(1)
        other, other_blob = make_record(2, content={"i": 2})
        store.save(record, blob)
        store.save(other, other_blob)
        first = store.add_annotation(
            snapshot_id=record.id, note=" flaky runner ", author="ana", tenant=None
        )
        second = store.add_annotation(
            snapshot_id=record.id, note="this key", author="bo", tenant=None, path="/env/KEY"
        )
        store.add_annotation(snapshot_id=other.id, note="other", author="ana", tenant=None)
        assert (first.note, first.author, first.path) == ("flaky runner", "ana", None), (
            "a note is stored stripped, with its author, on the whole snapshot"
        )
        assert second.path == "/env/KEY"
        notes = store.list_annotations(snapshot_ids=[record.id])
        assert [n.id for n in notes] == [first.id, second.id], "notes are listed oldest first"
        assert _kinds(store, record.id).count(EventKind.ANNOTATED) == 2, (
            "each note appends a snapshot.annotated event"
        )
        for bad in ({"note": "  "}, {"author": ""}, {"path": "env"}):
            arguments: dict[str, Any] = {"note": "n", "author": "a", **bad}
            with pytest.raises(InvalidRequest):
                store.add_annotation(snapshot_id=record.id, tenant=None, **arguments)
        with pytest.raises(SnapshotNotFound):
            store.add_annotation(snapshot_id="nope", note="n", author="a", tenant=None)
        assert store.list_annotations(snapshot_ids=[record.id], tenant="team-x") == []

    def test_history_reads_many_blobs_at_once(self, store: Any) -> None:
        records = [make_record(i, content={"i": i}) for i in range(3)]
        for record, blob in records:
            store.save(record, blob)
        hashes = [record.content_hash for record, _ in records]
        found = store.get_blobs([*hashes, "0" * 64])
        assert sorted(b.content_hash for b in found) == sorted(hashes), (
            "get_blobs must return the existing blobs asked for, and skip missing ones"
        )
        assert store.get_blobs([]) == []


class StoreMaintenanceConformance(_Kit):
    """:class:`~wfaudit_hookspecs.StoreMaintenance`: ping, trail check, blob
    listing, stats and backup. Override :meth:`store` (and :meth:`backup_target`
    when the backend writes its backups elsewhere than to a file path)."""

    @pytest.fixture
    def backup_target(self, tmp_path: pathlib.Path) -> str:
        """Where ``backup`` may write (a path that does not exist yet)."""
        return str(tmp_path / "backup" / "copy")

    def test_maintenance_implements_the_protocol(self, store: Any) -> None:
        assert isinstance(store, StoreMaintenance), (
            "the store lacks methods of wfaudit_hookspecs.StoreMaintenance"
        )

    def test_maintenance_ping_answers(self, store: Any) -> None:
        store.ping()
        store.ping(write=True)

    def test_maintenance_check_trail_counts_what_it_checked(self, store: Any) -> None:
        for tenant in (None, "team-a"):
            for i in range(2):
                record, blob = make_record(i, content={"i": i}, tenant=tenant)
                store.save(record, blob)
        store.set_status(
            workflow_id="1",
            workflow_type="CI",
            tenant="team-a",
            status=Status.FAILED,
            reason=None,
            by="ci",
        )
        whole = store.check_trail()
        assert whole.findings_total == 0, f"an untouched store has findings: {whole.findings}"
        assert (whole.chains, whole.events, whole.snapshots) == (2, 5, 4), (
            "check_trail must count the chains (one per tenant), events and snapshots it "
            f"checked: got {whole.chains}, {whole.events}, {whole.snapshots}"
        )
        assert {head.tenant for head in whole.heads} == {None, "team-a"}
        one = store.check_trail(tenant="team-a")
        assert (one.chains, one.events, one.snapshots) == (1, 3, 2), (
            "check_trail(tenant=...) must check that tenant's chain and snapshots only"
        )

    def test_maintenance_iter_blobs_lists_each_blob_once(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1})
        b, blob_b = make_record(2, content={"i": 1})  # same content: one blob
        c, blob_c = make_record(3, content={"i": 3}, tenant="team-c")
        for record, blob in ((a, blob_a), (b, blob_b), (c, blob_c)):
            store.save(record, blob)
        hashes = [blob.content_hash for blob in store.iter_blobs()]
        assert sorted(hashes) == sorted({a.content_hash, c.content_hash}), (
            f"iter_blobs must yield every blob once; got {hashes}"
        )
        assert [b.content_hash for b in store.iter_blobs(tenant="team-c")] == [c.content_hash], (
            "iter_blobs(tenant=...) must yield that tenant's blobs only"
        )

    def test_maintenance_stats(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1})
        b, blob_b = make_record(2, content={"i": 1})
        c, blob_c = make_record(3, content={"i": 3}, tenant="team-c")
        for record, blob in ((a, blob_a), (b, blob_b), (c, blob_c)):
            store.save(record, blob)
        stats = store.stats()
        assert (stats.snapshots, stats.blobs, stats.events, stats.tenants) == (3, 2, 3, 2), (
            "stats must count snapshots, distinct blobs, events and tenants: got "
            f"{stats.snapshots}, {stats.blobs}, {stats.events}, {stats.tenants}"
        )
        assert dict(stats.by_status) == {"triggered": 3}
        assert stats.raw_bytes == blob_a.raw_size * 2 + blob_c.raw_size, (
            "raw_bytes counts every snapshot's config as if stored whole"
        )
        assert stats.unique_raw_bytes == blob_a.raw_size + blob_c.raw_size
        assert stats.stored_bytes > 0
        one = store.stats(tenant="team-c")
        assert (one.snapshots, one.blobs, one.events) == (1, 1, 1), (
            "stats(tenant=...) must count that tenant's part only"
        )

    def test_maintenance_backup_copies_or_says_what_to_use(
        self, store: Any, backup_target: str
    ) -> None:
        record, blob = make_record(1)
        store.save(record, blob)
        try:
            result = store.backup(backup_target)
        except StoreError as error:
            message = str(error)
            result = None
        if result is None:
            assert message, "a store that cannot back up must say what to use instead"
            return
        assert result.snapshots == 1, "the backup must hold every snapshot"
        assert result.bytes > 0
        with pytest.raises(StoreError):
            store.backup(backup_target)  # never overwrites


class KeyedTrailConformance(_Kit):
    """:class:`~wfaudit_hookspecs.KeyedTrail`: once keyed, the chain still verifies,
    and a key rotated out still verifies the events it keyed. Override :meth:`store`."""

    def test_keyed_trail_implements_the_protocol(self, store: Any) -> None:
        assert isinstance(store, KeyedTrail), (
            "the store lacks wfaudit_hookspecs.KeyedTrail.use_chain_key"
        )

    def test_keyed_trail_verifies_across_a_rotation(self, store: Any) -> None:
        first, blob = make_record(1)
        store.save(first, blob)  # before any key
        store.use_chain_key(b"k" * 32, key_id="key-1")
        second, blob_2 = make_record(2, content={"i": 2})
        store.save(second, blob_2)
        store.use_chain_key(b"n" * 32, key_id="key-2", retired={"key-1": b"k" * 32})
        store.append_event(subject=second.id, kind="acme.checked", tenant=None, data={})
        if isinstance(store, StoreMaintenance):
            check = store.check_trail()
            assert check.findings_total == 0, (
                f"a keyed chain with a rotated key does not verify: {check.findings}"
            )
            assert check.events == 3, f"check_trail looked at {check.events} of 3 events"


class StoreSchemaConformance(_Kit):
    """:class:`~wfaudit_hookspecs.StoreSchema`: a store the code opened (and wrote
    to) is at the revision the code needs. Override :meth:`store`."""

    def test_schema_implements_the_protocol(self, store: Any) -> None:
        assert isinstance(store, StoreSchema), (
            "the store lacks wfaudit_hookspecs.StoreSchema's current_revision/head_revision"
        )

    def test_schema_a_store_in_use_is_at_the_head_revision(self, store: Any) -> None:
        record, blob = make_record(1)
        store.save(record, blob)
        head = store.head_revision()
        assert isinstance(head, str) and head, "head_revision() must name a revision"
        assert store.current_revision() == head, (
            f"a store this code opened and wrote to is at {store.current_revision()!r}, "
            f"not the head revision {head!r}"
        )
