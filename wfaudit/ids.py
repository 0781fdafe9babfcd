"""Snapshot ids: ULIDs, 26 characters, sortable by creation time."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32


def new_id() -> str:
    """A new ULID: 48 bits of milliseconds since the epoch, then 80 random bits.

    Ids are made by the engine, not the store, so that a snapshot keeps its id
    when it is replayed from a spool or restored from an archive.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
