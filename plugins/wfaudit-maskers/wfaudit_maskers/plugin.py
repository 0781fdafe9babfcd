"""The ``maskers`` entry point: a :class:`~wfaudit_maskers.Masker` configured from settings.

The engine loads this module as a plugin. The masker is built once per host,
in ``wfaudit_configure``, from the settings' ``maskers`` table (key names are
classified once, not once per audit; a bad table fails the auditor's start,
not its first audit), kept in the host's stash and dropped in
``wfaudit_unconfigure``. Two auditors of one process, with different tables,
each mask with their own. A call of the mask hook without a host (a test, a
benchmark calling the hook alone) builds a masker from the context's settings
for that call.
"""

from __future__ import annotations

from wfaudit_hookspecs import Host, MaskContext, StashKey, hookimpl

from .masker import Masker

__all__ = ["MASKER", "masker_for", "wfaudit_configure", "wfaudit_mask", "wfaudit_unconfigure"]

MASKER: StashKey[Masker] = StashKey("wfaudit-maskers.masker")
"""Where a host keeps the masker built from its settings."""


@hookimpl
def wfaudit_configure(host: Host) -> None:
    """Build the masker of the host's ``maskers`` table.

    :raises ConfigurationError: when the ``maskers`` table is invalid.
    """
    host.stash[MASKER] = Masker.from_settings(host.settings)


@hookimpl
def wfaudit_unconfigure(host: Host) -> None:
    """Drop the host's masker."""
    host.stash.pop(MASKER, None)


def masker_for(context: MaskContext, host: Host | None) -> Masker:
    """The masker of ``host`` (built in configure); without one, a masker of the
    context's settings, built for this call.

    :raises ConfigurationError: when the ``maskers`` table is invalid.
    """
    if host is not None:
        masker = host.stash.get(MASKER, None)
        if masker is not None:
            return masker
    return Masker.from_settings(context.settings)


@hookimpl
def wfaudit_mask(context: MaskContext, host: Host | None) -> None:
    """Mark the secrets of the request's config (see :meth:`Masker.scan`)."""
    masker_for(context, host).scan(context)
