"""Archive objects: key layout, format, and the checks a restore relies on."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import pytest
import zstandard

from wfaudit import codec
from wfaudit.archive import (
    FileArchive,
    archive_key,
    build_object,
    parse_object,
    snapshot_id_of_key,
    tenant_prefix,
    url_has_credentials,
)
from wfaudit_hookspecs import Blob, SnapshotNotFound, StoreError, canonical_json, content_hash
from wfaudit_hookspecs.retention import ExportedSnapshot

WHEN = dt.datetime(2026, 3, 9, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))


def exported(config: object) -> tuple[ExportedSnapshot, bytes]:
    raw = canonical_json(config)
    name, data = codec.compress(raw)
    blob = Blob(content_hash=content_hash(raw), codec=name, raw_size=len(raw), data=data)
    row = {"id": "01ABC", "content_hash": blob.content_hash, "labels": {"a": "b"}}
    return ExportedSnapshot(row=row, record_digest="d" * 64, blob=blob), raw


def test_keys_are_predictable_and_safe() -> None:
    key = archive_key(
        prefix="/wfaudit/", tenant=None, pipeline_id="deploy", created_on=WHEN, snapshot_id="01A"
    )
    # Year and month of the creation time in UTC (23:30 at UTC-5 is the 10th, UTC).
    assert key == "wfaudit/v1/-/deploy/2026/03/01A.wfa"
    odd = archive_key(
        prefix="wfaudit", tenant="-", pipeline_id="../team/x y", created_on=WHEN, snapshot_id="01B"
    )
    assert odd == "wfaudit/v1/%2D/%2E.%2Fteam%2Fx%20y/2026/03/01B.wfa"
    assert ".." not in odd.split("/")
    assert snapshot_id_of_key(odd) == "01B"
    assert snapshot_id_of_key("wfaudit/other/file.txt") is None
    assert tenant_prefix("wfaudit", None) == "wfaudit/v1/"
    assert tenant_prefix("wfaudit", "acme corp") == "wfaudit/v1/acme%20corp/"


def test_objects_round_trip_and_are_self_describing() -> None:
    export, raw = exported({"steps": ["build", "test"], "image": "app:1"})
    data = build_object(export, raw, archived_on=WHEN)
    body = zstandard.ZstdDecompressor().decompress(data)
    header = json.loads(body.split(b"\n", 1)[0])
    assert header["format"] == "wfaudit-archive" and header["version"] == 1
    assert header["snapshot"]["labels"] == {"a": "b"}
    assert header["stored_as"]["codec"] == "zstd"
    parsed = parse_object(data, where="k")
    assert parsed.config == raw
    assert parsed.blob().content_hash == export.blob.content_hash
    assert codec.decompress(parsed.blob().codec, parsed.blob().data) == raw


def test_damaged_objects_are_refused() -> None:
    export, raw = exported({"x": 1})
    with pytest.raises(StoreError, match="does not match its content hash"):
        build_object(export, raw + b" ", archived_on=WHEN)
    data = build_object(export, raw, archived_on=WHEN)
    body = zstandard.ZstdDecompressor().decompress(data)
    compress = zstandard.ZstdCompressor().compress
    with pytest.raises(StoreError, match="not a zstd frame"):
        parse_object(b"garbage", where="k")
    with pytest.raises(StoreError, match="k is not a wfaudit archive"):
        parse_object(compress(b"{}\n"), where="k")
    with pytest.raises(StoreError, match="version 2"):
        parse_object(compress(body.replace(b'"version":1', b'"version":2')), where="k")
    with pytest.raises(StoreError, match="does not match its content hash"):
        parse_object(compress(body.replace(b'"x":1', b'"x":2')), where="k")


def test_file_archive(tmp_path: pathlib.Path) -> None:
    archive = FileArchive(tmp_path / "a")
    archive.put("wfaudit/v1/-/p/2026/01/X.wfa", b"one")
    archive.put("wfaudit/v1/-/p/2026/01/X.wfa", b"two")
    assert archive.get("wfaudit/v1/-/p/2026/01/X.wfa") == b"two"
    assert list(archive.iter_keys("wfaudit/")) == ["wfaudit/v1/-/p/2026/01/X.wfa"]
    assert list(archive.iter_keys("nothing/")) == []
    for bad in ("../x", "/abs", "a//b", ""):
        with pytest.raises(StoreError, match="relative path"):
            archive.put(bad, b"x")
    archive.delete("wfaudit/v1/-/p/2026/01/X.wfa")
    archive.delete("wfaudit/v1/-/p/2026/01/X.wfa")
    with pytest.raises(SnapshotNotFound):
        archive.get("wfaudit/v1/-/p/2026/01/X.wfa")
    assert archive.url == (tmp_path / "a").as_uri()


def test_objects_say_when_they_were_archived() -> None:
    snapshot, raw = exported({"a": 1})
    parsed = parse_object(build_object(snapshot, raw, archived_on=WHEN), where="k")
    assert parsed.archived_on == WHEN  # what orphan cleanup's grace period reads
    header = dict(parsed.header)
    del header["archived_on"]
    assert type(parsed)(header=header, config=parsed.config).archived_on is None


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("s3://key:pw@bucket/prefix", True),
        ("s3://bucket/prefix?endpoint=http://key:pw@127.0.0.1:8333", True),
        ("s3://bucket/prefix?region=x&endpoint=https://pw@s3.example", True),
        ("file://user:pw@localhost/srv/archive", True),
        ("s3://bucket/prefix?endpoint=http://127.0.0.1:8333&region=eu-west-1", False),
        ("file:///srv/archive", False),
        ("vault://cold?owner=team@example.com", False),
    ],
)
def test_urls_with_credentials_are_recognised(url: str, secret: bool) -> None:
    assert url_has_credentials(url) is secret
