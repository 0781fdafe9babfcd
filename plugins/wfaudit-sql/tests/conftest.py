"""Fixtures of the wfaudit-sql tests (``store_url`` comes from the root conftest)."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from wfaudit_hookspecs import (
    Blob,
    SnapshotRecord,
    canonical_json,
    content_hash,
)
from wfaudit_sql import SqlStore
from wfaudit_sql.urls import parse_store_url

MakeSnapshot = Callable[..., tuple[SnapshotRecord, Blob]]

_ids = itertools.count(1)


def snapshot(
    *,
    workflow_id: str | None = None,
    workflow_type: str = "CI",
    pipeline_id: str = "pipeline-1",
    tenant: str | None = None,
    config: Any = None,
    snapshot_id: str | None = None,
    **fields: Any,
) -> tuple[SnapshotRecord, Blob]:
    """A record and its (zlib-compressed) blob, as the engine would hand them over."""
    number = next(_ids)
    if config is None:
        config = {"image": "registry/app:1", "steps": ["build", "test"]}
    raw = canonical_json(config)
    digest = content_hash(raw)
    record = SnapshotRecord(
        id=snapshot_id or f"01TEST{number:020d}",
        workflow_id=workflow_id or f"wf-{number}",
        workflow_type=workflow_type,
        pipeline_id=pipeline_id,
        content_hash=digest,
        tenant=tenant,
        config_size=len(raw),
        **fields,
    )
    blob = Blob(content_hash=digest, codec="zlib", raw_size=len(raw), data=zlib.compress(raw))
    return record, blob


@pytest.fixture
def make_snapshot() -> MakeSnapshot:
    return snapshot


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """An open store on a fresh database (schema created on open)."""
    opened = SqlStore(store_url)
    yield opened
    opened.close()


@pytest.fixture
def sql(store_url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine on the test's database, to look behind the store."""
    engine = create_engine(parse_store_url(store_url).url)
    yield engine
    engine.dispose()
