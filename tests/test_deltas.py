"""Delta blobs: successive triggers of a pipeline stored against its base."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from tests.conftest import KeyNameMasker
from wfaudit import Auditor
from wfaudit.codec import ZSTD, ZSTD_DELTA
from wfaudit_hookspecs.util import LRU

BIG = {
    "steps": [
        {"name": f"step-{i}", "run": f"make target-{i} --verbose --jobs 4", "env": {"N": str(i)}}
        for i in range(200)
    ],
    "commit": "0" * 40,
}


def trigger(
    auditor: Auditor, workflow_id: int, config: dict[str, Any], pipeline: str = "p1"
) -> None:
    result = auditor.audit_trigger(
        workflow_id=workflow_id, workflow_type="CI", pipeline_id=pipeline, config=config
    )
    assert result.ok, result.error


def codecs(url: str) -> dict[str, int]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT codec, count(*) FROM blobs GROUP BY codec")
            ).all()
            bases = connection.execute(
                sa.text(
                    "SELECT count(*) FROM blobs d JOIN blobs b ON d.base_hash = b.content_hash WHERE b.codec <> 'zstd'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert bases == 0, "a delta's base must be a plain blob"
    return dict(rows)


def variant(i: int) -> dict[str, Any]:
    config = copy.deepcopy(BIG)
    config["commit"] = f"{i:040x}"
    return config


def test_successive_triggers_are_deltas_and_read_back_exactly(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    for i in range(10):
        trigger(auditor, i, variant(i))
    assert codecs(store_url) == {ZSTD: 1, ZSTD_DELTA: 9}
    for i in range(10):
        assert auditor.get_snapshot(i, "CI").config == variant(i)


def test_a_new_process_continues_from_the_stored_base(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    trigger(make_auditor(KeyNameMasker()), 1, variant(1))
    later = make_auditor(KeyNameMasker())  # a fresh auditor remembers nothing
    trigger(later, 2, variant(2))
    assert codecs(store_url) == {ZSTD: 1, ZSTD_DELTA: 1}
    assert later.get_snapshot(2, "CI").config == variant(2)


def test_chains_are_bounded_by_new_bases(
    make_auditor: Callable[..., Auditor], store_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("WFAUDIT_DELTA_REBASE_AFTER", "3")
    auditor = make_auditor(KeyNameMasker())
    for i in range(8):
        trigger(auditor, i, variant(i))
    assert codecs(store_url) == {ZSTD: 2, ZSTD_DELTA: 6}


def test_a_large_change_gets_a_new_base_and_pipelines_do_not_mix(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    trigger(auditor, 1, variant(1))
    trigger(auditor, 2, {"something": ["entirely", "different"] * 500, "x": list(range(2000))})
    trigger(auditor, 3, variant(3), pipeline="p2")
    assert codecs(store_url) == {ZSTD: 3}


def test_deltas_can_be_turned_off(
    make_auditor: Callable[..., Auditor], store_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("WFAUDIT_DELTA_REBASE_AFTER", "0")
    auditor = make_auditor(KeyNameMasker())
    for i in range(3):
        trigger(auditor, i, variant(i))
    assert codecs(store_url) == {ZSTD: 3}


def test_a_delta_is_read_without_its_base_once_the_base_is_loaded() -> None:
    """The codec keeps the decompressor bound to a base (bounded by bytes): a
    second delta of that base decodes without reading the base again."""
    from wfaudit import codec
    from wfaudit_hookspecs import Blob, canonical_json, content_hash

    base_raw = canonical_json(BIG)
    base_hash = content_hash(base_raw)
    base = Blob(
        content_hash=base_hash, codec=ZSTD, raw_size=len(base_raw), data=codec.compress(base_raw)[1]
    )
    deltas = []
    for n in range(2):
        raw = canonical_json({**BIG, "commit": f"{n:040x}"})
        data = codec.compress_against(raw, codec.WholeBase.of(base, base_raw))
        deltas.append(
            (
                raw,
                Blob(
                    content_hash=content_hash(raw),
                    codec=ZSTD_DELTA,
                    raw_size=len(raw),
                    data=data,
                    base=base_hash,
                ),
            )
        )
    codec._local.__dict__.pop("dicts", None)  # as in a fresh thread
    reads: list[str] = []

    def get_blob(key: str) -> Blob | None:
        reads.append(key)
        return base if key == base_hash else None

    assert codec.decode_blob(deltas[0][1], get_blob) == deltas[0][0]
    assert codec.decode_blob(deltas[1][1], get_blob) == deltas[1][0]
    assert reads == [base_hash]

    # The cache is bounded by the bytes of the bases it holds.
    cache: LRU[tuple[str, str, int], object] = LRU(max_weight=len(base_raw) * 2)
    for n in range(5):
        cache.get_or_make(("d", str(n), 0), object, len(base_raw))
    assert len(cache) == 2 and cache.weight <= len(base_raw) * 2
    assert cache.get(("d", "4", 0)) is not None and cache.get(("d", "0", 0)) is None
