"""Restore masked secrets from the system keyring and environment variables.

When a snapshot is replayed (``Auditor.retrigger_request``), the engine asks the
restorers for every masked field. This plugin answers from

* the mappings of ``[tool.wfaudit.restore.keyring]`` and ``[tool.wfaudit.restore.env]``
  (a pointer, a ``pointer#start:end`` or a pattern, to ``service/username`` or a
  variable name),
* the restore reference the masker recorded (``RestoreRef(kind="env" | "keyring")``),
* a default keyring service, when ``keyring_service`` is set;

and leaves unanswered what it cannot find, so that the retrigger fails with
``SecretsUnavailable`` naming the paths instead of running with placeholders.
"""

from __future__ import annotations

from .restorer import Restorer, restore
from .settings import RestoreSettings, Source

__version__ = "0.1.0"

__all__ = ["RestoreSettings", "Restorer", "Source", "__version__", "restore"]
