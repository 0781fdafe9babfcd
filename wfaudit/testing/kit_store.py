"""The conformance kit for storage backends.

Subclass it in your test suite and override the ``store`` fixture to return a
fresh, empty store of your backend::

    from wfaudit.testing import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(f"mystore://{tmp_path}")
            yield store
            store.close()
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import itertools
import urllib.parse

import pytest

from wfaudit import codec
from wfaudit.ids import new_id
from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    AuditEvent,
    Blob,
    DeltaBaseUnavailable,
    EventKind,
    HistoryQuery,
    InvalidRequest,
    Manifest,
    MaskedField,
    RestoreRef,
    SecretReference,
    SnapshotConflict,
    SnapshotNotFound,
    SnapshotRecord,
    Status,
    Store,
    StoreMaintenance,
    StoreMeta,
    TriggerKind,
    canonical_json,
    content_hash,
)

__all__ = ["StoreConformance", "make_record"]

_BASE = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def make_record(
    workflow_id: str | int,
    *,
    content: object = None,
    workflow_type: str = "CI",
    pipeline_id: str = "7",
    tenant: str | None = None,
    minutes: int = 0,
) -> tuple[SnapshotRecord, Blob]:
    """A record and its blob, as the engine would hand them to ``save``."""
    config = {"pipeline": pipeline_id, "step": "make test"} if content is None else content
    canonical = canonical_json(config)
    digest = content_hash(canonical)
    codec_name, data = codec.compress(canonical)
    at = _BASE + dt.timedelta(minutes=minutes)
    record = SnapshotRecord(
        id=new_id(),
        workflow_id=str(workflow_id),
        workflow_type=workflow_type,
        pipeline_id=pipeline_id,
        content_hash=digest,
        manifest=Manifest(
            fields=(
                MaskedField(
                    path="/password",
                    rule="keyword",
                    fingerprint="f" * 64,
                    restore=RestoreRef(kind="env", target="PASSWORD"),
                ),
                MaskedField(path="/url", rule="url-password", fingerprint="e" * 64, span=(10, 35)),
            ),
            references=(SecretReference(path="/token", kind="github-secret", name="TOKEN"),),
            adapter="generic",
            maskers=("maskers",),
        ),
        tenant=tenant,
        triggered_by="ana",
        trigger_kind=TriggerKind.WEBHOOK,
        labels={"app": "payments", "env": "prod"},
        config_size=len(canonical),
        created_on=at,
        created_by="ana",
        updated_on=at,
        updated_by="ana",
    )
    return record, Blob(content_hash=digest, codec=codec_name, raw_size=len(canonical), data=data)


_HEX = frozenset("0123456789abcdef")


def _links(events: list[AuditEvent]) -> list[str]:
    """What is wrong with a run of one chain's events, oldest first, as sentences."""
    problems = []
    for before, after in itertools.pairwise(events):
        if after.chain_seq != before.chain_seq + 1:
            problems.append(
                f"chain positions jump from {before.chain_seq} to {after.chain_seq} "
                f"({before.kind} -> {after.kind})"
            )
        if after.prev_hash != before.hash:
            problems.append(
                f"event {after.chain_seq} ({after.kind}) does not link to the hash of "
                f"event {before.chain_seq} ({before.kind})"
            )
    for event in events:
        if len(event.hash) != 64 or not set(event.hash) <= _HEX:
            problems.append(f"event {event.chain_seq} has no SHA-256 hash: {event.hash!r}")
    if len({event.hash for event in events}) != len(events):
        problems.append("two events of the chain have the same hash")
    return problems


class StoreConformance:
    """The store contract: round trip, idempotency, dedup, ordering, tenancy,
    outcomes, concurrency and the hash-chained audit trail. Override :meth:`store`."""

    @pytest.fixture
    def store(self) -> Store:
        """A fresh, empty store. Override this fixture in your subclass."""
        pytest.fail("override the `store` fixture to return a fresh store of your backend")

    def test_store_implements_the_protocol(self, store: Store) -> None:
        assert isinstance(store, Store), "the store lacks methods of wfaudit_hookspecs.Store"
        password = urllib.parse.urlsplit(store.url).password
        assert password in (None, "***"), "the store's url shows a password"

    def test_store_round_trip(self, store: Store) -> None:
        record, blob = make_record(1001)
        result = store.save(record, blob)
        assert result.created, "saving a new record must report created=True"
        assert result.ref == record.ref, "save returned a reference to something else"
        fetched = store.get_record(workflow_id="1001", workflow_type="CI")
        assert fetched == record, "the record read back differs from the record saved"
        assert store.get_record_by_id(record.id) == record
        stored = store.get_blob(record.content_hash)
        assert stored is not None, "the blob was not stored"
        assert (stored.codec, stored.raw_size, stored.data) == (
            blob.codec,
            blob.raw_size,
            blob.data,
        )

    def test_store_answers_none_for_missing_things(self, store: Store) -> None:
        assert store.get_record(workflow_id="404", workflow_type="CI") is None
        assert store.get_record_by_id("nope") is None
        assert store.get_blob("0" * 64) is None

    def test_store_repeated_save_is_a_no_op(self, store: Store) -> None:
        record, blob = make_record(1001)
        store.save(record, blob)
        again, _ = make_record(1001)  # same audit, new snapshot id
        result = store.save(again, blob)
        assert not result.created, "a repeated identical audit must be a no-op"
        assert result.ref.id == record.id, "the no-op must return the stored snapshot"

    def test_store_conflicting_save_is_refused(self, store: Store) -> None:
        record, blob = make_record(1001)
        store.save(record, blob)
        other, other_blob = make_record(1001, content={"different": True})
        with pytest.raises(SnapshotConflict):
            store.save(other, other_blob)
        assert store.get_record(workflow_id="1001", workflow_type="CI") == record
        assert store.get_blob(other.content_hash) is None, "a refused save left its blob behind"

    def test_store_shares_identical_blobs(self, store: Store) -> None:
        first, blob = make_record(1)
        second, same_blob = make_record(2)
        assert first.content_hash == second.content_hash
        assert store.save(first, blob).created
        assert store.save(second, same_blob).created, "same content, other run: a new snapshot"
        stored = store.get_blob(first.content_hash)
        assert stored is not None and stored.data == blob.data

    def test_store_refuses_a_delta_whose_base_is_not_a_whole_blob(self, store: Store) -> None:
        first, whole = make_record(1, content={"i": 1, "pad": "x" * 200})
        store.save(first, whole)
        second, _ = make_record(2, content={"i": 2, "pad": "x" * 200})
        raw = canonical_json({"i": 2, "pad": "x" * 200})
        base = codec.WholeBase.of(whole)
        delta = Blob(
            content_hash=second.content_hash,
            codec=codec.ZSTD_DELTA,
            raw_size=len(raw),
            data=codec.compress_against(raw, base),
            base=base.content_hash,
        )
        assert store.save(second, delta).created, "a delta on a whole blob is stored"
        third, _ = make_record(3, content={"i": 3, "pad": "x" * 200})
        raw3 = canonical_json({"i": 3, "pad": "x" * 200})
        for base_hash in (second.content_hash, "0" * 64):  # a delta, a missing blob
            on_it = Blob(
                content_hash=third.content_hash,
                codec=codec.ZSTD_DELTA,
                raw_size=len(raw3),
                data=codec.compress_against(raw3, codec.WholeBase(base_hash, raw)),
                base=base_hash,
            )
            with pytest.raises(DeltaBaseUnavailable):
                store.save(third, on_it)
        assert store.get_record(workflow_id="3", workflow_type="CI") is None
        assert store.get_blob(third.content_hash) is None, "a refused save left its blob behind"

    def test_store_keeps_every_write(self, store: Store) -> None:
        saved = set()
        for i in range(60):
            record, blob = make_record(i, content={"i": i}, minutes=i)
            store.save(record, blob)
            saved.add(record.id)
        found = {r.id for r in store.history(HistoryQuery(limit=1000))}
        missing = saved - found
        assert not missing, f"{len(missing)} of 60 saved snapshots are missing from the history"

    def test_store_history_is_newest_first_and_filtered(self, store: Store) -> None:
        for i in range(5):
            record, blob = make_record(i, content={"i": i}, minutes=i)
            store.save(record, blob)
        record, blob = make_record(9, workflow_type="PRE_CD", pipeline_id="8", minutes=10)
        store.save(record, blob)
        ids = [r.workflow_id for r in store.history(HistoryQuery(pipeline_id="7"))]
        assert ids == ["4", "3", "2", "1", "0"], f"history order/filter wrong: {ids}"
        assert [r.workflow_id for r in store.history(HistoryQuery(limit=2))] == ["9", "4"]
        pre_cd = store.history(HistoryQuery(workflow_type="PRE_CD"))
        assert [r.workflow_id for r in pre_cd] == ["9"]
        before = store.history(HistoryQuery(before=_BASE + dt.timedelta(minutes=2)))
        assert [r.workflow_id for r in before] == ["1", "0"]

    def test_store_outcomes(self, store: Store) -> None:
        record, blob = make_record(1001)
        store.save(record, blob)
        updated = store.set_status(
            workflow_id="1001",
            workflow_type="CI",
            tenant=None,
            status=Status.FAILED,
            reason="exit 1",
            by="ci",
        )
        assert (updated.status, updated.status_reason, updated.updated_by) == (
            Status.FAILED,
            "exit 1",
            "ci",
        )
        assert store.history(HistoryQuery(status=Status.FAILED))[0].id == record.id
        with pytest.raises(SnapshotNotFound):
            store.set_status(
                workflow_id="404",
                workflow_type="CI",
                tenant=None,
                status=Status.FAILED,
                reason=None,
                by=None,
            )

    def test_store_finds_the_latest_failed_run(self, store: Store) -> None:
        outcomes = {"1": Status.FAILED, "2": Status.ERROR, "3": Status.SUCCEEDED}
        for minutes, (workflow_id, status) in enumerate(outcomes.items()):
            record, blob = make_record(workflow_id, content={"i": minutes}, minutes=minutes)
            store.save(record, blob)
            store.set_status(
                workflow_id=workflow_id,
                workflow_type="CI",
                tenant=None,
                status=status,
                reason=None,
                by="ci",
            )
        other, other_blob = make_record(9, pipeline_id="8", tenant="team-b", minutes=9)
        store.save(other, other_blob)
        store.set_status(
            workflow_id="9",
            workflow_type="CI",
            tenant="team-b",
            status=Status.FAILED,
            reason=None,
            by=None,
        )
        latest = store.find_latest_failed(pipeline_id="7")
        assert latest is not None and latest.workflow_id == "2", (
            "find_latest_failed must return the newest failed or errored run of the "
            f"pipeline (workflow 2, errored), not {latest and latest.workflow_id}"
        )
        one = store.find_latest_failed(workflow_id="1", workflow_type="CI")
        assert one is not None and one.workflow_id == "1"
        assert store.find_latest_failed(workflow_id="3") is None, (
            "a succeeded run is not a failed one"
        )
        assert store.find_latest_failed(pipeline_id="8", tenant="team-a") is None, (
            "find_latest_failed shows another tenant's run"
        )
        with pytest.raises(InvalidRequest):
            store.find_latest_failed()

    def test_store_separates_tenants(self, store: Store) -> None:
        a, blob_a = make_record(1001, tenant="team-a")
        b, blob_b = make_record(1001, tenant="team-b")
        store.save(a, blob_a)
        store.save(b, blob_b)
        assert store.get_record(workflow_id="1001", workflow_type="CI", tenant="team-a") == a
        assert store.get_record(workflow_id="1001", workflow_type="CI", tenant="team-b") == b
        assert store.get_record_by_id(a.id, tenant="team-b") is None, (
            "tenant B can read A's snapshot"
        )
        assert [r.id for r in store.history(HistoryQuery(tenant="team-a"))] == [a.id]
        with pytest.raises(AmbiguousSnapshot):
            store.get_record(workflow_id="1001", workflow_type="CI")

    def test_store_concurrent_saves(self, store: Store) -> None:
        records = [make_record(i, content={"i": i}) for i in range(80)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda pair: store.save(*pair), records))
        found = {r.id for r in store.history(HistoryQuery(limit=1000))}
        assert found == {record.id for record, _ in records}, "concurrent saves lost a write"

        same = [make_record(5000) for _ in range(8)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda pair: store.save(*pair), same))
        assert sum(r.created for r in results) == 1, (
            "racing saves of one run made several snapshots"
        )
        assert len({r.ref.id for r in results}) == 1

    # -- the audit trail ------------------------------------------------------------

    def _chain(self, store: Store, tenant: str | None) -> list[AuditEvent]:
        events = store.list_events(tenant=tenant, limit=10_000)
        return sorted(events, key=lambda event: event.chain_seq)

    def test_store_records_audits_and_outcomes_in_the_trail(self, store: Store) -> None:
        record, blob = make_record(1001)
        store.save(record, blob)
        store.set_status(
            workflow_id="1001",
            workflow_type="CI",
            tenant=None,
            status=Status.FAILED,
            reason="exit 1",
            by="ci",
        )
        events = store.list_events(subject=record.id)
        kinds = [event.kind for event in events]
        assert kinds == [EventKind.AUDITED, EventKind.OUTCOME], (
            f"the trail of a saved then failed snapshot should be audited, outcome; got {kinds}"
        )
        assert [event.seq for event in events] == [1, 2], "events of a subject are numbered 1, 2…"
        assert events[1].actor == "ci", "the outcome event lost who recorded it"
        again, _ = make_record(1001)
        store.save(again, blob)
        assert len(store.list_events(subject=record.id)) == 2, "a no-op save added an event"

    def test_store_appends_chained_events(self, store: Store) -> None:
        record, blob = make_record(1001)
        store.save(record, blob)
        data = {"name": "baseline", "nested": {"n": 3, "items": ["a", "b"]}}
        appended = store.append_event(
            subject=record.id, kind=EventKind.TAGGED, tenant=None, actor="ana", data=data
        )
        assert (appended.subject, appended.kind, appended.actor) == (
            record.id,
            EventKind.TAGGED,
            "ana",
        )
        assert dict(appended.data) == data, "the event's data did not come back as given"
        assert appended.seq == 2, f"the second event of a subject must be seq 2, not {appended.seq}"
        listed = store.list_events(subject=record.id)
        assert listed[-1] == appended, "list_events returns something else than was appended"

        for i in range(5):
            store.append_event(
                subject=f"other-{i}", kind="acme.checked", tenant=None, data={"i": i}
            )
        chain = self._chain(store, None)
        assert len(chain) == 7, f"the chain holds {len(chain)} events, 7 were recorded"
        assert chain[0].prev_hash == "0" * 64, "the first event of a chain links to 64 zeros"
        problems = _links(chain)
        assert not problems, "the audit trail is not a hash chain: " + "; ".join(problems)

    def test_store_keeps_one_chain_per_tenant(self, store: Store) -> None:
        for tenant in ("team-a", "team-b"):
            for i in range(3):
                record, blob = make_record(i, content={"i": i}, tenant=tenant, minutes=i)
                store.save(record, blob)
        a, b = self._chain(store, "team-a"), self._chain(store, "team-b")
        assert {event.tenant for event in a} == {"team-a"}, "tenant A's trail shows other events"
        assert {event.tenant for event in b} == {"team-b"}, "tenant B's trail shows other events"
        assert len(a) == len(b) == 3
        for chain in (a, b):
            assert chain[0].prev_hash == "0" * 64, "each tenant's chain starts at 64 zeros"
            problems = _links(chain)
            assert not problems, "a tenant's trail is not a hash chain: " + "; ".join(problems)

    def test_store_chains_concurrent_appends(self, store: Store) -> None:
        record, blob = make_record(1001)
        store.save(record, blob)

        def append(i: int) -> AuditEvent:
            return store.append_event(
                subject=record.id if i % 2 else f"s-{i}",
                kind="acme.note",
                tenant=None,
                data={"i": i},
            )

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(append, range(40)))
        chain = self._chain(store, None)
        assert len(chain) == 41, f"{41 - len(chain)} of 41 events are missing from the trail"
        problems = _links(chain)
        assert not problems, "concurrent appends broke the chain: " + "; ".join(problems)
        seqs = [event.seq for event in store.list_events(subject=record.id, limit=1000)]
        assert seqs == list(range(1, 22)), f"a subject's events are not numbered 1..21: {seqs}"

    def test_store_verifies_its_own_trail(self, store: Store) -> None:
        if not isinstance(store, StoreMaintenance):
            pytest.skip("the store does not offer StoreMaintenance.check_trail")
        for i in range(4):
            record, blob = make_record(i, content={"i": i}, minutes=i)
            store.save(record, blob)
        store.set_status(
            workflow_id="2",
            workflow_type="CI",
            tenant=None,
            status=Status.SUCCEEDED,
            reason=None,
            by="ci",
        )
        store.append_event(subject=record.id, kind=EventKind.TAGGED, tenant=None, data={})
        check = store.check_trail()
        assert check.findings_total == 0, (
            f"check_trail finds problems in an untouched store: {check.findings}"
        )
        assert check.events >= 6, f"check_trail looked at {check.events} of 6 events"

    def test_store_meta_is_claimed_once_and_moved_only_from_what_is_recorded(
        self, store: Store
    ) -> None:
        if not isinstance(store, StoreMeta):
            pytest.skip("the store does not offer StoreMeta (the fingerprint key id is unchecked)")
        name = "fingerprint_key_id"
        assert store.read_meta(name) is None, "a fresh store records a key id"
        assert store.claim_meta(name, "aaaa") == "aaaa", "the first claim is not recorded"
        assert store.claim_meta(name, "bbbb") == "aaaa", "a second claim replaced the first"
        assert store.claim_meta(name, "bbbb", replace="cccc") == "aaaa", (
            "a claim replaced a value it did not name"
        )
        assert store.claim_meta(name, "bbbb", replace="aaaa") == "bbbb", (
            "a claim naming the recorded value did not replace it"
        )
        assert store.read_meta(name) == "bbbb"
        assert store.read_meta("another") is None
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            claims = list(pool.map(lambda v: store.claim_meta("race", v), ["1", "2", "3", "4"]))
        assert len(set(claims)) == 1, f"racing claims recorded different values: {claims}"
