"""The durable spool, as persist hooks (see :mod:`wfaudit.spool`).

Two implementations of ``wfaudit_persist``:

* a wrapper around every other implementation: when the store fails (down,
  locked past its timeout, disk full), it writes the snapshot to the spool and
  returns ``SaveResult(spooled=True)`` instead of the error;
* a ``tryfirst`` implementation that, while the circuit breaker is open (the
  store failed moments ago), spools at once instead of making the caller wait
  for the store again.

Both act only inside an audit (the auditor sets :data:`wfaudit.spool.CURRENT`
around its persist call); replays from the spool pass straight through.
"""

from __future__ import annotations

import logging
from collections.abc import Generator

from wfaudit.spool import CURRENT, PersistContext, is_spoolable
from wfaudit_hookspecs import Blob, SaveResult, SnapshotRecord, Store, hookimpl

log = logging.getLogger("wfaudit.spool")


@hookimpl(wrapper=True)
def wfaudit_persist(
    snapshot: SnapshotRecord, payload: Blob, store: Store
) -> Generator[None, SaveResult | None, SaveResult | None]:
    context = CURRENT.get()
    if context is None:
        return (yield)
    try:
        return (yield)
    except Exception as error:
        if not is_spoolable(error):
            raise
        return _spool(context, snapshot, payload, error)


@hookimpl(specname="wfaudit_persist", tryfirst=True)
def spool_while_the_store_is_down(
    snapshot: SnapshotRecord, payload: Blob, store: Store
) -> SaveResult | None:
    context = CURRENT.get()
    if context is None or not context.breaker.is_open():
        return None
    try:
        context.spool.write(snapshot, context.standalone(payload))
    except OSError as error:
        log.error("cannot write the spool (%s); trying the store", error.strerror or error)
        return None  # the store may be back: the implementations after this one try it
    log.debug("snapshot %s spooled (the store failed moments ago)", snapshot.id)
    return SaveResult(ref=snapshot.ref, created=True, spooled=True)


def _spool(
    context: PersistContext, snapshot: SnapshotRecord, payload: Blob, error: Exception
) -> SaveResult:
    context.breaker.trip()
    try:
        path = context.spool.write(snapshot, context.standalone(payload))
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
    context.on_spooled()
    return SaveResult(ref=snapshot.ref, created=True, spooled=True)
