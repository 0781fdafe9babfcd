"""Decompression is bounded by bytes, before the output is allocated.

python-zstandard ignores ``max_output_size`` when a frame declares its content
size: it allocates what the frame declares. A 20 KB frame of zeros declaring
300 MiB (a blob) or 600 MiB (an archive object) must be refused from its header,
and a frame that declares nothing must be streamed and stopped at the cap. No
test here lets anything decompress: ``tracemalloc`` shows the peak stays small.
``wfaudit verify`` reports such a blob as a finding and checks the others.
"""

from __future__ import annotations

import functools
import json
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
import zstandard
from click.testing import CliRunner
from sqlalchemy import create_engine, update
from sqlalchemy.engine import Engine

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, codec
from wfaudit.archive import parse_object
from wfaudit.cli import cli
from wfaudit.codec import MAX_BLOB_BYTES, ZSTD, ZSTD_DELTA, bounded_decompress
from wfaudit.verify import verify
from wfaudit_hookspecs import (
    Blob,
    DecompressionBomb,
    Problem,
    StoreError,
    canonical_json,
    content_hash,
)
from wfaudit_sql.schema import blobs
from wfaudit_sql.urls import parse_store_url

MiB = 1024 * 1024


@functools.cache
def bomb(size: int, *, declare: bool = True) -> bytes:
    """A valid zstd frame of ``size`` zero bytes, compressed a MiB at a time."""
    compressor = zstandard.ZstdCompressor(level=1, write_content_size=declare)
    stream = compressor.compressobj(size=size if declare else -1)
    zeros = bytes(MiB)
    parts = [stream.compress(zeros) for _ in range(size // MiB)]
    parts.append(stream.flush())
    return b"".join(parts)


def peak_of(call: Callable[[], object]) -> int:
    """The peak of Python-tracked allocations while ``call`` runs (it must raise)."""
    tracemalloc.start()
    try:
        with pytest.raises(DecompressionBomb):
            call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_blob_declaring_more_than_the_cap_is_refused_before_allocating() -> None:
    data = bomb(300 * MiB)
    assert len(data) < 64 * 1024
    assert zstandard.frame_content_size(data) == 300 * MiB > MAX_BLOB_BYTES
    assert peak_of(lambda: codec.decompress(ZSTD, data)) < MiB
    with pytest.raises(DecompressionBomb, match=r"declares 314,572,800 bytes.*268,435,456"):
        codec.decompress(ZSTD, data)


def test_a_delta_declaring_more_than_the_cap_is_refused_before_allocating() -> None:
    base = canonical_json({"base": list(range(100))})
    whole = Blob(
        content_hash=content_hash(base),
        codec=ZSTD,
        raw_size=len(base),
        data=codec.compress(base)[1],
    )
    delta = Blob(
        content_hash="d" * 64,
        codec=ZSTD_DELTA,
        raw_size=1,
        data=bomb(300 * MiB),
        base=whole.content_hash,
    )
    assert peak_of(lambda: codec.decode_blob(delta, {whole.content_hash: whole}.get)) < MiB


def test_a_frame_without_a_declared_size_is_streamed_and_stopped_at_the_cap() -> None:
    data = bomb(16 * MiB, declare=False)
    assert zstandard.frame_content_size(data) == -1
    peak = peak_of(lambda: bounded_decompress(zstandard.ZstdDecompressor(), data, 2 * MiB))
    assert peak < 6 * MiB  # the cap and a chunk, never the 16 MiB
    # Within the cap, streaming gives the same bytes.
    small = zstandard.ZstdCompressor(write_content_size=False).compress(b"x" * (3 * MiB + 7))
    assert bounded_decompress(zstandard.ZstdDecompressor(), small, 4 * MiB) == b"x" * (3 * MiB + 7)
    assert codec.decompress(ZSTD, small) == b"x" * (3 * MiB + 7)


def test_an_archive_object_declaring_more_than_its_cap_is_refused() -> None:
    data = bomb(600 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(DecompressionBomb, match=r"archive object k/o\.wfa declares"):
            parse_object(data, where="k/o.wfa")
        assert tracemalloc.get_traced_memory()[1] < MiB
    finally:
        tracemalloc.stop()


def test_a_stored_manifest_declaring_more_than_its_cap_is_refused() -> None:
    from wfaudit_sql.manifests import CODEC_ZSTD, decode

    data = bomb(100 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(StoreError, match=r"declares .* over the .*cap"):
            decode(CODEC_ZSTD, data)
        assert tracemalloc.get_traced_memory()[1] < MiB
    finally:
        tracemalloc.stop()


@pytest.fixture
def sql(store_url: str) -> Iterator[Engine]:
    engine = create_engine(parse_store_url(store_url).url)
    yield engine
    engine.dispose()


def test_verify_reports_a_bomb_blob_and_checks_the_others(
    make_auditor: Callable[..., Auditor], sql: Engine, store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    for n in range(4):
        result = auditor.audit_trigger(
            workflow_id=n, workflow_type="CI", pipeline_id=f"p{n}", config={"step": n}
        )
        assert result.ok, result.error
    victim = auditor.store.get_record(workflow_id="2", workflow_type="CI")
    assert victim is not None
    with sql.begin() as connection:
        connection.execute(
            update(blobs)
            .where(blobs.c.content_hash == victim.content_hash)
            .values(data=bomb(300 * MiB))
        )

    report = verify(auditor)
    assert not report.ok and report.blobs == 4
    # The store's own check of the row's sizes may report it too.
    assert {(f.problem, f.table, f.key) for f in report.findings} == {
        (Problem.MODIFIED, "blobs", victim.content_hash)
    }
    assert any("314,572,800 bytes" in f.detail for f in report.findings)
    with pytest.raises(DecompressionBomb):
        auditor.load(victim)

    runner = CliRunner()
    result = runner.invoke(cli, ["--store", store_url, "verify", "--json"])
    assert result.exit_code == 1, result.output
    assert {f["key"] for f in json.loads(result.output)["findings"]} == {victim.content_hash}
    shown = runner.invoke(cli, ["--store", store_url, "show", victim.id])
    assert shown.exit_code not in (0, 70), shown.output
    assert "Traceback" not in shown.output and "decompress" in shown.output
