"""docs/ingest.md, run: every block on the page is executed or checked here.

The shell blocks run in bash as written, against a real ``wfaudit serve``
started by the page's first block (the only liberty: the port, 8080 on the page,
is a free one here, and ``$HOME`` is a temporary directory). The TOML block is
fed to the settings readers, the JSON block compared with a real answer, the
Tekton YAML block parsed (the Kubernetes one: test_ingest_kubernetes.py).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator

import httpx
import pytest
import yaml

from wfaudit import Auditor
from wfaudit_web.access import Tokens
from wfaudit_web.ingest import Limits

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "ingest.md"
PAGE_ADDRESS = "127.0.0.1:8080"


def blocks() -> list[tuple[str, str]]:
    """Every fenced block of the page: (language, text)."""
    text = DOC.read_text(encoding="utf-8")
    return [(m[1], m[2]) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def test_every_block_is_of_a_kind_this_test_runs() -> None:
    kinds = [kind for kind, _ in blocks()]
    assert set(kinds) <= {"sh", "toml", "json", "yaml"}, kinds
    assert kinds.count("sh") == 6


def test_the_settings_block_is_what_the_readers_take(monkeypatch: pytest.MonkeyPatch) -> None:
    (text,) = [text for kind, text in blocks() if kind == "toml"]
    table = tomllib.loads(text)["tool"]["wfaudit"]
    for number, entry in enumerate(table["web"]["tokens"]):
        monkeypatch.setenv(entry["env"], f"doc-token-{number}-0123456789abcdef")
    for name in ("WFAUDIT_WEB_TOKEN", "WFAUDIT_INGEST_TOKEN", "WFAUDIT_RETRIGGER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    tokens = Tokens.from_settings(table)
    ci = tokens.check("doc-token-0-0123456789abcdef")
    assert ci is not None and ci.scopes == {"write"} and ci.tenant == "team-a"
    reader = tokens.check("doc-token-1-0123456789abcdef")
    assert reader is not None and reader.scopes == {"read"}
    # The page shows the defaults.
    assert Limits.from_settings(table) == Limits()


def test_the_tekton_sink_block_points_at_the_endpoint() -> None:
    (text,) = [text for kind, text in blocks() if kind == "yaml" and "config-defaults" in text]
    config = yaml.safe_load(text)
    assert config["metadata"] == {"name": "config-defaults", "namespace": "tekton-pipelines"}
    assert config["data"]["default-cloud-events-sink"].endswith("/api/v1/cloudevents")


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[tuple[dict[str, str], str]]:
    """The page's first block, run: the environment it exports and the server's address."""
    kind, first = blocks()[0]
    assert kind == "sh"
    lines = first.strip().splitlines()
    serve_line = lines[-1]
    assert serve_line == f"wfaudit serve --host 127.0.0.1 --port {PAGE_ADDRESS.split(':')[1]} &"
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("WFAUDIT_STORE_URL", None)
    done = subprocess.run(
        # A NUL first: what the block prints (wfaudit db upgrade's line) must not
        # run into the first variable `env -0` prints.
        ["bash", "-c", "set -euo pipefail\n" + "\n".join(lines[:-1]) + "\nprintf '\\0'\nenv -0"],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    exported = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    argv = serve_line.rstrip("&").split()
    argv[argv.index("--port") + 1] = "0"
    server = subprocess.Popen(argv, env=exported, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        match = re.search(r"http://(\S+?)/ui", line)
        assert match, line
        address = match[1]
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://{address}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "wfaudit serve did not answer"
            time.sleep(0.1)
        yield exported, address
    finally:
        server.kill()
        server.wait(timeout=30)


def _run(block: str, env: dict[str, str], address: str) -> str:
    assert PAGE_ADDRESS in block
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block.replace(PAGE_ADDRESS, address)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_pages_commands_work_against_a_live_server(
    served: tuple[dict[str, str], str],
) -> None:
    env, address = served
    shell = [text for kind, text in blocks() if kind == "sh"][1:]
    trigger, batch, outcome, retrigger, cloudevent = shell
    answer = json.loads(_run(trigger, env, address))
    (shown,) = [json.loads(text) for kind, text in blocks() if kind == "json"]
    assert set(answer) == set(shown) and set(answer["ref"]) == set(shown["ref"])
    for key in ("created", "spooled", "masked"):
        assert answer[key] == shown[key], key
    for key in ("workflow_id", "workflow_type", "tenant"):
        assert answer["ref"][key] == shown["ref"][key], key
    assert "s3cr3t-Pa55-word" not in json.dumps(answer)

    results = json.loads(_run(batch, env, address))["results"]
    assert [r["status"] for r in results] == [201, 422]
    recorded = json.loads(_run(outcome, env, address))
    assert recorded["record"]["status"] == "failed"
    # No restorer knows where DB_PASSWORD lives: the plan says the retrigger would be refused.
    plan = json.loads(_run(retrigger, env, address))
    assert plan["dry_run"] is True and plan["attempt"] == 2
    assert plan["refused"] == ["/env/DB_PASSWORD"]
    assert "s3cr3t-Pa55-word" not in json.dumps(plan)
    started = json.loads(_run(cloudevent, env, address))
    assert started["ref"]["workflow_id"] == "8f0e2a44-5b1c-4d3e-9f60-7a8b9c0d1e2f"
    # The same trigger again: the same snapshot, 200.
    again = json.loads(_run(trigger, env, address))
    assert again["snapshot_id"] == answer["snapshot_id"] and again["created"] is False

    with Auditor.from_url(env["WFAUDIT_STORE_URL"], strict=True) as auditor:
        records = {r.workflow_id: r for r in auditor.history()}
    assert set(records) == {"1042", "1043", "8f0e2a44-5b1c-4d3e-9f60-7a8b9c0d1e2f"}
    assert str(records["1042"].status) == "failed"
    assert records["8f0e2a44-5b1c-4d3e-9f60-7a8b9c0d1e2f"].pipeline_id == "ci/build"
