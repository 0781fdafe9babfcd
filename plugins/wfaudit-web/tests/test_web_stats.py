"""``/api/v1/stats`` renders the same JSON as ``wfaudit stats --json`` (one shared
renderer, ``wfaudit.stats``), counts by workflow type included, for each tenant."""

from __future__ import annotations

import json

import httpx

from wfaudit.testing import invoke_cli

from .conftest import TOKEN_A, TOKEN_OPS, Seeded, Server


def test_stats_api_is_the_cli_json(seeded: Seeded, app_server: Server) -> None:
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        for token, tenant in ((TOKEN_A, "team-a"), (TOKEN_OPS, None)):
            api = client.get("/api/v1/stats", headers={"Authorization": f"Bearer {token}"})
            assert api.status_code == 200
            args = ["--store", seeded.store_url, "stats", "--json"]
            if tenant is not None:
                args[2:2] = ["--tenant", tenant]
            result = invoke_cli(args)
            assert result.exit_code == 0, result.output
            command = json.loads(result.output)
            assert command.pop("store")  # the store's URL is the command's only extra
            assert api.json() == command
            data = api.json()
            assert data["tenant"] == tenant
            assert sum(data["by_workflow_type"].values()) == data["snapshots"] > 0
            assert data["archive"] == {"objects": 0, "bytes": 0}
            assert data["retention_last_success"] is None
