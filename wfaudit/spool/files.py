"""The spool's files: format, layout, crash-safe writes, quarantine, the drain lock.

See :mod:`wfaudit.spool`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from wfaudit_hookspecs import (
    Blob,
    ConfigurationError,
    InvalidRequest,
    SchemaMismatch,
    SnapshotConflict,
    SnapshotRecord,
    StoreError,
    StoreRejected,
    StoreUnavailable,
    UnsupportedSchemaVersion,
    WfauditError,
    check_record_identities,
    utcnow,
)
from wfaudit_hookspecs.converter import structure_record, unstructure
from wfaudit_hookspecs.util import fsync_directory as _fsync_directory

fcntl: Any
try:  # POSIX: one drainer at a time across processes
    import fcntl
except ImportError:  # pragma: no cover - Windows: replay is idempotent anyway
    fcntl = None


log = logging.getLogger("wfaudit.spool")

log = logging.getLogger("wfaudit.spool")

SPOOL_FORMAT = "wfaudit-spool"
SPOOL_VERSION = 1
"""The version of the spool file format this wfaudit writes (and the newest it reads)."""

_SUFFIX = ".wfspool"
_QUARANTINE = "quarantine"
_LOCK_NAME = ".drain.lock"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword", "passfile", "sslkey", "token"})
_SCHEME_ALIASES = {
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "sqlite+pysqlite": "sqlite",
}
_STALE_TEMP_SECONDS = 3600.0
_WORKER_PREFIX = "worker-"
_WORKER_NAME = re.compile(r"^worker-[0-9]{1,6}$")
_MISSING = (FileNotFoundError, NotADirectoryError)
"""A spool directory that is not there (yet): nothing waits in it."""


# -- errors --------------------------------------------------------------------------


class SpoolError(WfauditError):
    """A spool file cannot be used."""


class CorruptSpoolFile(SpoolError):
    """A spool file is damaged (truncated, edited, not a spool file)."""


class SpoolFileTooNew(SpoolError):
    """A spool file was written by a newer wfaudit; upgrade to drain it."""


def is_spoolable(error: BaseException) -> bool:
    """True for failures of the store itself, after which spooling saves the audit.

    The store being down, locked or full (:class:`StoreUnavailable`), its schema
    being of another version (:class:`SchemaMismatch`: spool until it is
    upgraded), an unclassified database failure (a bare :class:`StoreError`) or
    an OS error. Never a refusal: a conflicting snapshot, an invalid request or
    data the store refused (:class:`StoreRejected`) would be refused again at
    replay, and a spooled file that can never be replayed would hold up every
    later one.
    """
    if isinstance(error, StoreRejected | SnapshotConflict | InvalidRequest):
        return False
    if isinstance(error, StoreUnavailable | SchemaMismatch | OSError):
        return True
    return type(error) is StoreError


# -- the store key -------------------------------------------------------------------


def sanitize_url(url: str) -> str:
    """``url`` without a password or secret query options; aliases normalised.

    The result names the store in spool files and picks its spool directory, so
    two spellings of one store (``postgres://`` and ``postgresql+psycopg://``, a
    relative and an absolute SQLite path) share a spool.
    """
    parts = urlsplit(url.strip())
    scheme = _SCHEME_ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{host}" if user else host
    path = parts.path
    if scheme == "sqlite" and path not in ("", "/") and not netloc:
        # sqlite:///relative.db is relative to the working directory; written
        # absolute, it is sqlite:////absolute.db.
        target = path[1:]
        if target != ":memory:" and not target.startswith("file:"):
            path = "/" + os.path.abspath(target)
    query = urlencode(
        sorted(
            (key, "***" if key.lower() in _SECRET_QUERY_KEYS else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        )
    )
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def store_key(url: str) -> str:
    """The spool directory name of a store: its scheme and a hash of its sanitised URL."""
    clean = sanitize_url(url)
    scheme = re.sub(r"[^a-z0-9]+", "-", clean.split(":", 1)[0].lower()) or "store"
    return f"{scheme}-{hashlib.sha256(clean.encode()).hexdigest()[:16]}"


def _tenant_dir_name(tenant: str | None) -> str:
    if not tenant:
        return "default"
    return "t-" + hashlib.sha256(tenant.encode()).hexdigest()[:16]


def _file_name(record: SnapshotRecord) -> str:
    # Engine ids are ULIDs: the names sort by audit time. Anything else is hashed
    # so that an id can never name a path outside the spool.
    name = (
        record.id if _SAFE_NAME.match(record.id) else hashlib.sha256(record.id.encode()).hexdigest()
    )
    return name + _SUFFIX


# -- the spools of one data directory -------------------------------------------------


def worker_spool_root(root: Path, slot: int) -> Path:
    """The spool root of worker ``slot`` of a multi-process server (``root`` is
    ``$WFAUDIT_HOME/spool``)."""
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < 1_000_000:
        raise ConfigurationError(f"a worker slot is an integer in 0..999999, not {slot!r}")
    return Path(root) / f"{_WORKER_PREFIX}{slot}"


def spool_roots(root: Path) -> list[Path]:
    """Every spool root under ``root`` (``$WFAUDIT_HOME/spool``): the root itself,
    then each worker's (``worker-<slot>``), in slot order."""
    root = Path(root)
    try:
        workers = [
            Path(entry.path)
            for entry in os.scandir(root)
            if _WORKER_NAME.match(entry.name) and entry.is_dir()
        ]
    except _MISSING:
        workers = []
    return [root, *sorted(workers, key=lambda path: int(path.name[len(_WORKER_PREFIX) :]))]


# -- files ---------------------------------------------------------------------------

QUARANTINE_KINDS = ("corrupt", "rejected")
"""``corrupt``: the file cannot be read; ``rejected``: the store refused its
snapshot for good (a conflicting audit, data it cannot hold)."""


@attrs.frozen(kw_only=True)
class QuarantinedFile:
    """A spool file drain set aside, and why (identities and the reason, never content)."""

    name: str
    kind: str
    reason: str
    path: Path
    readable: bool = False
    snapshot_id: str | None = None
    workflow_id: str | None = None
    workflow_type: str | None = None
    tenant: str | None = None
    written_on: str = ""


@attrs.frozen(kw_only=True)
class SpoolEntry:
    """One spooled snapshot, as read back."""

    path: Path
    record: SnapshotRecord
    blob: Blob
    written_on: str = ""


class Spool:
    """The spool directory of one store.

    :param root: ``$WFAUDIT_HOME/spool``.
    :param store_url: the store's URL (as configured; only its sanitised form is kept).
    """

    def __init__(self, root: Path, store_url: str) -> None:
        self.root = Path(root)
        self.store = sanitize_url(store_url)
        self.directory = self.root / store_key(store_url)
        self._made: set[Path] = set()
        self._made_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Spool {self.directory}>"

    # -- writing ----------------------------------------------------------------

    def write(self, record: SnapshotRecord, blob: Blob) -> Path:
        """Write one snapshot durably; returns its file. Raises OSError on failure."""
        body = json.dumps(
            {
                "written_on": utcnow().isoformat(),
                "store": self.store,
                "record": unstructure(record),
                "blob": {
                    "content_hash": blob.content_hash,
                    "codec": blob.codec,
                    "raw_size": blob.raw_size,
                    "data": base64.b64encode(blob.data).decode("ascii"),
                    # A delta blob names the blob it was compressed against.
                    "base": getattr(blob, "base", None),
                },
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")
        header = json.dumps(
            {
                "format": SPOOL_FORMAT,
                "version": SPOOL_VERSION,
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
            sort_keys=True,
        ).encode("ascii")
        directory = self._tenant_dir(record.tenant, create=True)
        final = directory / _file_name(record)
        temporary = directory / f".{final.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header + b"\n" + body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        _fsync_directory(directory)
        return final

    def _tenant_dir(self, tenant: str | None, *, create: bool = False) -> Path:
        directory = self.directory / _tenant_dir_name(tenant)
        if create and directory not in self._made:
            with self._made_lock:
                _make_durable_dirs(directory, stop=self.root.parent)
                self._made.add(directory)
        return directory

    # -- reading ----------------------------------------------------------------

    def _tenant_dirs(self, tenant: str | None) -> list[Path]:
        if tenant is not None:
            return [self.directory / _tenant_dir_name(tenant)]
        try:
            return [
                Path(entry.path)
                for entry in os.scandir(self.directory)
                if entry.is_dir() and entry.name != _QUARANTINE and not entry.name.startswith(".")
            ]
        except _MISSING:
            return []

    def paths(self, tenant: str | None = None) -> list[Path]:
        """Spooled files (of ``tenant``, or of every tenant), oldest first."""
        found: list[Path] = []
        for directory in self._tenant_dirs(tenant):
            try:
                found.extend(
                    Path(entry.path)
                    for entry in os.scandir(directory)
                    if entry.name.endswith(_SUFFIX) and not entry.name.startswith(".")
                )
            except _MISSING:
                continue
        return sorted(found, key=lambda path: path.name)

    def has_pending(self, tenant: str | None = None) -> bool:
        """True when at least one file waits (cheap: stops at the first)."""
        for directory in self._tenant_dirs(tenant):
            try:
                with os.scandir(directory) as entries:
                    if any(
                        e.name.endswith(_SUFFIX) and not e.name.startswith(".") for e in entries
                    ):
                        return True
            except _MISSING:
                continue
        return False

    def depth(self, tenant: str | None = None) -> int:
        """How many snapshots wait in the spool."""
        return len(self.paths(tenant))

    def quarantined(self) -> int:
        """How many files drain set aside (corrupt or rejected by the store)."""
        total = 0
        for kind in QUARANTINE_KINDS:
            with contextlib.suppress(*_MISSING):
                total += sum(
                    1
                    for e in os.scandir(self.directory / _QUARANTINE / kind)
                    if e.name.endswith(_SUFFIX)
                )
        return total

    def read(self, path: Path) -> SpoolEntry:
        """Read and check one file.

        :raises CorruptSpoolFile: it is damaged or not a spool file.
        :raises SpoolFileTooNew: a newer wfaudit wrote it.
        """
        raw = Path(path).read_bytes()
        newline = raw.find(b"\n")
        try:
            header = json.loads(raw[:newline]) if newline > 0 else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != SPOOL_FORMAT:
            raise CorruptSpoolFile(f"{path.name} is not a wfaudit spool file")
        version = header.get("version")
        if not isinstance(version, int) or version < 1:
            raise CorruptSpoolFile(f"{path.name} has no valid format version")
        if version > SPOOL_VERSION:
            raise SpoolFileTooNew(
                f"{path.name} is a version {version} spool file; this wfaudit reads up to "
                f"{SPOOL_VERSION}: upgrade wfaudit to drain it"
            )
        body = raw[newline + 1 :]
        if len(body) != header.get("length") or hashlib.sha256(body).hexdigest() != header.get(
            "sha256"
        ):
            raise CorruptSpoolFile(f"{path.name} is truncated or damaged (checksum mismatch)")
        try:
            document = json.loads(body)
            record = structure_record(dict(document["record"]))
            blob_data = document["blob"]
            fields: dict[str, Any] = {
                "content_hash": str(blob_data["content_hash"]),
                "codec": str(blob_data["codec"]),
                "raw_size": int(blob_data["raw_size"]),
                "data": base64.b64decode(blob_data["data"], validate=True),
            }
            if blob_data.get("base") is not None:
                fields["base"] = str(blob_data["base"])
            blob = Blob(**fields)
        except UnsupportedSchemaVersion as error:
            raise SpoolFileTooNew(f"{path.name}: {error}") from None
        except (InvalidRequest, KeyError, TypeError, ValueError) as error:
            raise CorruptSpoolFile(f"{path.name} is malformed: {type(error).__name__}") from None
        if blob.content_hash != record.content_hash:
            raise CorruptSpoolFile(f"{path.name}: the blob is not the record's")
        try:
            # Written by an older wfaudit, or edited: the identities are held to
            # today's rules here, since a database such as SQLite would take them.
            check_record_identities(record)
        except InvalidRequest as error:
            raise CorruptSpoolFile(f"{path.name}: {error}") from None
        return SpoolEntry(
            path=Path(path),
            record=record,
            blob=blob,
            written_on=str(document.get("written_on", "")),
        )

    # -- removing ------------------------------------------------------------------

    def remove(self, path: Path) -> None:
        """Remove a file the store has confirmed (durably: the directory is fsynced)."""
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()
        _fsync_directory(Path(path).parent)

    def quarantine(self, path: Path, kind: str, reason: str) -> Path:
        """Move a file drain cannot replay to ``quarantine/<kind>/``, with the reason."""
        target_dir = self.directory / _QUARANTINE / kind
        _make_durable_dirs(target_dir, stop=self.root.parent)
        target = target_dir / Path(path).name
        os.replace(path, target)
        (target_dir / (target.name + ".reason")).write_text(reason + "\n", encoding="utf-8")
        _fsync_directory(target_dir)
        _fsync_directory(Path(path).parent)
        return target

    def quarantined_files(self, tenant: str | None = None) -> list[QuarantinedFile]:
        """The files drain set aside, oldest first, with the reason of each.

        :param tenant: only this tenant's files (a corrupt file, whose tenant
            cannot be read, is listed only when no tenant is given).
        """
        found: list[QuarantinedFile] = []
        for kind in QUARANTINE_KINDS:
            directory = self.directory / _QUARANTINE / kind
            try:
                names = sorted(e.name for e in os.scandir(directory) if e.name.endswith(_SUFFIX))
            except _MISSING:
                continue
            for name in names:
                item = self._describe(directory / name, kind)
                if item is not None and (
                    tenant is None or (item.readable and item.tenant == tenant)
                ):
                    found.append(item)
        return sorted(found, key=lambda item: item.name)

    def _describe(self, path: Path, kind: str) -> QuarantinedFile | None:
        try:
            reason = (path.parent / (path.name + ".reason")).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            reason = "(no reason was recorded)"
        except (OSError, UnicodeDecodeError):
            reason = "(the reason file cannot be read)"
        fields: dict[str, Any] = {}
        try:
            entry = self.read(path)
        except FileNotFoundError:
            return None  # removed meanwhile (retried or discarded by another process)
        except SpoolError:
            pass
        else:
            record = entry.record
            fields = {
                "readable": True,
                "snapshot_id": record.id,
                "workflow_id": record.workflow_id,
                "workflow_type": record.workflow_type,
                "tenant": record.tenant,
                "written_on": entry.written_on,
            }
        return QuarantinedFile(name=path.name, kind=kind, reason=reason, path=path, **fields)

    def find_quarantined(self, name: str, tenant: str | None = None) -> QuarantinedFile:
        """The quarantined file ``name`` names: its file name or snapshot id.

        :raises SpoolError: no such file (in ``tenant``, when given).
        """
        for item in self.quarantined_files(tenant):
            if name in (item.name, item.snapshot_id, item.name.removesuffix(_SUFFIX)):
                return item
        raise SpoolError(f"no quarantined spool file {name!r}; `wfaudit spool list` shows them")

    def requeue(self, item: QuarantinedFile) -> Path:
        """Put a quarantined file back in the spool, for the next drain to replay.

        :raises SpoolError: the file is corrupt (nothing could replay it), or a
            file of the same snapshot is waiting already.
        """
        if not item.readable:
            raise SpoolError(
                f"{item.name} is corrupt and cannot be replayed; inspect it in "
                f"{item.path.parent}, then discard it"
            )
        directory = self._tenant_dir(item.tenant, create=True)
        target = directory / item.name
        if target.exists():
            raise SpoolError(f"{item.name} is waiting in the spool already")
        os.replace(item.path, target)
        _fsync_directory(directory)
        with contextlib.suppress(FileNotFoundError):
            (item.path.parent / (item.name + ".reason")).unlink()
        _fsync_directory(item.path.parent)
        log.warning("quarantined spool file %s put back for replay", item.name)
        return target

    def discard(self, item: QuarantinedFile) -> None:
        """Delete a quarantined file for good (an operator's explicit decision)."""
        with contextlib.suppress(FileNotFoundError):
            item.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            (item.path.parent / (item.name + ".reason")).unlink()
        _fsync_directory(item.path.parent)
        log.warning(
            "quarantined spool file %s (%s) discarded; it had been set aside: %s",
            item.name,
            item.kind,
            item.reason,
        )

    def clean_temporary(self) -> int:
        """Remove the temporary files of writers that died (killed mid-write)."""
        removed = 0
        now = time.time()
        for directory in self._tenant_dirs(None):
            try:
                entries = list(os.scandir(directory))
            except _MISSING:
                continue
            for entry in entries:
                if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                    continue
                parts = entry.name.split(".")
                pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
                try:
                    stale = now - entry.stat().st_mtime > _STALE_TEMP_SECONDS
                except FileNotFoundError:
                    continue
                if stale or (pid is not None and not _alive(pid)):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
        return removed

    def writable(self) -> bool:
        """True when a file can be written in the spool now (for health checks)."""
        try:
            _make_durable_dirs(self.directory, stop=self.root.parent)
            probe = self.directory / f".probe.{os.getpid()}.{secrets.token_hex(4)}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError:
            return False
        return True

    @contextlib.contextmanager
    def drain_lock(self, *, wait: float) -> Iterator[bool]:
        """Hold the spool's drain lock (``flock``); yields False if not got in ``wait`` s."""
        if fcntl is None:  # pragma: no cover - Windows
            yield True
            return
        _make_durable_dirs(self.directory, stop=self.root.parent)
        fd = os.open(self.directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        got = False
        try:
            deadline = time.monotonic() + max(0.0, wait)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    got = True
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.05)
            yield got
        finally:
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _make_durable_dirs(directory: Path, *, stop: Path) -> None:
    """``mkdir -p`` that fsyncs each parent it adds an entry to (so a new
    directory survives a crash together with the file renamed into it)."""
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        if path.parent != stop:
            _fsync_directory(path.parent)
