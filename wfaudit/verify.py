"""``wfaudit verify``: is the store exactly what its audits and outcomes wrote?

The store checks its own rows (:meth:`~wfaudit_hookspecs.StoreMaintenance.check_trail`:
the hash chains of the audit trail, keyed with the chain key, every snapshot row
against the events that recorded it, the tables the events describe, the blob
rows' sizes); the engine then reads every blob, decompresses it with
:mod:`wfaudit.codec` and checks it against its content hash, which no store can
do without the codec. Scoped to the auditor's tenant when it has one.

A blob that would decompress past the cap (a decompression bomb: a frame that
declares, or streams, more than :data:`wfaudit.codec.MAX_BLOB_BYTES`) is refused
before anything is allocated and reported as a modified blob; verification goes
on with the next one. A delta whose base is missing, or whose chain of bases
(written by a wfaudit before bases had to be whole blobs) is longer than
:data:`wfaudit.codec.MAX_DELTA_DEPTH` or loops, is reported as unreadable; a
shorter chain reads back and is no finding.

**Anchors.** What the chain alone cannot show (its tail cut off together with
the head row, a chain rewritten or forged by someone holding the key, a whole
tenant's chain added) shows against heads recorded earlier and kept outside the
database: :func:`make_anchor` writes them (``wfaudit anchor``), with the set of
tenants, and ``verify(..., anchor=...)`` checks that every anchored chain still
passes through its head and that every chain outside the anchor's tenant set is
keyed from its first event (a chain forged without the key is not).
"""

from __future__ import annotations

import hmac
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import (
    Blob,
    BlobUnreadable,
    ChainHead,
    DecompressionBomb,
    Finding,
    InvalidRequest,
    Problem,
    StoreError,
    StoreMaintenance,
    canonical_json,
    content_hash,
    utcnow,
)

from . import codec
from .auditor import Auditor
from .words import plural

__all__ = [
    "ANCHOR_FORMAT",
    "Anchor",
    "AnchorError",
    "VerifyReport",
    "check_blob",
    "load_anchor",
    "make_anchor",
    "verify",
]

ANCHOR_FORMAT = "wfaudit-anchor/1"


class AnchorError(InvalidRequest):
    """An anchor file that cannot be used: unreadable, malformed, changed, or
    written with another chain key or for another scope."""


@attrs.frozen(kw_only=True)
class Anchor:
    """Chain heads recorded at one moment, to check the store against later.

    :ivar tenants: every chain of the store (or of ``tenant``) at that moment.
    :ivar key_id: the chain key the anchor's MAC (and the chains) were made with.
    """

    store: str
    tenant: str | None
    written_on: str
    key_id: str
    tenants: tuple[str, ...]
    heads: tuple[ChainHead, ...]

    def body(self) -> dict[str, Any]:
        return {
            "format": ANCHOR_FORMAT,
            "store": self.store,
            "tenant": self.tenant,
            "written_on": self.written_on,
            "key_id": self.key_id,
            "tenants": list(self.tenants),
            "heads": [
                {
                    "tenant": head.tenant or "",
                    "seq": head.seq,
                    "hash": head.hash,
                    "keyed_from": head.keyed_from,
                }
                for head in self.heads
            ],
        }

    def to_json(self, auditor: Auditor) -> dict[str, Any]:
        """The anchor file's content, with its MAC under the chain key."""
        body = self.body()
        return {**body, "mac": auditor.chain_mac(canonical_json(body))}


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
    anchored: bool = False
    """The trail was checked against an anchor."""


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
    anchor: Anchor | None = None,
) -> VerifyReport:
    """Verify the auditor's store (its tenant's part, for a scoped auditor).

    :param on_blob: called with the number of blobs checked so far (progress).
    :param anchor: heads recorded earlier (:func:`load_anchor`): every anchored
        chain must pass through its head, and a chain outside the anchor's
        tenant set must be keyed from its first event.
    :raises StoreError: the store does not support verification (or anchors).
    """
    store = auditor.store
    if not isinstance(store, StoreMaintenance):
        raise StoreError(f"the store at {store.url} does not support verification")
    tenant = auditor.settings.tenant
    if anchor is None:
        trail = store.check_trail(tenant=tenant, max_findings=max_findings)
    else:
        heads = [h for h in anchor.heads if tenant is None or (h.tenant or "") == tenant]
        parameters = inspect.signature(store.check_trail).parameters
        if "anchors" not in parameters and not any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        ):
            raise StoreError(f"the store at {store.url} cannot be checked against anchors")
        trail = store.check_trail(  # type: ignore[call-arg]
            tenant=tenant, max_findings=max_findings, anchors=heads
        )
    findings = list(trail.findings)
    total = trail.findings_total
    if anchor is not None:
        for finding in _outside_the_anchor(anchor, trail.heads, tenant):
            total += 1
            if len(findings) < max_findings:
                findings.append(finding)
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
        anchored=anchor is not None,
    )


def _outside_the_anchor(
    anchor: Anchor, heads: tuple[ChainHead, ...], tenant: str | None
) -> list[Finding]:
    """Chains that are not in the anchor's tenant set must be keyed from their
    first event: a tenant created since the anchor is; one forged behind the
    store's back by someone without the key is not."""
    if anchor.tenant is not None and (tenant or "") != anchor.tenant:
        return []  # the anchor covers one other tenant: its set says nothing here
    known = set(anchor.tenants)
    found: list[Finding] = []
    for head in heads:
        name = head.tenant or ""
        if name in known or (tenant is not None and name != tenant):
            continue
        if head.keyed_from == 1:
            continue
        found.append(
            Finding(
                problem=Problem.INSERTED,
                table="events",
                key=f"{name or '-'}#1..{head.seq}",
                detail="the chain is not in the anchor's tenant set and is not keyed from its "
                "first event: a chain forged behind the store's back",
                tenant=name or None,
            )
        )
    return found


def make_anchor(auditor: Auditor, report: VerifyReport) -> Anchor:
    """An anchor of the heads a clean ``report`` found (every chain of the scope).

    :raises StoreError: the report found problems: anchoring them would certify them.
    """
    if not report.ok:
        raise StoreError(
            f"the store does not verify ({plural(report.findings_total, 'finding')}): "
            "see `wfaudit verify`; an anchor would record a tampered trail as good"
        )
    return Anchor(
        store=auditor.store.url,
        tenant=report.tenant,
        written_on=utcnow().isoformat(timespec="seconds"),
        key_id=auditor.chain_key_id,
        tenants=tuple(sorted(head.tenant or "" for head in report.heads)),
        heads=report.heads,
    )


def load_anchor(text: str, auditor: Auditor, *, source: str = "the anchor file") -> Anchor:
    """Read an anchor file written by :meth:`Anchor.to_json` and check its MAC.

    :raises AnchorError: it is not an anchor, was changed, or was written with
        another chain key (then the installation's key is not the one it had).
    """
    try:
        data = json.loads(text)
    except ValueError:
        raise AnchorError(f"{source} is not JSON: is it a `wfaudit anchor` file?") from None
    if not isinstance(data, dict) or data.get("format") != ANCHOR_FORMAT:
        raise AnchorError(f"{source} is not a {ANCHOR_FORMAT} file (see `wfaudit anchor`)")
    try:
        anchor = _anchor_from(data)
    except (KeyError, TypeError, ValueError):
        raise AnchorError(f"{source} is malformed: write a new one with `wfaudit anchor`") from None
    # Written with the current chain key, or with one retired by a rotation since.
    expected = auditor.chain_mac(canonical_json(anchor.body()), anchor.key_id)
    if expected is None:
        raise AnchorError(
            f"{source} was written with chain key {anchor.key_id}, this installation's is "
            f"{auditor.chain_key_id}: verify with the installation's fingerprint key"
        )
    mac = data.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, expected):
        raise AnchorError(f"{source} was changed after it was written (its MAC does not match)")
    tenant = auditor.settings.tenant
    if anchor.tenant is not None and tenant is None:
        raise AnchorError(
            f"{source} anchors tenant {anchor.tenant!r} only; verify with --tenant "
            f"{anchor.tenant} (or anchor the whole store)"
        )
    return anchor


def _anchor_from(data: Mapping[str, Any]) -> Anchor:
    heads = []
    for item in data["heads"]:
        seq, digest, keyed = item["seq"], item["hash"], item.get("keyed_from")
        if not isinstance(seq, int) or seq < 0 or not isinstance(digest, str):
            raise ValueError("a head is a position and a hash")
        if keyed is not None and not isinstance(keyed, int):
            raise ValueError("keyed_from is a position")
        heads.append(
            ChainHead(tenant=str(item["tenant"]) or None, seq=seq, hash=digest, keyed_from=keyed)
        )
    tenants = data["tenants"]
    if not isinstance(tenants, list) or not all(isinstance(t, str) for t in tenants):
        raise ValueError("tenants is a list of names")
    tenant = data.get("tenant")
    return Anchor(
        store=str(data["store"]),
        tenant=None if tenant is None else str(tenant),
        written_on=str(data["written_on"]),
        key_id=str(data["key_id"]),
        tenants=tuple(tenants),
        heads=tuple(heads),
    )
