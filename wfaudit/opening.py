"""Opening an auditor's store (:meth:`wfaudit.Auditor.from_url`).

The store plugins are asked for the URL (``wfaudit_open_store``). A store that
cannot be opened now (down, or its schema not yet upgraded) does not fail the
caller: a :class:`~wfaudit.spool.DeferredStore` stands in for it, and audits go
to the spool until it can be opened. A URL no plugin owns is a
:class:`~wfaudit_hookspecs.BadStoreURL` that says what was probably meant,
never echoing a URL that could hold a password.
"""

from __future__ import annotations

import logging
import os

from wfaudit_hookspecs import BadStoreURL, SchemaMismatch, Store, StoreError, StoreUnavailable

from .host import Hooks
from .plugins import PluginManager
from .settings import Settings
from .spool import DeferredStore

__all__ = ["open_store"]

log = logging.getLogger("wfaudit")


def open_store(pm: PluginManager, settings: Settings, *, create: bool) -> Store:
    """The store at ``settings.store_url``, or a stand-in that spools until it opens.

    :raises StoreUnavailable: in strict mode, when the store cannot be opened now.
    :raises SchemaMismatch: likewise, when its schema is not this wfaudit's.
    :raises BadStoreURL: no store plugin owns the URL.
    """
    try:
        store = Hooks(pm).open_store(settings.store_url, create=create)
    except (StoreUnavailable, SchemaMismatch) as error:
        if settings.strict:  # strict callers get the error, as from an audit
            raise
        store = _deferred_store(pm, settings, error, create=create)
    if store is None:
        raise BadStoreURL(_unowned_url_message(settings.store_url, pm))
    return store


def _unowned_url_message(url: str, pm: PluginManager) -> str:
    """Why no backend took ``url``; a plain path gets the sqlite:/// URL it may mean."""
    if "://" not in url:
        if "@" in url or ":" in url:
            # Could be a mistyped server URL with a password in it: never echo it.
            return "the store URL is not a URL (no scheme://): expected sqlite:///PATH or postgresql://..."
        path = os.path.abspath(os.path.expanduser(url.strip()))
        return f"the store URL {url!r} is a path, not a URL; did you mean sqlite:///{path}"
    scheme = url.split(":", 1)[0]
    backends = ", ".join(Hooks(pm).store_plugins())
    return (
        f"no store plugin owns URLs of scheme {scheme!r}; installed backends: "
        f"{backends or 'none'} (is wfaudit-sql installed?)"
    )


def _deferred_store(
    pm: PluginManager, settings: Settings, error: StoreError, *, create: bool
) -> DeferredStore:
    """A stand-in for a store that cannot be opened now (see DeferredStore):
    audits go to the spool until it can, instead of failing the caller."""
    log.warning("the store cannot be opened now (%s); audits are spooled until it can", error)

    def opener() -> Store | None:
        return Hooks(pm).open_store(settings.store_url, create=create)

    return DeferredStore(settings.store_url, opener, error)
