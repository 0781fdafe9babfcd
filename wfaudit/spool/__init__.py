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

The package's modules, one concern each: :mod:`~wfaudit.spool.files` (the
files, their format and the drain lock), :mod:`~wfaudit.spool.breaker` (the
circuit breaker), :mod:`~wfaudit.spool.drainer` (replaying a spool) and
:mod:`~wfaudit.spool.deferred` (a store that cannot be opened yet);
:mod:`~wfaudit.spool.service` holds one host's spool, breaker and drainer. The
built-in plugin :mod:`wfaudit.builtin.spool` puts them together in
``wfaudit_configure`` and takes them apart in ``wfaudit_unconfigure``.
"""

from __future__ import annotations

from .breaker import CircuitBreaker
from .deferred import DeferredStore
from .drainer import DrainReport, Replay, SpoolDrainer
from .files import (
    SPOOL_FORMAT,
    SPOOL_VERSION,
    CorruptSpoolFile,
    QuarantinedFile,
    Spool,
    SpoolEntry,
    SpoolError,
    SpoolFileTooNew,
    is_spoolable,
    sanitize_url,
    spool_roots,
    store_key,
    worker_spool_root,
)
from .service import SPOOL, SpoolEngine, SpoolService, drain_other_spools, drainer_of

__all__ = [
    "SPOOL",
    "SPOOL_FORMAT",
    "SPOOL_VERSION",
    "CircuitBreaker",
    "CorruptSpoolFile",
    "DeferredStore",
    "DrainReport",
    "QuarantinedFile",
    "Replay",
    "Spool",
    "SpoolDrainer",
    "SpoolEngine",
    "SpoolEntry",
    "SpoolError",
    "SpoolFileTooNew",
    "SpoolService",
    "drain_other_spools",
    "drainer_of",
    "is_spoolable",
    "sanitize_url",
    "spool_roots",
    "store_key",
    "worker_spool_root",
]
