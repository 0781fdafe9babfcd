"""An HTTP API (reading, and ingest for orchestrators) and web view for wfaudit
(Starlette, served by uvicorn).

Build the app with :func:`create_app`; ``wfaudit serve`` runs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .access import Access, Tokens
    from .app import create_app

__all__ = ["Access", "Tokens", "create_app"]

_LAZY = {"Access": "access", "Tokens": "access", "create_app": "app"}
"""Imported on first use: loading the ``web`` entry point (every ``wfaudit`` start)
must not import Starlette."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
