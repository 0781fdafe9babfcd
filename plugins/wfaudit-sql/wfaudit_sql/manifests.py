"""Content-addressed manifests: each distinct masked-field manifest is stored once.

A snapshot's manifest says where its secrets were and what they were
(fingerprints), which adapter read the payload and which maskers ran. It does
not change from one trigger of a pipeline to the next unless the definition
moves a secret or a secret is rotated: run ids, commit SHAs and timestamps are
never in it. Stored in every snapshot row it was by far the largest part of a
snapshot (a few KB of JSON, where the delta-compressed config takes ~100 bytes);
stored here it takes one row per distinct manifest, and each snapshot row
carries the 64-character ``manifest_hash`` only (revision 0005).

Stored form (the ``manifests`` table, :data:`wfaudit_sql.schema.manifests`):

``manifest_hash``
    SHA-256 (hex) of the manifest's canonical text: the compact, key-sorted JSON
    that :func:`wfaudit_sql.records.dump_json` writes (and that revision 0001
    stored in ``snapshots.manifest``). The ``snapshot.audited`` event's
    ``record_digest`` covers that same text, so the seal of every snapshot,
    old and new, still holds.
``codec``
    ``json`` (the text as UTF-8, when compressing does not pay) or ``zstd``.
``raw_size``, ``data``, ``created_on``
    The text's length, its stored bytes, when the row was first written.

Rows are immutable and shared by every snapshot (of any pipeline and tenant)
with the same manifest. Nothing deletes them but retention's orphan cleanup: a
manifest no ``snapshots.manifest_hash`` names any more (see :func:`orphans`;
``ix_snapshots_manifest_hash`` makes that check an index probe, and on
PostgreSQL the foreign key ``fk_snapshots_manifest_hash_manifests`` refuses to
delete one still named, even by a concurrent audit).

**Per-run patches (revision 0010).** A secret rotated on every run (a registry
password, say) changes its fingerprint, so every run's manifest is distinct and
stored whole it cost a row, its key and an index entry per snapshot. Since 0010
the store keeps what is stable per pipeline once, as a ``manifests`` row (the
*base*), and only what changes per run in the snapshot row itself:
``snapshots.manifest_patch``, a zstd frame of the run's manifest text compressed
with the base text as a raw-content dictionary (:func:`make_patch`; a rotated
fingerprint costs a few dozen bytes). ``snapshots.manifest_hash`` names the
base; a NULL patch means the base *is* the manifest. The run's text, hence the
seal of the row, is unchanged: :func:`manifest_text` rebuilds it from the base
and the patch, and ``record_digest`` covers it as before. A run whose manifest
is far from its pipeline's base (the definition moved its secrets) is stored
whole and becomes the base of the next runs.

``migrations/versions/0005_manifest_store.py`` carries a frozen copy of this
encoding; change neither without the other and a migration.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import threading
from typing import Any

import cattrs
import zstandard
from sqlalchemy import Select, exists, select

from wfaudit_hookspecs import Manifest, StoreError
from wfaudit_hookspecs.converter import get_converter
from wfaudit_hookspecs.util import LRU

from .schema import manifests, snapshots

__all__ = [
    "CODEC_JSON",
    "CODEC_ZSTD",
    "PATCH_LIMIT",
    "ManifestCache",
    "apply_patch",
    "decode",
    "encode",
    "make_patch",
    "manifest_hash",
    "manifest_text",
    "orphans",
    "record_query",
]

CODEC_JSON = "json"
CODEC_ZSTD = "zstd"
_MAX_TEXT = 64 * 1024 * 1024  # a decompression bomb stops here

_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    found: zstandard.ZstdCompressor | None = _local.__dict__.get("c")
    if found is None:
        # Manifests are written once per distinct content: a high level costs
        # little in all and keeps the fingerprint-heavy JSON small.
        found = _local.c = zstandard.ZstdCompressor(level=12, write_content_size=True)
    return found


def _decompressor() -> zstandard.ZstdDecompressor:
    found: zstandard.ZstdDecompressor | None = _local.__dict__.get("d")
    if found is None:
        found = _local.d = zstandard.ZstdDecompressor()
    return found


def manifest_hash(text: str) -> str:
    """The key of a manifest: SHA-256 (hex) of its canonical text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode(text: str) -> tuple[str, bytes]:
    """``(codec, data)`` of a manifest's canonical text: zstd when that is smaller."""
    raw = text.encode("utf-8")
    packed = _compressor().compress(raw)
    return (CODEC_ZSTD, packed) if len(packed) < len(raw) else (CODEC_JSON, raw)


def decode(codec: str, data: bytes | str) -> str:
    """A manifest's canonical text from its stored bytes.

    :raises StoreError: the bytes do not decode (or the codec is unknown).
    """
    # SQLite keeps whatever is written into a column: text, too.
    data = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    try:
        if codec == CODEC_JSON:
            return data.decode("utf-8")
        if codec == CODEC_ZSTD:
            # python-zstandard ignores max_output_size for a frame that declares its
            # size (and allocates what it declares): check the declaration first.
            declared = zstandard.frame_content_size(data)
            if declared > _MAX_TEXT:
                raise StoreError(
                    f"a stored manifest declares {declared:,} bytes once decompressed, over "
                    f"the {_MAX_TEXT:,}-byte cap: its bytes were changed"
                )
            return _decompressor().decompress(data, max_output_size=_MAX_TEXT).decode("utf-8")
    except (zstandard.ZstdError, UnicodeError):
        raise StoreError("a stored manifest is corrupt: its bytes do not decode") from None
    raise StoreError(f"manifest codec {codec!r} is not known to this wfaudit-sql; upgrade it")


PATCH_LIMIT = 1024
"""The largest per-run patch kept in a snapshot row; a run whose patch would be
larger is stored whole (a new base)."""

_dicts: LRU[str, zstandard.ZstdCompressionDict] = LRU(64)


def _dictionary(base: str) -> zstandard.ZstdCompressionDict:
    """The base text as a raw-content zstd dictionary (a few kept, by text)."""
    return _dicts.get_or_make(
        base,
        lambda: zstandard.ZstdCompressionDict(
            base.encode("utf-8"), dict_type=zstandard.DICT_TYPE_RAWCONTENT
        ),
    )


def make_patch(base: str, text: str) -> bytes:
    """``text`` as a zstd frame against ``base`` (its dictionary): what changes per run.

    A compressor bound to a dictionary costs ~0.1 ms to make and microseconds to
    use, so each thread keeps one per base (a few); level 3 gives the same patch
    as 19 for a rotated fingerprint."""
    cache: LRU[str, zstandard.ZstdCompressor] | None = _local.__dict__.get("patchers")
    if cache is None:
        cache = _local.patchers = LRU(16)
    compressor = cache.get_or_make(
        base,
        lambda: zstandard.ZstdCompressor(
            level=3,
            dict_data=_dictionary(base),
            write_content_size=True,
            write_checksum=False,
            write_dict_id=False,
        ),
    )
    return compressor.compress(text.encode("utf-8"))


def apply_patch(base: str, patch: bytes | str) -> str:
    """The text of a run's manifest from its base's text and its patch.

    :raises StoreError: the patch does not decode against the base.
    """
    data = patch.encode("utf-8", "surrogateescape") if isinstance(patch, str) else bytes(patch)
    try:
        declared = zstandard.frame_content_size(data)
        if declared > _MAX_TEXT:
            raise StoreError("a stored manifest patch declares too many bytes: it was changed")
        out = zstandard.ZstdDecompressor(dict_data=_dictionary(base)).decompress(
            data, max_output_size=_MAX_TEXT
        )
        return out.decode("utf-8")
    except (zstandard.ZstdError, UnicodeError):
        raise StoreError("a stored manifest patch is corrupt: it does not decode") from None


def manifest_text(row: Any) -> str | None:
    """The text of a :func:`record_query` row's manifest, or None when it is missing,
    does not decode or its base does not hash to its key (what ``wfaudit verify``
    seals; a patched run's text is covered by the row's seal)."""
    key, data = row["manifest_hash"], row["manifest_data"]
    if key is None or data is None:
        return None
    try:
        text = decode(row["manifest_codec"], data)
        if manifest_hash(text) != key:
            return None
        patch = row.get("manifest_patch")
        return text if patch is None else apply_patch(text, patch)
    except StoreError:
        return None


def record_query() -> Select[Any]:
    """``SELECT snapshots.*, <its manifest's codec and bytes> FROM snapshots LEFT JOIN
    manifests``: a snapshot row with what its record needs, in one statement.

    An outer join, so that a row whose manifest is missing still comes back (to
    fail with a clear error, rather than vanish from a listing).
    """
    return select(
        snapshots,
        manifests.c.codec.label("manifest_codec"),
        manifests.c.data.label("manifest_data"),
    ).select_from(
        snapshots.outerjoin(manifests, manifests.c.manifest_hash == snapshots.c.manifest_hash)
    )


def orphans() -> Select[Any]:
    """The hashes of manifests that no snapshot names: what orphan cleanup may delete
    (in the same transaction as it deletes them)."""
    return select(manifests.c.manifest_hash).where(
        ~exists().where(snapshots.c.manifest_hash == manifests.c.manifest_hash)
    )


class ManifestCache:
    """Manifests decoded and encoded by one store, most recently used kept.

    Reading: a busy store returns the same few manifests over and over (every
    snapshot of a pipeline has the same one), so each is decoded, checked
    against its hash and structured once, and the (frozen) :class:`Manifest`
    shared. Writing: the encoded row of a manifest already written is reused.
    Thread-safe; the cached values are never changed.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._parsed: LRU[Any, Manifest] = LRU(size)
        self._bases: LRU[tuple[str, str], str] = LRU(size)
        self._encoded: LRU[str, tuple[str, str, bytes]] = LRU(size)

    def parsed(self, row: Any) -> Manifest:
        """The manifest of a :func:`record_query` row (its base, and its patch if any).

        :raises StoreError: the manifest row is missing, does not match its hash,
            its patch does not decode, or it is not a manifest.
        """
        patch = row.get("manifest_patch")
        key: Any = row["manifest_hash"] if patch is None else (row["manifest_hash"], bytes(patch))
        found = self._parsed.get(key)
        if found is not None:
            return found
        if row["manifest_hash"] is None or row["manifest_data"] is None:
            raise StoreError(f"snapshot {row['id']}: its manifest is missing from the store")
        text = decode(row["manifest_codec"], row["manifest_data"])
        if manifest_hash(text) != row["manifest_hash"]:
            raise StoreError(f"snapshot {row['id']}: its manifest does not match its hash")
        if patch is not None:
            text = apply_patch(text, patch)
        try:
            value = get_converter().structure(json.loads(text), Manifest)
        except (ValueError, TypeError, KeyError, cattrs.BaseValidationError):
            raise StoreError(f"snapshot {row['id']}: its manifest is malformed") from None
        self._parsed.put(key, value)
        return value

    def row(self, text: str, now: _dt.datetime) -> dict[str, Any]:
        """The ``manifests`` row of a manifest's canonical text (encoded once)."""
        found = self._encoded.get_or_make(text, lambda: (manifest_hash(text), *encode(text)))
        key, codec, data = found
        return {
            "manifest_hash": key,
            "codec": codec,
            "raw_size": len(text.encode("utf-8")),
            "data": data,
            "created_on": now,
        }

    def base(self, tenant: str, pipeline_id: str) -> str | None:
        """The base text this process last stored for the pipeline (None: not known)."""
        return self._bases.get((tenant, pipeline_id))

    def remember_base(self, tenant: str, pipeline_id: str, text: str) -> None:
        self._bases.put((tenant, pipeline_id), text)

    def clear(self) -> None:
        """Forget everything (after manifests were deleted, say)."""
        self._parsed.clear()
        self._encoded.clear()
        self._bases.clear()
