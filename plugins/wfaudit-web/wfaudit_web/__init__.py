"""An HTTP API (reading, and ingest for orchestrators) and web view for wfaudit
(Starlette, served by uvicorn).

Build the app with :func:`create_app`; ``wfaudit serve`` runs it.
"""

from __future__ import annotations

from .access import Access, Tokens
from .app import create_app

__all__ = ["Access", "Tokens", "create_app"]
