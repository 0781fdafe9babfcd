"""Archive objects: their format, their key layout, and the local-directory archive.

An archive object holds one snapshot, self-describing and self-contained::

    zstd( canonical_json(header) + b"\\n" + canonical JSON of the masked config )

The header (format ``wfaudit-archive``, version 1) carries the snapshot row as
the store kept it (identity, labels, manifest, status, timestamps), the digest of
its sealed columns, the content hash and size of the config, and how the store
had compressed it (a delta's base is *resolved*: the object holds the config
itself, so restoring never needs another object or blob). Canonical JSON has no
raw newline, so the first ``\\n`` ends the header.

Keys follow :func:`archive_key`::

    <prefix>/v1/<tenant>/<pipeline>/<yyyy>/<mm>/<snapshot id>.wfa

with the tenant (``-`` for none) and pipeline percent-encoded, and year and
month of the snapshot's creation: predictable, listable by tenant, pipeline and
month, and safe as a file path. A segment longer than :data:`MAX_SEGMENT` bytes
once encoded is shortened with a hash of its value, so that every key of every
valid identity fits file-name and S3 key limits.

Archive stores are opened by URL: ``file:///path`` is the engine's own
:class:`FileArchive`; other schemes (``s3://``) come from plugins through the
``wfaudit_open_archive`` hook (``wfaudit-objectstore``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import pathlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import attrs
import zstandard

from wfaudit_hookspecs import (
    BadStoreURL,
    Blob,
    SnapshotNotFound,
    StoreError,
    canonical_json,
    content_hash,
)
from wfaudit_hookspecs.retention import ArchiveStore, ExportedSnapshot

from . import codec
from .plugins import PluginManager

__all__ = [
    "ARCHIVE_FORMAT",
    "ARCHIVE_SUFFIX",
    "ARCHIVE_VERSION",
    "DIRECTORY_MODE",
    "OBJECT_MODE",
    "ArchiveObject",
    "FileArchive",
    "archive_key",
    "build_object",
    "object_sha256",
    "open_archive",
    "parse_object",
    "snapshot_id_of_key",
    "tenant_prefix",
    "url_has_credentials",
]

ARCHIVE_FORMAT = "wfaudit-archive"
ARCHIVE_VERSION = 1
ARCHIVE_SUFFIX = ".wfa"
_LEVEL = 9
_MAX_OBJECT = 512 * 1024 * 1024  # a decompression bomb stops here


@attrs.frozen(kw_only=True)
class ArchiveObject:
    """A parsed archive object.

    :ivar header: the header (format, version, snapshot row, hashes).
    :ivar config: the canonical JSON of the masked config, checked against its hash.
    """

    header: Mapping[str, Any]
    config: bytes

    @property
    def row(self) -> Mapping[str, Any]:
        row: Mapping[str, Any] = self.header["snapshot"]
        return row

    @property
    def record_digest(self) -> str:
        return str(self.header["record_digest"])

    @property
    def content_hash(self) -> str:
        return str(self.header["content_hash"])

    @property
    def archived_on(self) -> _dt.datetime | None:
        """When the object was written (its header's ``archived_on``), if readable."""
        try:
            when = _dt.datetime.fromisoformat(str(self.header["archived_on"]))
        except (KeyError, ValueError):
            return None
        return when if when.tzinfo is not None else None

    def blob(self, level: int = 3) -> Blob:
        """The config as a plain ``zstd`` blob, to put back in a store."""
        codec_name, data = codec.compress(self.config, level)
        return Blob(
            content_hash=self.content_hash, codec=codec_name, raw_size=len(self.config), data=data
        )


MAX_SEGMENT = 150
"""The longest percent-encoded key segment kept as it is (bytes).

A longer one (a pipeline id of 200 ``é`` is 1,200 bytes encoded, over the 255
bytes a file name may have, and long keys approach S3's 1,024) becomes its first
:data:`_HASHED_PREFIX` bytes, ``~`` and the SHA-256 of the whole value: stable
(the same identity gives the same key), collision-resistant, still readable at
a glance, and always longer than :data:`MAX_SEGMENT`, so a hashed segment never
equals the segment of another, shorter value. Every segment stays under 255
bytes and every key under S3's 1,024 (with a prefix of up to 300 bytes).
"""
_HASHED_PREFIX = 100


def _segment(value: str, suffix: str = "") -> str:
    encoded = quote(value, safe="")
    if len(encoded) + len(suffix) > MAX_SEGMENT:
        head = encoded[:_HASHED_PREFIX]
        cut = head.rfind("%", len(head) - 2)
        if cut != -1:  # never cut a %XX escape in two
            head = head[:cut]
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        encoded = f"{head}~{digest}"
    # "." and ".." must not become path segments of a file archive.
    return ("%2E" + encoded[1:] if encoded.startswith(".") else encoded) + suffix


def _tenant_segment(tenant: str | None) -> str:
    return "-" if not tenant else ("%2D" if tenant == "-" else _segment(tenant))


def tenant_prefix(prefix: str, tenant: str | None) -> str:
    """The key prefix of every archive object (of ``tenant``, when given), ending in ``/``."""
    base = "/".join(part for part in (prefix.strip("/"), f"v{ARCHIVE_VERSION}") if part)
    return f"{base}/" if tenant is None else f"{base}/{_tenant_segment(tenant)}/"


def archive_key(
    *, prefix: str, tenant: str | None, pipeline_id: str, created_on: _dt.datetime, snapshot_id: str
) -> str:
    """The key of a snapshot's archive object (see the module's docstring)."""
    when = created_on.astimezone(_dt.UTC)
    tenant_part = _tenant_segment(tenant)
    parts = [
        prefix.strip("/"),
        f"v{ARCHIVE_VERSION}",
        tenant_part,
        _segment(pipeline_id),
        f"{when.year:04d}",
        f"{when.month:02d}",
        _segment(snapshot_id, ARCHIVE_SUFFIX),
    ]
    return "/".join(part for part in parts if part)


def snapshot_id_of_key(key: str) -> str | None:
    """The snapshot id an archive key names, or None for a key outside the layout."""
    name = key.rsplit("/", 1)[-1]
    if not name.endswith(ARCHIVE_SUFFIX) or f"/v{ARCHIVE_VERSION}/" not in f"/{key}":
        return None
    if len(name) > MAX_SEGMENT:
        return None  # a hashed id: the object's header names the snapshot
    return unquote(name[: -len(ARCHIVE_SUFFIX)]) or None


def build_object(
    exported: ExportedSnapshot, canonical: bytes, *, archived_on: _dt.datetime
) -> bytes:
    """The bytes of a snapshot's archive object.

    :param canonical: the config's canonical JSON (decoded from the blob, delta
        base resolved); checked against the snapshot's content hash.
    :raises StoreError: the config does not match the snapshot's content hash.
    """
    row = exported.row
    if content_hash(canonical) != row["content_hash"]:
        raise StoreError(f"snapshot {row['id']}: its blob does not match its content hash")
    header = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "snapshot": dict(row),
        "record_digest": exported.record_digest,
        "content_hash": row["content_hash"],
        "config_size": len(canonical),
        "stored_as": {
            "codec": exported.blob.codec,
            "stored_size": exported.blob.stored_size,
            "base": exported.blob.base,
        },
        "archived_on": archived_on.astimezone(_dt.UTC).isoformat(timespec="microseconds"),
    }
    body = canonical_json(header) + b"\n" + canonical
    return zstandard.ZstdCompressor(level=_LEVEL, write_content_size=True).compress(body)


def parse_object(data: bytes, *, where: str) -> ArchiveObject:
    """Parse and check an archive object: format, version and the config's hash.

    :param where: the object's key, for error messages.
    :raises StoreError: not an archive object, a newer version, or a hash mismatch.
    """
    try:
        body = codec.bounded_decompress(
            zstandard.ZstdDecompressor(), data, _MAX_OBJECT, what=f"archive object {where}"
        )
    except zstandard.ZstdError:
        raise StoreError(f"archive object {where} is not a zstd frame: it is corrupt") from None
    head, sep, config = body.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError:
        header = None
    if not sep or not isinstance(header, dict) or header.get("format") != ARCHIVE_FORMAT:
        raise StoreError(f"{where} is not a wfaudit archive object")
    version = header.get("version")
    if version != ARCHIVE_VERSION:
        raise StoreError(
            f"archive object {where} has format version {version!r}; this wfaudit reads "
            f"version {ARCHIVE_VERSION}: upgrade wfaudit to restore it"
        )
    snapshot = header.get("snapshot")
    if not isinstance(snapshot, dict):
        raise StoreError(f"archive object {where} has no snapshot row")
    if content_hash(config) != header.get("content_hash") or snapshot.get(
        "content_hash"
    ) != header.get("content_hash"):
        raise StoreError(f"archive object {where}: the config does not match its content hash")
    if len(config) != header.get("config_size"):
        raise StoreError(f"archive object {where}: the config has the wrong size")
    return ArchiveObject(header=header, config=config)


def object_sha256(data: bytes) -> str:
    """The SHA-256 an archive record keeps of its object's bytes."""
    return hashlib.sha256(data).hexdigest()


OBJECT_MODE = 0o600
"""Permissions of a ``file://`` archive object (umask aside)."""
DIRECTORY_MODE = 0o700
"""Permissions of the directories a ``file://`` archive creates."""


def _make_private_directories(directory: pathlib.Path) -> None:
    """Create ``directory`` and its missing parents, each 0700 (existing ones are
    left as they are)."""
    missing = []
    while not directory.exists() and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by another process meanwhile
            each.mkdir(mode=DIRECTORY_MODE)
            os.chmod(each, DIRECTORY_MODE)  # the umask may have taken bits off the mode


class FileArchive:
    """An :class:`~wfaudit_hookspecs.retention.ArchiveStore` in a local directory
    (``file:///path``): one file per key, written atomically (temporary file,
    fsync, rename)."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = pathlib.Path(root).expanduser().resolve()
        self.url = self.root.as_uri()
        self.fsync = fsync

    def __repr__(self) -> str:
        return f"FileArchive({self.url!r})"

    def _path(self, key: str) -> pathlib.Path:
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts):
            raise StoreError(f"archive key {key!r} is not a relative path of plain segments")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            _make_private_directories(path.parent)
            # An archived snapshot is the owner's only, as the store and the spool are.
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OBJECT_MODE)
            os.fchmod(descriptor, OBJECT_MODE)  # also a partial left by a killed run
            with open(descriptor, "wb") as handle:
                handle.write(data)
                if self.fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(partial, path)
        except OSError as error:
            raise StoreError(
                f"cannot write archive object {key}: {error.strerror or error}"
            ) from None

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise SnapshotNotFound(f"archive object {key} is not in {self.url}") from None
        except OSError as error:
            raise StoreError(
                f"cannot read archive object {key}: {error.strerror or error}"
            ) from None

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return
        except OSError as error:
            raise StoreError(
                f"cannot delete archive object {key}: {error.strerror or error}"
            ) from None

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        start = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        if not start.is_dir():
            return
        for directory, subdirs, files in os.walk(start):
            subdirs.sort()
            for name in sorted(files):
                if name.startswith(".") and name.endswith(".partial"):
                    continue
                yield (pathlib.Path(directory) / name).relative_to(self.root).as_posix()

    def close(self) -> None:
        """Nothing to release."""


def url_has_credentials(url: str) -> bool:
    """True when ``url``, or a URL among its query values (``?endpoint=...``), has a
    user-info part (``user:password@host``)."""
    try:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            return True
        for _, value in parse_qsl(parts.query, keep_blank_values=True):
            if "@" in value and urlsplit(value).scheme:
                return True
    except ValueError:  # unparseable: judge the text
        return "@" in url
    return False


def open_archive(url: str, plugin_manager: PluginManager) -> ArchiveStore:
    """Open the archive store at ``url``: ``file:`` here, other schemes by a plugin.

    :raises BadStoreURL: no plugin owns the URL's scheme, or the URL holds
        credentials (the message never quotes such a URL).
    """
    if url_has_credentials(url):
        raise BadStoreURL(
            "an archive URL must not hold credentials (user:password@): give them to "
            "the archive's client (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile)"
        )
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BadStoreURL(f"a file archive URL names a local path (file:///path), not {url!r}")
        return FileArchive(unquote(parts.path))
    if not parts.scheme:
        raise BadStoreURL(
            f"the archive URL {url!r} has no scheme (file:///path or s3://bucket/prefix)"
        )
    store = plugin_manager.hooks.open_archive(url)
    if store is None:
        raise BadStoreURL(
            f"no plugin opens archive URLs of scheme {parts.scheme!r} "
            "(s3:// needs wfaudit-objectstore installed)"
        )
    if not isinstance(store, ArchiveStore):
        raise StoreError(f"the archive plugin for {parts.scheme!r} returned no archive store")
    return store
