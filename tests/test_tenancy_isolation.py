"""Tenant A cannot read (or change) tenant B's snapshots through any API or command.

Two tenants, ``acme`` and ``globex``, audit runs with the *same* workflow ids and
pipeline into one store, each with its own content and secrets. An auditor (or
a command) scoped to ``acme`` then goes through every way of reading and
writing; none returns, counts, changes or replays anything of ``globex``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, health
from wfaudit.cli import cli
from wfaudit.testing.kit_store import make_record
from wfaudit.verify import verify
from wfaudit_hookspecs import (
    EventKind,
    InvalidRequest,
    SnapshotNotFound,
    Status,
)

TENANTS = ("acme", "globex")


class World:
    """The store with both tenants' runs, and the ids of each tenant's snapshots."""

    def __init__(self, make_auditor: Callable[..., Auditor]) -> None:
        self.auditors = {t: make_auditor(KeyNameMasker(), tenant=t) for t in TENANTS}
        self.everyone = make_auditor(KeyNameMasker())
        self.ids: dict[str, set[str]] = {t: set() for t in TENANTS}
        for tenant, auditor in self.auditors.items():
            for n in (1, 2, 3):
                result = auditor.audit_trigger(
                    workflow_id=n,
                    workflow_type="CI",
                    pipeline_id="7",
                    triggered_by=f"{tenant}-bot",
                    config={"owner": f"{tenant}-config", "n": n, "password": f"{tenant}-pw"},
                )
                assert result.ok and result.ref is not None and result.ref.tenant == tenant
                self.ids[tenant].add(result.ref.id)
            auditor.record_outcome(2, "CI", "failed", reason="exit 1")
            auditor.store.append_event(
                subject=sorted(self.ids[tenant])[0], kind=EventKind.TAGGED, tenant=tenant
            )

    def foreign(self, text: str, tenant: str = "acme", given: str = "") -> list[str]:
        """What of the *other* tenant appears in ``text`` (but for an id the user
        typed in, which an error message may repeat)."""
        other = "globex" if tenant == "acme" else "acme"
        shown = [s for s in (*self.ids[other], f"{other}-config", f"{other}-bot") if s in text]
        return [s for s in shown if s != given]


@pytest.fixture
def world(make_auditor: Callable[..., Auditor]) -> World:
    return World(make_auditor)


def test_the_python_api(world: World) -> None:
    acme, globex_ids = world.auditors["acme"], world.ids["globex"]
    globex_id = sorted(globex_ids)[0]

    snapshot = acme.get_snapshot(1, "CI")
    assert snapshot.tenant == "acme" and snapshot.config["owner"] == "acme-config"
    with pytest.raises(SnapshotNotFound):
        acme.get_snapshot_by_id(globex_id)
    with pytest.raises(InvalidRequest, match="scoped to tenant 'acme'"):
        acme.get_snapshot(1, "CI", tenant="globex")
    # A record of globex obtained elsewhere cannot be loaded through acme's auditor.
    globex_record = world.auditors["globex"].get_snapshot(1, "CI")
    with pytest.raises(SnapshotNotFound):
        acme.load(globex_record)

    assert {r.id for r in acme.history(limit=100)} == world.ids["acme"]
    assert {r.id for r in acme.history(pipeline_id=7, limit=100)} == world.ids["acme"]
    assert {r.id for r in acme.history(status=Status.FAILED)} <= world.ids["acme"]
    with pytest.raises(InvalidRequest):
        acme.history(tenant="globex")

    with pytest.raises(SnapshotNotFound):
        acme.diff(sorted(world.ids["acme"])[0], globex_id)
    request = acme.retrigger_request(1, "CI") if not snapshot.manifest.fields else None
    assert request is None or request.tenant == "acme"

    outcome = acme.record_outcome(3, "CI", "succeeded")
    assert outcome.record.tenant == "acme"
    assert world.auditors["globex"].get_snapshot(3, "CI").status is Status.TRIGGERED
    with pytest.raises(InvalidRequest):
        acme.record_outcome(3, "CI", "failed", tenant="globex")

    refused = acme.audit_trigger(
        workflow_id=9, workflow_type="CI", pipeline_id="7", tenant="globex", config={}
    )
    assert not refused.ok and refused.error_type == "InvalidRequest"


def test_the_store_queries_take_the_tenant(world: World) -> None:
    store = world.everyone.store
    latest = store.find_latest_failed(pipeline_id="7", tenant="acme")
    assert latest is not None and latest.id in world.ids["acme"]
    assert all(e.tenant == "acme" for e in store.list_events(tenant="acme", limit=100))
    for globex_id in world.ids["globex"]:
        assert store.list_events(subject=globex_id, tenant="acme") == []
        assert store.get_record_by_id(globex_id, tenant="acme") is None


def test_operations_are_scoped(world: World) -> None:
    acme = world.auditors["acme"]
    report = verify(acme)
    assert report.ok and report.tenant == "acme"
    assert (report.snapshots, report.chains) == (3, 1)
    assert [h.tenant for h in report.heads] == ["acme"]
    stats = acme.store.stats(tenant="acme")  # type: ignore[attr-defined]
    assert (stats.snapshots, stats.tenants) == (3, 1)
    # The spool: acme's drain replays acme's files only; health counts acme's only.
    acme.spool.write(*make_record(50, tenant="acme"))
    acme.spool.write(*make_record(50, tenant="globex"))
    assert health.check(acme).spool_depth == 1
    assert acme.drain_spool().replayed == 1
    assert acme.spool.depth() == 1
    assert (
        world.everyone.store.get_record(workflow_id="50", workflow_type="CI", tenant="globex")
        is None
    )


def invoke(store_url: str, tenant: str, *args: str, code: int = 0) -> str:
    # The commands load the store and the real maskers from their entry points.
    env = {"WFAUDIT_LOAD_PLUGINS": "sql,maskers"}
    result = CliRunner().invoke(cli, ["--store", store_url, "--tenant", tenant, *args], env=env)
    assert result.exit_code == code, (args, result.output)
    return result.output


def test_every_command(world: World, store_url: str, tmp_path: Path) -> None:
    globex_id = sorted(world.ids["globex"])[0]
    acme_id = sorted(world.ids["acme"])[0]
    outputs: dict[str, str] = {}

    outputs["log"] = invoke(store_url, "acme", "log", "--json", "--limit", "100")
    assert {r["id"] for r in json.loads(outputs["log"])} == world.ids["acme"]
    outputs["log-text"] = invoke(store_url, "acme", "log", "--pipeline", "7")
    outputs["show"] = invoke(store_url, "acme", "show", "1", "--type", "CI", "--json")
    assert json.loads(outputs["show"])["tenant"] == "acme"
    outputs["show-id"] = invoke(store_url, "acme", "show", "--id", globex_id, code=1)
    assert "no snapshot" in outputs["show-id"]
    outputs["diff"] = invoke(store_url, "acme", "diff", acme_id, globex_id, code=1)
    outputs["diff-ok"] = invoke(store_url, "acme", "diff", "1:CI", "2:CI", "--json")
    outputs["status"] = invoke(store_url, "acme", "status", "1", "running", "--type", "CI")
    assert world.auditors["globex"].get_snapshot(1, "CI").status is Status.TRIGGERED
    payload = tmp_path / "p.json"
    payload.write_text('{"owner": "acme-config", "n": 9}')
    outputs["trigger"] = invoke(
        store_url,
        "acme",
        "trigger",
        str(payload),
        "--type",
        "CI",
        "--workflow-id",
        "9",
        "--pipeline-id",
        "7",
        "--json",
    )
    assert world.everyone.get_snapshot(9, "CI").tenant == "acme"
    outputs["verify"] = invoke(store_url, "acme", "verify", "--json")
    assert json.loads(outputs["verify"])["snapshots"] == 4
    outputs["stats"] = invoke(store_url, "acme", "stats", "--json")
    assert json.loads(outputs["stats"])["snapshots"] == 4
    outputs["drain"] = invoke(store_url, "acme", "drain", "--json")
    outputs["health"] = invoke(store_url, "acme", "health", "--json")
    outputs["backup"] = invoke(store_url, "acme", "backup", str(tmp_path / "b.db"), code=1)
    assert "without --tenant" in outputs["backup"]
    outputs["demo"] = invoke(store_url, "acme", "demo")

    for command, output in outputs.items():
        assert world.foreign(output, given=globex_id) == [], command


def test_same_checks_for_the_other_tenant(world: World, store_url: str) -> None:
    """The scoping is symmetric (not an accident of which tenant came first)."""
    output = invoke(store_url, "globex", "log", "--json", "--limit", "100")
    assert {r["id"] for r in json.loads(output)} == world.ids["globex"]
    assert world.foreign(output, tenant="globex") == []
    show = invoke(store_url, "globex", "show", "--id", sorted(world.ids["acme"])[0], code=1)
    assert world.foreign(show, tenant="globex", given=sorted(world.ids["acme"])[0]) == []
