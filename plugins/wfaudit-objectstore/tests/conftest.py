"""Fixtures of the wfaudit-objectstore tests: a real SeaweedFS S3 server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wfaudit_objectstore.testing import S3Endpoint, SeaweedServer


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """One SeaweedFS server (``weed server -s3``) for the session: its endpoint,
    bucket and credentials. Tests use their own key prefixes."""
    with SeaweedServer(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint
