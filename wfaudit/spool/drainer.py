"""Replaying a spool into the store: :class:`SpoolDrainer` and its :class:`DrainReport`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from wfaudit_hookspecs import (
    Blob,
    ConfigurationError,
    InvalidRequest,
    SaveResult,
    SnapshotRecord,
    WfauditError,
)

from .breaker import CircuitBreaker
from .files import CorruptSpoolFile, QuarantinedFile, Spool, SpoolFileTooNew, is_spoolable

log = logging.getLogger("wfaudit.spool")

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
