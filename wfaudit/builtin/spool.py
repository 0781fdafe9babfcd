"""The durable spool, as a plugin with a lifecycle (see :mod:`wfaudit.spool`).

``wfaudit_configure`` builds the host's spool, circuit breaker and background
drainer (a :class:`~wfaudit.spool.SpoolService` in ``host.stash``);
``wfaudit_unconfigure`` stops the drainer. Blocking this plugin leaves nothing
running: the audits of a host without it do not spool.

Two implementations of ``wfaudit_persist``:

* a wrapper around every other implementation: when the store fails (down,
  locked past its timeout, disk full), it writes the snapshot to the spool and
  returns ``SaveResult(spooled=True)`` instead of the error (the auditor lets
  the drainer look for waiting files after each save that reached the store);
* a ``tryfirst`` implementation that, while the circuit breaker is open (the
  store failed moments ago), spools at once instead of making the caller wait
  for the store again.

Both act only when the call may spool (``spool=True``: an audit in the
non-blocking mode); replays from the spool, imports and strict audits pass
straight through.
"""

from __future__ import annotations

import logging
from collections.abc import Generator

from wfaudit.spool import SPOOL, Spool, SpoolEngine, SpoolService, is_spoolable
from wfaudit_hookspecs import Blob, Host, SaveResult, SnapshotRecord, Store, hookimpl

log = logging.getLogger("wfaudit.spool")


@hookimpl
def wfaudit_configure(host: Host) -> None:
    engine: SpoolEngine | None = getattr(host, "engine", None)
    if engine is None:  # a host without an auditor (the command line) has no spool
        return
    root = getattr(host, "spool_root", None) or host.home / "spool"
    host.stash[SPOOL] = SpoolService.build(Spool(root, host.store_url), engine, tenant=host.tenant)


@hookimpl
def wfaudit_unconfigure(host: Host) -> None:
    service = host.stash.pop(SPOOL, None)
    if service is not None:
        service.close()


def _service(host: Host | None, spool: bool) -> SpoolService | None:
    if not spool or host is None:
        return None
    return host.stash.get(SPOOL, None)


@hookimpl(wrapper=True)
def wfaudit_persist(
    snapshot: SnapshotRecord, payload: Blob, store: Store, host: Host | None, spool: bool
) -> Generator[None, SaveResult | None, SaveResult | None]:
    service = _service(host, spool)
    if service is None:
        return (yield)
    try:
        return (yield)
    except Exception as error:
        if not is_spoolable(error):
            raise
        return _spool(service, snapshot, payload, error)


@hookimpl(specname="wfaudit_persist", tryfirst=True)
def spool_while_the_store_is_down(
    snapshot: SnapshotRecord, payload: Blob, store: Store, host: Host | None, spool: bool
) -> SaveResult | None:
    service = _service(host, spool)
    if service is None or not service.breaker.is_open():
        return None
    try:
        service.spool.write(snapshot, service.standalone(payload))
    except OSError as error:
        log.error("cannot write the spool (%s); trying the store", error.strerror or error)
        return None  # the store may be back: the implementations after this one try it
    log.debug("snapshot %s spooled (the store failed moments ago)", snapshot.id)
    return SaveResult(ref=snapshot.ref, created=True, spooled=True)


def _spool(
    service: SpoolService, snapshot: SnapshotRecord, payload: Blob, error: Exception
) -> SaveResult:
    service.breaker.trip()
    try:
        path = service.spool.write(snapshot, service.standalone(payload))
    except OSError as spool_error:
        log.critical(
            "the store failed (%s) and the spool cannot be written (%s): the snapshot of "
            "%s %s is not saved",
            type(error).__name__,
            spool_error.strerror or spool_error,
            snapshot.workflow_type,
            snapshot.workflow_id,
        )
        raise error from None
    # Store errors name the store and what failed, never request data.
    log.warning(
        "store unavailable (%s); snapshot %s of %s %s spooled to %s",
        error,
        snapshot.id,
        snapshot.workflow_type,
        snapshot.workflow_id,
        path.parent,
    )
    service.drainer.after_spooled()
    return SaveResult(ref=snapshot.ref, created=True, spooled=True)
