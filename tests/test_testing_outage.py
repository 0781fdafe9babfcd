"""wfaudit.testing.StoreOutage: the store goes away and comes back, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wfaudit import Auditor
from wfaudit.testing import StoreOutage, TcpProxy


def request(n: int) -> dict[str, object]:
    return {
        "workflow_id": f"run-{n}",
        "workflow_type": "CI",
        "pipeline_id": "outage",
        "config": {"image": f"app:{n}"},
    }


def test_an_outage_spools_and_its_end_lets_the_store_back(
    store_url: str,
    tcp_proxy: Callable[[str], TcpProxy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers")
    outage = StoreOutage(store_url, tcp_proxy, client_options="retry_deadline=0.5")
    assert outage.url != store_url
    assert repr(outage).endswith(" up>")
    with Auditor.from_url(outage.url, spool_root=tmp_path / "spool") as auditor:
        first = auditor.audit_trigger(**request(1))
        assert first.ok, first
        assert first.spooled is False
        with outage:
            assert outage.down
            assert repr(outage).endswith(" down>")
            outage.begin()  # idempotent
            assert auditor.audit_trigger(**request(2)).spooled is True
        assert not outage.down
        outage.end()  # idempotent
    # The store is back: another client writes to it directly, and it holds run-1.
    with Auditor.from_url(outage.url, spool_root=tmp_path / "other-spool") as auditor:
        assert auditor.audit_trigger(**request(3)).spooled is False
        assert auditor.get_snapshot("run-1", "CI") is not None
    outage.close()


def test_an_outage_takes_only_sqlite_files_and_postgresql() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        StoreOutage("sqlite://")
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        StoreOutage("memory://x")
