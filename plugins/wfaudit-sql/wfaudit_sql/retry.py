"""Retrying transactions that failed because the store was momentarily busy."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

__all__ = ["backoff"]


def backoff(deadline: float, *, first: float = 0.005, ceiling: float = 0.5) -> Iterator[float]:
    """Yield sleep times (exponential, with full jitter) until ``deadline`` seconds pass.

    The caller sleeps for each value yielded before its next attempt and gives up
    when the iterator is exhausted. Jitter spreads out writers that collided, so
    they do not all come back at the same instant and collide again.
    """
    end = time.monotonic() + deadline
    step = first
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            return
        yield min(remaining, random.uniform(step / 2, step))
        step = min(step * 2, ceiling)
