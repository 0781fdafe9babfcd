"""The circuit breaker: after a store failure, audits go to the spool for a while."""

from __future__ import annotations

import threading
import time

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
