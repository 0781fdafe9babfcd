"""The durable local spool: snapshots the store could not take, kept until it can.

When the store is unreachable, locked past its timeout or out of space, the
persist stage (``wfaudit.builtin.spool``) writes the snapshot (the *masked*
record and its compressed blob: exactly what ``store.save`` was given, never the
raw request) to ``$WFAUDIT_HOME/spool`` and the audit returns
``AuditResult(ok=True, spooled=True)``. ``wfaudit drain`` and, in a background
thread, the next successful audit replay the spool through the persist stage.

Layout and crash safety::

    $WFAUDIT_HOME/spool/<store key>/            one directory per store URL
        default/ | t-<tenant hash>/             one per tenant
            <snapshot id>.wfspool               one file per snapshot
            .<id>.<pid>.<random>.tmp            a file being written
        quarantine/{corrupt,rejected}/          files drain could not replay
        .drain.lock                             one drainer at a time
    $WFAUDIT_HOME/spool/worker-<slot>/<store key>/...
                                                the spool of worker <slot> of
                                                ``wfaudit serve --workers N``

Each worker of a multi-process server writes its own spool (no two processes
race for one directory's drain lock on every audit); a restarted worker takes
its slot's spool back, and every drain of the data directory
(:func:`spool_roots`: ``wfaudit drain``, the server's periodic drain) replays
every worker's spool too, so files left by a worker that died, or by a slot no
longer run, are never stranded.

A file is written to a temporary name, flushed and fsynced, renamed into place
(atomic) and then the directory is fsynced, so a crash (SIGKILL, power loss)
leaves either the whole file or none under its final name. Each file is
self-describing: a header line (format, version, length and SHA-256 of the
body) and a JSON body with the record (with its schema version) and the blob.

Replay is exactly-once in effect: a file is removed only after the store
confirmed the save, and saving an audit the store already has is a no-op
(the unique key of a workflow run), so a crash between the two replays it
harmlessly.

After a store failure a circuit breaker sends the following audits straight to
the spool (no caller waits for a store that just failed), while one background
thread per auditor retries the store by replaying the oldest spooled file,
backing off, and lets audits through again once a replay succeeds.
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
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from wfaudit_hookspecs import (
    AuditEvent,
    BackupResult,
    BadStoreURL,
    Blob,
    ConfigurationError,
    HistoryQuery,
    InvalidRequest,
    KeyedTrail,
    SaveResult,
    SchemaMismatch,
    SnapshotConflict,
    SnapshotRecord,
    Status,
    Store,
    StoreError,
    StoreMaintenance,
    StoreRejected,
    StoreStats,
    StoreUnavailable,
    TrailCheck,
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

__all__ = [
    "CURRENT",
    "SPOOL_FORMAT",
    "SPOOL_VERSION",
    "CircuitBreaker",
    "CorruptSpoolFile",
    "DeferredStore",
    "DrainReport",
    "PersistContext",
    "QuarantinedFile",
    "Spool",
    "SpoolDrainer",
    "SpoolEntry",
    "SpoolError",
    "SpoolFileTooNew",
    "is_spoolable",
    "sanitize_url",
    "spool_roots",
    "store_key",
    "worker_spool_root",
]

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


# -- the circuit breaker -----------------------------------------------------------------


class CircuitBreaker:
    """After a store failure, audits skip the store for a while and go to the spool.

    :meth:`trip` opens it for ``window`` seconds; while it is open the background
    drainer keeps extending it as long as the store still fails, and
    :meth:`reset` closes it when a replay succeeds. Should the drainer be gone,
    the window simply runs out and the next audit tries the store again.
    """

    def __init__(self, *, window: float = 60.0) -> None:
        self.window = window
        self._open_until = 0.0
        self._lock = threading.Lock()

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self, seconds: float | None = None) -> None:
        with self._lock:
            self._open_until = max(
                self._open_until, time.monotonic() + (self.window if seconds is None else seconds)
            )

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0


# -- the persist context -------------------------------------------------------------------


@attrs.frozen
class PersistContext:
    """What the spool's persist hooks need, set by the auditor around its persist call.

    Replays run outside any audit, without a context: the spool hooks then pass
    every call through, so a replay that fails is not spooled a second time.
    """

    spool: Spool
    breaker: CircuitBreaker
    on_spooled: Callable[[], None]
    standalone: Callable[[Blob], Blob] = attrs.field(default=lambda blob: blob)
    """Makes a delta blob whole before it is spooled: a spooled snapshot must not
    depend on a delta base that may be gone when it is replayed."""


CURRENT: ContextVar[PersistContext | None] = ContextVar("wfaudit_persist_context", default=None)
"""The persist context of the audit running in this thread (or task), if any."""


# -- draining ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DrainReport:
    """What one drain did.

    :ivar replayed: spooled snapshots the store now has.
    :ivar already_stored: spooled snapshots the store had already (replayed before).
    :ivar rejected: files whose snapshot the store refused for good (a conflicting
        audit, data it cannot hold), set aside; the drain goes on with the next.
    :ivar corrupt: damaged files, set aside.
    :ivar too_new: files of a newer wfaudit, left in place.
    :ivar remaining: files still waiting.
    :ivar store_unavailable: drain stopped because the store failed again.
    :ivar busy: another process was draining this spool.
    :ivar error: why drain stopped early, if it did.
    :ivar quarantined: the files this drain set aside, each with its reason.
    """

    replayed: int = 0
    already_stored: int = 0
    rejected: int = 0
    corrupt: int = 0
    too_new: int = 0
    remaining: int = 0
    store_unavailable: bool = False
    busy: bool = False
    error: str | None = None
    quarantined: tuple[QuarantinedFile, ...] = ()

    @property
    def ok(self) -> bool:
        """Nothing waits and nothing had to be set aside."""
        return not (self.remaining or self.rejected or self.corrupt or self.busy or self.error)

    @classmethod
    def combined(cls, reports: list[DrainReport]) -> DrainReport:
        """One report of several drains (of several spools): counts summed, the
        first error kept."""
        return cls(
            replayed=sum(report.replayed for report in reports),
            already_stored=sum(report.already_stored for report in reports),
            rejected=sum(report.rejected for report in reports),
            corrupt=sum(report.corrupt for report in reports),
            too_new=sum(report.too_new for report in reports),
            remaining=sum(report.remaining for report in reports),
            store_unavailable=any(report.store_unavailable for report in reports),
            busy=any(report.busy for report in reports),
            error=next((report.error for report in reports if report.error), None),
            quarantined=tuple(item for report in reports for item in report.quarantined),
        )


Replay = Callable[[SnapshotRecord, Blob], SaveResult]


class SpoolDrainer:
    """Replays one auditor's spool: in the foreground (:meth:`drain`) or in a
    background daemon thread started after audits (:meth:`after_success`,
    :meth:`after_spooled`).

    :param replay: persists one spooled snapshot (the auditor's persist stage).
    :param probe: checks that the store takes writes (used when another process
        holds the drain lock and this one must decide whether to trust the store).
    :param tenant: the auditor's tenant scope (None: every tenant's files).
    """

    batch = 200
    """Files per drain round of the background thread (it checks for stop between)."""
    run_seconds = 60.0
    """How long one background run may go on before it leaves the rest to the next."""
    check_interval = 2.0
    """Seconds between checks of the spool directory after successful audits."""

    def __init__(
        self,
        spool: Spool,
        breaker: CircuitBreaker,
        replay: Replay,
        *,
        probe: Callable[[], None] | None = None,
        tenant: str | None = None,
    ) -> None:
        self.spool = spool
        self.breaker = breaker
        self._replay = replay
        self._probe = probe
        self._tenant = tenant
        self._next_check = 0.0
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._stop = threading.Event()

    # -- foreground -------------------------------------------------------------------

    def drain(self, *, limit: int | None = None, wait: float = 30.0) -> DrainReport:
        """Replay spooled snapshots, oldest first, until done, ``limit``, or a failure."""
        counts = {"replayed": 0, "already_stored": 0, "rejected": 0, "corrupt": 0, "too_new": 0}
        unavailable, error = False, None
        set_aside: list[QuarantinedFile] = []
        with self.spool.drain_lock(wait=wait) as got:
            if not got:
                return DrainReport(busy=True, remaining=self.spool.depth(self._tenant))
            self.spool.clean_temporary()
            for done, path in enumerate(self.spool.paths(self._tenant)):
                if self._stop.is_set() or (limit is not None and done >= limit):
                    break
                outcome, message, item = self._replay_file(path)
                if outcome == "unavailable":
                    unavailable, error = True, message
                    break
                if outcome == "error":
                    error = message
                    break
                if item is not None:
                    set_aside.append(item)
                if outcome != "gone":
                    counts[outcome] += 1
        return DrainReport(
            replayed=counts["replayed"],
            already_stored=counts["already_stored"],
            rejected=counts["rejected"],
            corrupt=counts["corrupt"],
            too_new=counts["too_new"],
            remaining=self.spool.depth(self._tenant),
            store_unavailable=unavailable,
            error=error,
            quarantined=tuple(set_aside),
        )

    def _replay_file(self, path: Path) -> tuple[str, str | None, QuarantinedFile | None]:
        """Replay one file: the outcome, a message, and the file if it was set aside."""
        try:
            entry = self.spool.read(path)
        except FileNotFoundError:
            return "gone", None, None
        except SpoolFileTooNew:
            return "too_new", None, None
        except CorruptSpoolFile as corrupt:
            moved = self.spool.quarantine(path, "corrupt", str(corrupt))
            log.error("spool file set aside as corrupt: %s", corrupt)
            item = QuarantinedFile(name=path.name, kind="corrupt", reason=str(corrupt), path=moved)
            return "corrupt", str(corrupt), item
        try:
            saved = self._replay(entry.record, entry.blob)
        except Exception as failure:
            message = str(failure) if isinstance(failure, WfauditError) else type(failure).__name__
            if is_spoolable(failure):
                return "unavailable", message, None
            if isinstance(failure, ConfigurationError):
                # This process is set up wrong (another fingerprint key than the
                # store's): the file is sound, and so is every other; stop here.
                return "error", message, None
            # A permanent failure: this file can never be replayed as it is. It is
            # set aside with the reason (never dropped) and the drain goes on, so
            # that one bad file cannot hold up every later audit.
            kind = "corrupt" if isinstance(failure, InvalidRequest) else "rejected"
            if not isinstance(failure, WfauditError):
                message = f"unexpected {message} while replaying it"
            moved = self.spool.quarantine(path, kind, message)
            log.error("spooled snapshot %s set aside (%s): %s", entry.record.id, kind, message)
            record = entry.record
            item = QuarantinedFile(
                name=path.name,
                kind=kind,
                reason=message,
                path=moved,
                readable=True,
                snapshot_id=record.id,
                workflow_id=record.workflow_id,
                workflow_type=record.workflow_type,
                tenant=record.tenant,
                written_on=entry.written_on,
            )
            return kind, message, item
        if not isinstance(saved, SaveResult) or saved.spooled:
            return "error", "the persist stage did not store the spooled snapshot", None
        self.spool.remove(path)
        return ("replayed" if saved.created else "already_stored"), None, None

    # -- background ----------------------------------------------------------------------

    def after_success(self) -> None:
        """Called after each audit the store took: start a drain if files wait.

        Costs a clock read on most calls; the directory is looked at every
        :attr:`check_interval` seconds at most.
        """
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.check_interval
        if self._running() or self._stop.is_set():
            return
        if self.spool.has_pending(self._tenant):
            self.kick()

    def after_spooled(self) -> None:
        """Called after an audit went to the spool: make sure a drainer retries the store."""
        self.kick()

    def kick(self) -> None:
        """Start the background drainer unless it runs (or the auditor closed)."""
        with self._thread_lock:
            if self._stop.is_set() or self._running():
                return
            thread = threading.Thread(
                target=self._background, name="wfaudit-spool-drain", daemon=True
            )
            self._thread = thread
            thread.start()

    def _running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _background(self) -> None:
        # While the store fails, this thread keeps probing it (backing off up to
        # 10 s), so that audits never have to; while it works, the thread drains
        # for at most run_seconds and leaves the rest to a later run.
        delay = 0.25
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                if time.monotonic() - started > self.run_seconds and not self.breaker.is_open():
                    return
                if self.breaker.is_open():
                    self.breaker.trip()  # keep audits away while this thread probes
                report = self.drain(limit=self.batch, wait=0.0)
                if report.busy:
                    # Another process drains; trust the store only if it takes a write.
                    if not self.breaker.is_open() or self._store_takes_writes():
                        self.breaker.reset()
                        return
                elif report.store_unavailable:
                    log.info("spool drain: the store is still unavailable (%s)", report.error)
                    self.breaker.trip()
                elif report.error is not None:
                    log.error("spool drain stopped: %s", report.error)
                    self.breaker.reset()
                    return
                else:
                    self.breaker.reset()
                    progress = report.replayed or report.already_stored or report.quarantined
                    if report.remaining == 0 or not progress:
                        return
                    delay = 0.25
                    continue
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 10.0)
        except Exception:  # a background thread must never take the process down
            log.exception("spool drain failed")
            self.breaker.reset()

    def _store_takes_writes(self) -> bool:
        if self._probe is None:
            return True
        try:
            self._probe()
        except Exception:
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background drainer (the auditor is closing)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


# -- a store that could not be opened yet -----------------------------------------------


class DeferredStore:
    """Stands in for a store that could not be opened when the auditor was created.

    An orchestrator's trigger path must not break because the audit store is
    down when the process starts: ``Auditor.from_url`` then hands the auditor
    this object. Every call tries to open the real store (at most once every
    ``retry_interval`` seconds) and, once it is open, goes to it. Until then
    every call raises the error the opening raised; audits, through the persist
    stage, go to the spool.
    """

    def __init__(
        self,
        url: str,
        opener: Callable[[], Store | None],
        error: StoreError,
        *,
        retry_interval: float = 2.0,
    ) -> None:
        self.url = sanitize_url(url)
        self._opener = opener
        self._error = error
        self._retry_interval = retry_interval
        self._next_try = time.monotonic() + retry_interval
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._chain_key: tuple[bytes, str, Mapping[str, bytes] | None] | None = None

    def use_chain_key(
        self, key: bytes, *, key_id: str, retired: Mapping[str, bytes] | None = None
    ) -> None:
        """Hand the chain key to the real store once it is open (KeyedTrail)."""
        with self._lock:
            self._chain_key = (key, key_id, retired)
            store = self._store
        if store is not None and isinstance(store, KeyedTrail):
            store.use_chain_key(key, key_id=key_id, retired=retired)

    def __repr__(self) -> str:
        state = "open" if self._store is not None else "not open yet"
        return f"<DeferredStore {self.url} ({state})>"

    @property
    def wrapped(self) -> Store | None:
        """The real store, once it could be opened."""
        return self._store

    def _target(self) -> Store:
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is not None:
                return self._store
            if time.monotonic() < self._next_try:
                raise type(self._error)(str(self._error))
            self._next_try = time.monotonic() + self._retry_interval
            try:
                opened = self._opener()
            except (StoreUnavailable, SchemaMismatch) as error:
                self._error = error
                raise
            if opened is None:
                raise BadStoreURL(f"no store plugin opens {self.url}")
            if self._chain_key is not None and isinstance(opened, KeyedTrail):
                key, key_id, retired = self._chain_key
                opened.use_chain_key(key, key_id=key_id, retired=retired)
            self._store = opened
            self.url = opened.url
            log.info("the store at %s is open now", self.url)
            return opened

    def opened(self) -> Store:
        """The real store, opened now if it can be; else the opening error is raised.

        For the optional protocols (``StoreHistory``), which this stand-in does
        not delegate method by method.
        """
        return self._target()

    def _maintenance(self, name: str) -> Any:
        target = self._target()
        if not isinstance(target, StoreMaintenance):
            raise StoreError(f"the store at {self.url} does not support {name}")
        return target

    # The Store protocol, delegated.

    def save(self, record: SnapshotRecord, blob: Blob) -> SaveResult:
        return self._target().save(record, blob)

    def get_record(
        self, *, workflow_id: str, workflow_type: str, tenant: str | None = None
    ) -> SnapshotRecord | None:
        return self._target().get_record(
            workflow_id=workflow_id, workflow_type=workflow_type, tenant=tenant
        )

    def get_record_by_id(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> SnapshotRecord | None:
        return self._target().get_record_by_id(snapshot_id, tenant=tenant)

    def get_blob(self, content_hash: str) -> Blob | None:
        return self._target().get_blob(content_hash)

    def history(self, query: HistoryQuery) -> list[SnapshotRecord]:
        return self._target().history(query)

    def set_status(
        self,
        *,
        workflow_id: str,
        workflow_type: str,
        tenant: str | None,
        status: Status,
        reason: str | None,
        by: str | None,
    ) -> SnapshotRecord:
        return self._target().set_status(
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            tenant=tenant,
            status=status,
            reason=reason,
            by=by,
        )

    def find_latest_failed(
        self,
        *,
        pipeline_id: str | None = None,
        workflow_id: str | None = None,
        workflow_type: str | None = None,
        tenant: str | None = None,
    ) -> SnapshotRecord | None:
        return self._target().find_latest_failed(
            pipeline_id=pipeline_id,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            tenant=tenant,
        )

    def append_event(
        self,
        *,
        subject: str,
        kind: str,
        tenant: str | None,
        actor: str | None = None,
        data: Any = None,
    ) -> AuditEvent:
        return self._target().append_event(
            subject=subject, kind=kind, tenant=tenant, actor=actor, data=data
        )

    def list_events(
        self, *, subject: str | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        return self._target().list_events(subject=subject, tenant=tenant, limit=limit)

    # StoreMaintenance, delegated when the real store has it.

    def ping(self, *, write: bool = False) -> None:
        target = self._target()
        if isinstance(target, StoreMaintenance):
            target.ping(write=write)

    def check_trail(
        self, *, tenant: str | None = None, max_findings: int = 1000, **options: Any
    ) -> TrailCheck:
        check: TrailCheck = self._maintenance("verification").check_trail(
            tenant=tenant, max_findings=max_findings, **options
        )
        return check

    def iter_blobs(self, *, tenant: str | None = None) -> Iterator[Blob]:
        blobs: Iterator[Blob] = self._maintenance("verification").iter_blobs(tenant=tenant)
        return blobs

    def stats(self, *, tenant: str | None = None) -> StoreStats:
        stats: StoreStats = self._maintenance("stats").stats(tenant=tenant)
        return stats

    def backup(self, destination: str) -> BackupResult:
        result: BackupResult = self._maintenance("backup").backup(destination)
        return result

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
