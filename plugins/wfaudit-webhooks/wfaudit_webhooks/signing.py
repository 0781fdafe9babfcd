"""The signature of a delivery, and how a receiver checks it.

The sender computes HMAC-SHA256, keyed with the shared secret, over the bytes
``b"{timestamp}." + body`` and sends ``X-Signature: sha256=<hex>`` with the
timestamp (Unix seconds) in ``X-Signature-Timestamp``. A receiver recomputes
it over the raw body it received, compares in constant time, and refuses
timestamps too far from its clock (a replayed capture).
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Signature`` header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver does: True when ``signature`` is ours for this body and
    ``timestamp`` is within ``tolerance`` seconds of ``now``."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)
