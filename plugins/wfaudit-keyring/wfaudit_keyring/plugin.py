"""The ``keyring`` entry point: restore secrets as ``[tool.wfaudit.restore]`` says.

The settings are read at each retrigger (retriggers are rare, and a changed
mapping must take effect at once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wfaudit_hookspecs import SecretRequest, Snapshot, hookimpl

from .restorer import describe, restore
from .settings import RestoreSettings

__all__ = ["wfaudit_restore_secrets", "wfaudit_restore_sources"]


@hookimpl
def wfaudit_restore_secrets(
    snapshot: Snapshot, requests: Sequence[SecretRequest], settings: Mapping[str, Any]
) -> dict[str, str] | None:
    """The secrets found in the keyring and the environment, by each request's key.

    :raises ConfigurationError: when the ``restore`` table is invalid.
    """
    return restore(snapshot, requests, RestoreSettings.from_settings(settings)) or None


@hookimpl
def wfaudit_restore_sources(
    snapshot: Snapshot, requests: Sequence[SecretRequest], settings: Mapping[str, Any]
) -> dict[str, str] | None:
    """Where each secret is found (or the sources tried), never a value."""
    return describe(snapshot, requests, RestoreSettings.from_settings(settings)) or None
