"""Signed webhook notifications for wfaudit, delivered off the audit path.

See :mod:`wfaudit_webhooks.config` for the settings and
:mod:`wfaudit_webhooks.signing` for the signature a receiver checks.
"""

from __future__ import annotations

from .config import WebhookConfig
from .deadletters import DeadLetter, DeadLetters
from .dispatcher import Dispatcher, close_all, dispatcher_for
from .replay import ReplayResult, replay
from .signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeadLetter",
    "DeadLetters",
    "Dispatcher",
    "ReplayResult",
    "WebhookConfig",
    "close_all",
    "dispatcher_for",
    "replay",
    "sign",
    "verify",
]
