"""``wfaudit verify``: is the store exactly what its audits and outcomes wrote?

The store checks its own rows (:meth:`~wfaudit_hookspecs.StoreMaintenance.check_trail`:
the hash chains of the audit trail, every snapshot row against the events that
recorded it, the blob rows' sizes); the engine then reads every blob,
decompresses it with :mod:`wfaudit.codec` and checks it against its content hash,
which no store can do without the codec. Scoped to the auditor's tenant when it
has one.

A blob that would decompress past the cap (a decompression bomb: a frame that
declares, or streams, more than :data:`wfaudit.codec.MAX_BLOB_BYTES`) is refused
before anything is allocated and reported as a modified blob; verification goes
on with the next one. A delta whose base is missing, or whose chain of bases
(written by a wfaudit before bases had to be whole blobs) is longer than
:data:`wfaudit.codec.MAX_DELTA_DEPTH` or loops, is reported as unreadable; a
shorter chain reads back and is no finding.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from wfaudit_hookspecs import (
    Blob,
    BlobUnreadable,
    ChainHead,
    DecompressionBomb,
    Finding,
    Problem,
    StoreError,
    StoreMaintenance,
    content_hash,
)

from . import codec
from .auditor import Auditor

__all__ = ["VerifyReport", "check_blob", "verify"]


@attrs.frozen(kw_only=True)
class VerifyReport:
    """What ``wfaudit verify`` found.

    :ivar ok: nothing was changed behind the store's back.
    :ivar findings: the first findings (``findings_total`` counts them all).
    :ivar heads: each chain's last position and hash: record them elsewhere to
        prove later that the trail up to here was not rewritten.
    """

    ok: bool
    findings: tuple[Finding, ...]
    findings_total: int
    tenant: str | None
    chains: int
    events: int
    snapshots: int
    blobs: int
    heads: tuple[ChainHead, ...]


def check_blob(
    blob: Blob, get_blob: Callable[[str], Blob | None] | None = None
) -> tuple[str, str] | None:
    """``(problem, detail)`` when a blob's bytes are not what its hash says, else None.

    :param get_blob: reads another blob (the base of a delta-compressed blob).
    """
    decode = getattr(codec, "decode_blob", None)  # codecs with a base blob, when present
    try:
        if decode is not None and get_blob is not None:
            raw = decode(blob, get_blob)
        else:
            raw = codec.decompress(blob.codec, blob.data)
    except DecompressionBomb as bomb:
        return Problem.MODIFIED, f"{bomb}: its bytes were changed"
    except BlobUnreadable as unreadable:
        return Problem.UNREADABLE, str(unreadable)
    except StoreError as error:
        if "not known" in str(error):
            return Problem.UNREADABLE, f"codec {blob.codec!r} is unknown to this wfaudit"
        return Problem.MODIFIED, "its bytes do not decompress: they were changed"
    if content_hash(raw) != blob.content_hash:
        return Problem.MODIFIED, "its bytes do not hash to its content hash: they were changed"
    if len(raw) != blob.raw_size:
        return Problem.MODIFIED, "raw_size does not match the decompressed length"
    return None


def verify(
    auditor: Auditor,
    *,
    max_findings: int = 1000,
    on_blob: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the auditor's store (its tenant's part, for a scoped auditor).

    :param on_blob: called with the number of blobs checked so far (progress).
    :raises StoreError: the store does not support verification.
    """
    store = auditor.store
    if not isinstance(store, StoreMaintenance):
        raise StoreError(f"the store at {store.url} does not support verification")
    tenant = auditor.settings.tenant
    trail = store.check_trail(tenant=tenant, max_findings=max_findings)
    findings = list(trail.findings)
    total = trail.findings_total
    blobs = 0
    for blob in store.iter_blobs(tenant=tenant):
        blobs += 1
        if on_blob is not None:
            on_blob(blobs)
        problem = check_blob(blob, store.get_blob)
        if problem is None:
            continue
        total += 1
        if len(findings) < max_findings:
            findings.append(
                Finding(
                    problem=problem[0],
                    table="blobs",
                    key=blob.content_hash,
                    detail=problem[1],
                    tenant=tenant,
                )
            )
    return VerifyReport(
        ok=total == 0,
        findings=tuple(findings),
        findings_total=total,
        tenant=tenant,
        chains=trail.chains,
        events=trail.events,
        snapshots=trail.snapshots,
        blobs=blobs,
        heads=trail.heads,
    )
