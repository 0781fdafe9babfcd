"""A delta's base is always a whole blob, on every path by which a base is chosen.

The store keeps the first blob of a content hash, whatever its codec: content
that one pipeline stored as a delta, audited again by another pipeline, another
tenant or the same pipeline at a rebase point, stays a delta. Such content must
never become a base. Nor may a base that was never stored (a refused audit, a
spooled one) or one that retention deleted since the process remembered it.
One stream below hits every such path, then reads back, archives and verifies
every snapshot from a process that remembers nothing. Stores written by an
older wfaudit, with deltas on deltas, still read back (a bounded chain) or are
reported by ``verify``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, codec
from wfaudit.archive import FileArchive
from wfaudit.codec import ZSTD, ZSTD_DELTA
from wfaudit.retention import RetentionPolicy, Sweeper, delete_snapshot
from wfaudit.verify import verify
from wfaudit_hookspecs import (
    Blob,
    BlobUnreadable,
    DeltaBaseUnavailable,
    Problem,
    SnapshotRecord,
    canonical_json,
    content_hash,
)
from wfaudit_sql.records import blob_row
from wfaudit_sql.schema import blobs
from wfaudit_sql.urls import parse_store_url

BIG = {
    "steps": [
        {"name": f"step-{i}", "run": f"make target-{i} --verbose --jobs 4", "env": {"N": str(i)}}
        for i in range(200)
    ],
    "commit": "0" * 40,
}


def variant(n: int) -> dict[str, Any]:
    config = copy.deepcopy(BIG)
    config["commit"] = f"{n:040x}"
    return config


class Stream:
    """Audits triggers and remembers which ones the store should have."""

    def __init__(self) -> None:
        self.expected: dict[tuple[str | None, str], dict[str, Any]] = {}

    def audit(
        self,
        auditor: Auditor,
        wid: str,
        n: int,
        pipeline: str,
        *,
        tenant: str | None = None,
        ok: bool = True,
    ) -> None:
        result = auditor.audit_trigger(
            workflow_id=wid,
            workflow_type="CI",
            pipeline_id=pipeline,
            tenant=tenant,
            config=variant(n),
        )
        assert result.ok is ok, result.error
        if ok:
            self.expected[(tenant, wid)] = variant(n)


def record(auditor: Auditor, wid: str, tenant: str | None = None) -> SnapshotRecord:
    found = auditor.store.get_record(workflow_id=wid, workflow_type="CI", tenant=tenant)
    assert found is not None
    return found


def delete(auditor: Auditor, *wids: str) -> None:
    for wid in wids:
        outcome = delete_snapshot(
            auditor.store,  # type: ignore[arg-type]
            record(auditor, wid).id,
            require_archive=False,
            reason={"policy": "test"},
            by="test",
        )
        assert outcome.deleted


def engine_of(store_url: str) -> sa.Engine:
    return sa.create_engine(parse_store_url(store_url).url)


def bad_bases(store_url: str) -> list[tuple[str, str | None]]:
    """Deltas whose base is missing or is not a whole blob."""
    engine = engine_of(store_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT d.content_hash, b.codec FROM blobs d "
                    "LEFT JOIN blobs b ON d.base_hash = b.content_hash "
                    "WHERE d.base_hash IS NOT NULL "
                    "AND (b.content_hash IS NULL OR b.codec <> 'zstd' OR b.base_hash IS NOT NULL)"
                )
            ).all()
    finally:
        engine.dispose()
    return [(str(r[0]), r[1]) for r in rows]


def forget_loaded_bases() -> None:
    """As in a fresh process: no decompressor bound to a base is cached."""
    codec._local.__dict__.pop("dicts", None)


def test_a_stream_through_every_base_path_reads_back(
    make_auditor: Callable[..., Auditor],
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("WFAUDIT_DELTA_REBASE_AFTER", "2")
    stream = Stream()
    auditor = make_auditor(KeyNameMasker())
    archive = FileArchive(tmp_path / "archive")
    sweeper = Sweeper(auditor.store, RetentionPolicy(), archive=archive)  # type: ignore[arg-type]

    # Another pipeline's first audit is content stored as a delta already.
    stream.audit(auditor, "a1", 1, "pA")  # whole: pA's base
    stream.audit(auditor, "a2", 2, "pA")  # delta on v1
    stream.audit(auditor, "b1", 2, "pB")  # kept as the delta above: no base for pB
    stream.audit(auditor, "b2", 3, "pB")
    stream.audit(auditor, "b3", 4, "pB")

    # The same, in another tenant (blobs are shared by tenants).
    stream.audit(auditor, "t1", 2, "pA", tenant="t2")
    stream.audit(auditor, "t2", 5, "pA", tenant="t2")

    # A rebase point of the same pipeline whose content an earlier run stored as a delta.
    for wid, n in (("c1", 10), ("c2", 11), ("c3", 12), ("c4", 11), ("c5", 13), ("c6", 14)):
        stream.audit(auditor, wid, n, "pC")

    # A refused audit (the run is stored already, with other content) is no base.
    stream.audit(auditor, "a1", 50, "pH", ok=False)
    stream.audit(auditor, "h2", 51, "pH")

    # Retention deletes the base this process remembers: the store refuses the
    # delta and the snapshot is stored whole.
    stream.audit(auditor, "g1", 40, "pG")
    stream.audit(auditor, "g2", 41, "pG")
    for wid in ("g1", "g2"):
        sweeper.archive_one(record(auditor, wid).id)
    delete(auditor, "g1", "g2")
    stream.audit(auditor, "g3", 42, "pG")
    # ... and put back from the archive (as whole blobs).
    for wid in ("g1", "g2"):
        assert sweeper.restore(archived_id(sweeper, wid)).restored
    stream.audit(auditor, "g4", 43, "pG")

    # Spooled while the store is down, the base deleted before the drain.
    stream.audit(auditor, "f1", 30, "pF")
    stream.audit(auditor, "f2", 31, "pF")
    auditor.spool_service.breaker.trip()
    stream.audit(auditor, "f3", 32, "pF")
    stream.audit(auditor, "f4", 33, "pF")
    assert auditor.spool.depth() == 2
    spooled = [auditor.spool.read(path).blob for path in auditor.spool.paths()]
    assert [codec.is_whole(blob) for blob in spooled] == [True, True]  # no base needed
    delete(auditor, "f1", "f2")
    del stream.expected[(None, "f1")], stream.expected[(None, "f2")]
    auditor.spool_service.breaker.reset()
    report = auditor.spool_service.drainer.drain()
    assert report.replayed == 2 and report.ok, report
    stream.audit(auditor, "f5", 34, "pF")

    # A process that remembers nothing takes its bases from the store.
    forget_loaded_bases()
    later = make_auditor(KeyNameMasker())
    stream.audit(later, "b4", 6, "pB")  # pB's latest is a delta on a whole blob
    stream.audit(later, "e1", 2, "pE")  # stored as pA's delta
    third = make_auditor(KeyNameMasker())
    stream.audit(third, "e2", 7, "pE")  # the latest's base (v1) is whole: a valid base
    stream.audit(third, "c7", 15, "pC")

    assert bad_bases(store_url) == []
    forget_loaded_bases()
    reader = make_auditor(KeyNameMasker())
    for (tenant, wid), config in stream.expected.items():
        snapshot = reader.load(record(reader, wid, tenant))
        assert snapshot.config == config, (tenant, wid)
    forget_loaded_bases()
    archiver = Sweeper(reader.store, RetentionPolicy(), archive=archive)  # type: ignore[arg-type]
    for tenant, wid in stream.expected:
        archiver.archive_one(record(reader, wid, tenant).id)
    assert verify(reader).ok

    # The stream did make deltas, and whole blobs where a delta was unsafe.
    engine = engine_of(store_url)
    with engine.connect() as connection:
        kinds = dict(
            connection.execute(sa.text("SELECT codec, count(*) FROM blobs GROUP BY codec")).all()
        )
    engine.dispose()
    assert kinds[ZSTD_DELTA] >= 8 and kinds[ZSTD] >= 8, kinds


def archived_id(sweeper: Sweeper, wid: str) -> str:
    """The snapshot id of the archived (deleted) run ``wid``."""
    for archived in sweeper.store.iter_archives(present=False):
        if archived.workflow_id == wid:
            return archived.snapshot_id
    raise AssertionError(f"{wid} has no archive record")


def test_the_store_refuses_a_delta_whose_base_is_not_whole(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    stream = Stream()
    stream.audit(auditor, "a1", 1, "p")
    stream.audit(auditor, "a2", 2, "p")  # a delta
    delta = auditor.store.get_blob(content_hash(canonical_json(variant(2))))
    assert delta is not None and delta.codec == ZSTD_DELTA
    raw = canonical_json(variant(3))
    with pytest.raises(DeltaBaseUnavailable, match="not a whole blob"):
        codec.WholeBase.of(delta)
    on_delta = Blob(
        content_hash=content_hash(raw),
        codec=ZSTD_DELTA,
        raw_size=len(raw),
        data=b"\x28\xb5\x2f\xfd",
        base=delta.content_hash,
    )
    rec = record(auditor, "a2")
    import attrs

    from wfaudit.ids import new_id

    new = attrs.evolve(rec, id=new_id(), workflow_id="a3", content_hash=on_delta.content_hash)
    with pytest.raises(DeltaBaseUnavailable, match="not a whole blob"):
        auditor.store.save(new, on_delta)
    missing = attrs.evolve(on_delta, base="f" * 64)
    with pytest.raises(DeltaBaseUnavailable, match="missing"):
        auditor.store.save(new, missing)
    assert auditor.store.get_record(workflow_id="a3", workflow_type="CI") is None


# -- stores written by an older wfaudit --------------------------------------------------


def legacy_chain(depth: int) -> list[Blob]:
    """A whole blob and ``depth`` deltas, each on the one before (as old code wrote)."""
    raws = [canonical_json(variant(100 + i)) for i in range(depth + 1)]
    chain = [
        Blob(
            content_hash=content_hash(raws[0]),
            codec=ZSTD,
            raw_size=len(raws[0]),
            data=codec.compress(raws[0])[1],
        )
    ]
    for raw, below in zip(raws[1:], raws, strict=False):
        base = codec.WholeBase(content_hash(below), below)  # the old encoder's mistake
        chain.append(
            Blob(
                content_hash=content_hash(raw),
                codec=ZSTD_DELTA,
                raw_size=len(raw),
                data=codec.compress_against(raw, base),
                base=base.content_hash,
            )
        )
    return chain


def insert_blobs(store_url: str, chain: list[Blob]) -> None:
    import datetime as dt

    engine = engine_of(store_url)
    with engine.begin() as connection:
        for blob in chain:
            connection.execute(sa.insert(blobs).values(blob_row(blob, dt.datetime.now(dt.UTC))))
    engine.dispose()


def test_an_old_delta_on_a_delta_reads_back_and_verifies(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    insert_blobs(store_url, legacy_chain(codec.MAX_DELTA_DEPTH))
    stream = Stream()
    for i in range(codec.MAX_DELTA_DEPTH + 1):
        stream.audit(auditor, f"w{i}", 100 + i, "old")  # deduplicated to the old blobs
    stream.audit(auditor, "w-next", 200, "old")  # the latest's base is a delta: a new base
    forget_loaded_bases()
    reader = make_auditor(KeyNameMasker())
    for (tenant, wid), config in stream.expected.items():
        assert reader.load(record(reader, wid, tenant)).config == config
    assert [b for b, _ in bad_bases(store_url)] != []  # the old rows are still there
    assert verify(reader).ok


def test_a_too_long_or_looping_old_chain_is_reported_by_verify(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    chain = legacy_chain(codec.MAX_DELTA_DEPTH + 1)
    insert_blobs(store_url, chain)
    Stream().audit(auditor, "deep", 100 + codec.MAX_DELTA_DEPTH + 1, "old")
    forget_loaded_bases()
    with pytest.raises(BlobUnreadable, match="longer than"):
        auditor.load(record(auditor, "deep"))
    report = verify(auditor)
    assert not report.ok
    unreadable = {f.key for f in report.findings if f.problem == Problem.UNREADABLE}
    assert chain[-1].content_hash in unreadable
    assert all(f.table == "blobs" for f in report.findings)


def test_a_delta_whose_base_loops_is_unreadable_not_a_crash() -> None:
    raw = canonical_json(variant(1))
    one = Blob(content_hash="a" * 64, codec=ZSTD_DELTA, raw_size=len(raw), data=b"x", base="b" * 64)
    two = Blob(content_hash="b" * 64, codec=ZSTD_DELTA, raw_size=len(raw), data=b"x", base="a" * 64)
    blobs_by_hash = {one.content_hash: one, two.content_hash: two}
    forget_loaded_bases()
    with pytest.raises(BlobUnreadable, match="loops"):
        codec.decode_blob(one, blobs_by_hash.get)
    with pytest.raises(BlobUnreadable, match="missing"):
        codec.decode_blob(Blob(**{**_fields(one), "base": "c" * 64}), blobs_by_hash.get)


def _fields(blob: Blob) -> dict[str, Any]:
    return {
        "content_hash": blob.content_hash,
        "codec": blob.codec,
        "raw_size": blob.raw_size,
        "data": blob.data,
        "base": blob.base,
    }


def test_compress_against_takes_only_a_whole_base() -> None:
    with pytest.raises(TypeError, match="WholeBase"):
        codec.compress_against(b"{}", b"{}")  # type: ignore[arg-type]
    kept = Blob(content_hash="a" * 64, codec=ZSTD_DELTA, raw_size=2, data=b"", base="b" * 64)
    with pytest.raises(DeltaBaseUnavailable):
        codec.WholeBase.of(kept, b"{}")
    assert "{}" not in repr(codec.WholeBase("a" * 64, b"{}"))


@pytest.mark.wfaudit_backends("postgresql")
def test_retention_never_deletes_a_base_under_a_delta_being_saved(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    """A save of a delta holds a share lock on its base until it commits; retention
    locks a blob before judging it an orphan, so it waits and then sees the delta.
    (SQLite has one writer at a time: no such interleaving.)"""
    import threading
    import time

    auditor = make_auditor(KeyNameMasker())
    Stream().audit(auditor, "b1", 1, "p")
    base = auditor.store.get_blob(content_hash(canonical_json(variant(1))))
    assert base is not None and codec.is_whole(base)
    raw = canonical_json(variant(2))
    delta = Blob(
        content_hash=content_hash(raw),
        codec=ZSTD_DELTA,
        raw_size=len(raw),
        data=codec.compress_against(raw, codec.WholeBase.of(base)),
        base=base.content_hash,
    )
    import datetime as dt

    engine = engine_of(store_url)
    saving = engine.connect()
    try:
        transaction = saving.begin()
        # What SqlStore.save does for a delta, held open: the check, then the insert.
        saving.execute(
            sa.select(blobs.c.codec)
            .where(blobs.c.content_hash == base.content_hash)
            .with_for_update(read=True, key_share=True)
        )
        saving.execute(sa.insert(blobs).values(blob_row(delta, dt.datetime.now(dt.UTC))))
        done: list[object] = []
        sweeper = threading.Thread(target=lambda: done.append(delete(auditor, "b1")))
        sweeper.start()
        deadline = time.monotonic() + 20
        while not done and time.monotonic() < deadline:  # until it waits on the lock
            waiting = saving.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            if waiting:
                break
            time.sleep(0.05)
        transaction.commit()
        sweeper.join(timeout=60)
        assert done == [None]
    finally:
        saving.close()
        engine.dispose()
    kept = auditor.store.get_blob(base.content_hash)
    assert kept is not None, "retention deleted the base of a delta saved meanwhile"
    stored = auditor.store.get_blob(delta.content_hash)
    assert stored is not None
    forget_loaded_bases()
    assert codec.decode_blob(stored, auditor.store.get_blob) == raw


def test_a_delta_spooled_by_an_older_wfaudit_is_replayed_whole(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    """A spool file written before the spool held whole blobs only: a delta whose
    base is, by now, not stored whole. Its chain still reads, so the drain stores
    it whole; a delta whose base is gone is refused with a typed error."""
    auditor = make_auditor(KeyNameMasker())
    chain = legacy_chain(2)
    insert_blobs(store_url, chain[:2])  # a whole blob and a delta on it
    raw = canonical_json(variant(102))
    assert content_hash(raw) == chain[2].content_hash
    stream = Stream()
    stream.audit(auditor, "w0", 100, "old")
    record_of = record(auditor, "w0")
    import attrs

    from wfaudit.ids import new_id

    spooled = attrs.evolve(
        record_of, id=new_id(), workflow_id="w2", content_hash=chain[2].content_hash
    )
    auditor.spool.write(spooled, chain[2])  # a delta on a delta
    report = auditor.spool_service.drainer.drain()
    assert report.replayed == 1 and report.ok, report
    stored = auditor.store.get_blob(chain[2].content_hash)
    assert stored is not None and codec.is_whole(stored)
    forget_loaded_bases()
    assert make_auditor(KeyNameMasker()).load(record(auditor, "w2")).config == variant(102)

    lost = Blob(**{**_fields(chain[2]), "content_hash": "e" * 64, "base": "f" * 64})
    orphan = attrs.evolve(spooled, id=new_id(), workflow_id="w3", content_hash="e" * 64)
    with pytest.raises(DeltaBaseUnavailable):
        auditor.persist_now(orphan, lost)
    assert auditor.store.get_record(workflow_id="w3", workflow_type="CI") is None
