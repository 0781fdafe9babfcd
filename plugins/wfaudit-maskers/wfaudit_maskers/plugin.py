"""The ``maskers`` entry point: a :class:`~wfaudit_maskers.Masker` configured from settings.

The engine loads this module as a plugin. Each audit passes the settings; the
masker built for a ``maskers`` table is kept and reused while the table stays
the same, so key names are classified once, not once per audit.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from wfaudit_hookspecs import MaskContext, hookimpl

from .masker import Masker
from .settings import TABLE

__all__ = ["masker_for", "wfaudit_mask"]

_lock = threading.Lock()
_current: tuple[object, Masker] | None = None


def masker_for(settings: Mapping[str, Any]) -> Masker:
    """The masker for these settings (the same instance while the ``maskers`` table is unchanged).

    :raises ConfigurationError: when the ``maskers`` table is invalid.
    """
    global _current
    table = settings.get(TABLE) if isinstance(settings, Mapping) else settings
    key = _freeze(table)
    current = _current
    if current is not None and current[0] == key:
        return current[1]
    with _lock:
        current = _current
        if current is not None and current[0] == key:
            return current[1]
        masker = Masker.from_settings(settings)
        _current = (key, masker)
        return masker


@hookimpl
def wfaudit_mask(context: MaskContext) -> None:
    """Mark the secrets of the request's config (see :meth:`Masker.scan`)."""
    masker_for(context.settings).scan(context)


def _freeze(value: object) -> object:
    # A comparable snapshot of the table, so that a table changed in place
    # between audits is noticed.
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    return (type(value).__name__, repr(value))
