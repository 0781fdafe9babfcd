"""The installation's keys as one auditor uses them against its store.

:mod:`wfaudit.keys` loads the keys; this module holds what binds them to a
store: the fingerprint key's id claimed in the store (a process whose key has
another id refuses to write, :class:`~wfaudit.keys.KeyMismatch`), the chain key
handed to a keyed trail, and the MACs anchor files carry under the chain key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading

from wfaudit_hookspecs import KeyedTrail, SchemaMismatch, Store, StoreMeta, StoreUnavailable

from .keys import KEY_ID_META, FingerprintKeys, KeyMismatch, key_id
from .spool import DeferredStore

__all__ = ["StoreKeys"]

log = logging.getLogger("wfaudit")


class StoreKeys:
    """The keys of one auditor, bound to its store.

    :param store: the auditor's store (a :class:`~wfaudit.spool.DeferredStore`
        stands in for one that could not be opened yet).
    :param keys: the installation's fingerprint keys.
    """

    def __init__(self, store: Store, keys: FingerprintKeys) -> None:
        self.store = store
        self.keys = keys
        # The audit chain's key, derived from the installation key (never stored).
        self._chain_key = keys.chain
        self.chain_key_id = key_id(self._chain_key)
        """The id of the chain key, as the store records it on keyed events."""
        self._checked = threading.Event()
        self._lock = threading.Lock()
        if isinstance(store, KeyedTrail):
            store.use_chain_key(
                self._chain_key, key_id=self.chain_key_id, retired=keys.retired_chain_keys()
            )

    def check_key(self) -> None:
        """Refuse to write with a fingerprint key the store does not use.

        The first call records this process's key id in a store that has none
        yet; a store that records the id of one of this installation's retired
        keys is moved on to the current key (the installation rotated it). Any
        other recorded id raises :class:`~wfaudit.keys.KeyMismatch`. Checked once
        per auditor (the writes that fingerprint call it; later calls cost
        nothing).
        """
        self.check(transient_ok=False)

    def check(self, *, transient_ok: bool = False) -> None:
        """Refuse to write with a fingerprint key the store does not use.

        The first call records this process's key id in a store that has none
        yet; a store that records the id of one of this installation's retired
        keys is moved on to the current key. Any other recorded id raises
        :class:`~wfaudit.keys.KeyMismatch`. Checked once (later calls cost
        nothing). With ``transient_ok`` a store out of reach now does not fail
        the check (the audit goes to the spool; its drain checks again).
        """
        if self._checked.is_set():
            return
        with self._lock:
            if self._checked.is_set():
                return
            try:
                store = self.store.opened() if isinstance(self.store, DeferredStore) else self.store
                if isinstance(store, StoreMeta):
                    self._claim(store)
            except (StoreUnavailable, SchemaMismatch):
                if not transient_ok:
                    raise
                return
            self._checked.set()

    def _claim(self, store: StoreMeta) -> None:
        mine = self.keys.id
        recorded = store.claim_meta(KEY_ID_META, mine)
        if recorded != mine and recorded in self.keys.retired_ids:
            recorded = store.claim_meta(KEY_ID_META, mine, replace=recorded)
            if recorded == mine:
                log.warning("the store now records the rotated fingerprint key %s", mine)
        if recorded != mine:
            raise KeyMismatch(self.store.url, mine, recorded)

    def chain_mac(self, data: bytes, key_id: str | None = None) -> str | None:
        """HMAC-SHA256 (hex) of ``data`` under the chain key (anchor files carry one),
        or under the retired chain key ``key_id`` names (None: no such key here)."""
        key = self._chain_key
        if key_id is not None and key_id != self.chain_key_id:
            retired = self.keys.retired_chain_keys().get(key_id)
            if retired is None:
                return None
            key = retired
        return hmac.new(key, data, hashlib.sha256).hexdigest()
