"""Building the SQLAlchemy engine for a store URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from . import sqlite
from .urls import StoreTarget

__all__ = ["create_store_engine"]


def create_store_engine(target: StoreTarget) -> Engine:
    """An engine for ``target``; no connection is made yet.

    Every engine hides SQL parameters from its messages and logs: they carry
    configs (masked, but still the users' data) and identities.
    """
    if target.backend == "sqlite":
        sqlite.prepare_file(target)
        options: dict[str, Any] = {"connect_args": sqlite.connect_args(target)}
        if target.memory:
            # One connection for the life of the store: each new connection to
            # ":memory:" would be a new, empty database.
            options["poolclass"] = StaticPool
        engine = create_engine(target.url, hide_parameters=True, **options)
        sqlite.install(engine, target)
        return engine
    connect_args: dict[str, Any] = {}
    if target.connect_timeout is not None:
        connect_args["connect_timeout"] = target.connect_timeout
    return create_engine(
        target.url,
        hide_parameters=True,
        # A pooled connection may have been dropped by the server or a proxy
        # since its last use; check it on checkout instead of failing an audit.
        pool_pre_ping=True,
        connect_args=connect_args,
    )
