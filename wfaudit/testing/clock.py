"""A controllable clock for tests: every timestamp wfaudit writes comes from it."""

from __future__ import annotations

import datetime as dt

from wfaudit_hookspecs import set_clock

__all__ = ["Clock"]


class Clock:
    """A clock that only moves when told to.

    >>> clock = Clock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> clock.advance(days=30)
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
        if self.now.tzinfo is None:
            raise ValueError("the clock's time must be timezone-aware")
        self.tick = dt.timedelta(microseconds=1)

    def __call__(self) -> dt.datetime:
        # Each reading moves on by a microsecond, so that records made "at the
        # same time" still have a stable order, as they would with a real clock.
        current = self.now
        self.now += self.tick
        return current

    def set(self, when: dt.datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("the clock's time must be timezone-aware")
        self.now = when

    def advance(self, delta: dt.timedelta | None = None, **units: float) -> dt.datetime:
        """Move the clock forward (``advance(days=30)``); returns the new time."""
        self.now += (delta or dt.timedelta()) + dt.timedelta(**units)
        return self.now

    def install(self) -> None:
        set_clock(self)

    def uninstall(self) -> None:
        set_clock(None)
