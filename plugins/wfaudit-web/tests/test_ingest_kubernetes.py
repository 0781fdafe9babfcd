"""The Kubernetes manifests of docs/ingest.md, checked against the code they run:
every variable they set is one wfaudit reads (and reads as the page says), the
commands parse, the probes' paths are the app's routes and answer as a probe
needs (ready through a store outage, for ingest), and the objects name each other
consistently (selectors, ports, the governing Service, the spool's mount)."""

from __future__ import annotations

import pathlib
import re
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml

from wfaudit import KEY_ENV, Settings, load_keys
from wfaudit_web import create_app
from wfaudit_web.access import DEFAULT_TOKEN_ENV, INGEST_TOKEN_ENV, Tokens
from wfaudit_web.cli import serve
from wfaudit_web.workers import STOP_GRACE

from .conftest import PLUGINS, Server, tokens

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "ingest.md"


def manifests() -> dict[str, dict[str, Any]]:
    """The page's Kubernetes objects, by ``kind/name``."""
    text = DOC.read_text(encoding="utf-8")
    (block,) = [
        found[1]
        for found in re.finditer(r"```yaml\n(.*?)```", text, re.S)
        if "kind: StatefulSet" in found[1]
    ]
    objects = [item for item in yaml.safe_load_all(block) if item]
    return {f"{item['kind']}/{item['metadata']['name']}": item for item in objects}


def container(kind_name: str) -> dict[str, Any]:
    item = manifests()[kind_name]
    (found,) = item["spec"]["template"]["spec"]["containers"]
    return dict(found)


def test_the_objects_are_the_deployment_the_page_describes() -> None:
    found = manifests()
    assert set(found) == {
        "Secret/wfaudit-ingest",
        "Job/wfaudit-db-upgrade",
        "StatefulSet/wfaudit-ingest",
        "Service/wfaudit-ingest",
        "Service/wfaudit-ingest-hosts",
    }
    assert {item["metadata"]["namespace"] for item in found.values()} == {"wfaudit"}
    stateful = found["StatefulSet/wfaudit-ingest"]["spec"]
    labels = stateful["template"]["metadata"]["labels"]
    assert stateful["selector"]["matchLabels"] == labels
    assert stateful["replicas"] > 1  # several hosts
    # The governing Service is the headless one; the clients' Service selects the pods.
    assert stateful["serviceName"] == "wfaudit-ingest-hosts"
    assert found["Service/wfaudit-ingest-hosts"]["spec"]["clusterIP"] == "None"
    server = container("StatefulSet/wfaudit-ingest")
    ports = {port["name"]: port["containerPort"] for port in server["ports"]}
    for name in ("Service/wfaudit-ingest", "Service/wfaudit-ingest-hosts"):
        spec = found[name]["spec"]
        assert spec["selector"] == labels
        assert {port["targetPort"] for port in spec["ports"]} <= set(ports)
    # The spool is on the replica's own claim, mounted where WFAUDIT_HOME points.
    (claim,) = stateful["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    (mount,) = server["volumeMounts"]
    assert mount["name"] == claim["metadata"]["name"]
    home = {item["name"]: item.get("value") for item in server["env"]}["WFAUDIT_HOME"]
    assert mount["mountPath"] == home
    # The pod is given the time the workers take to answer what is in flight.
    assert stateful["template"]["spec"]["terminationGracePeriodSeconds"] > STOP_GRACE
    # Both the job and the servers take the one Secret.
    secret = "wfaudit-ingest"
    for name in ("Job/wfaudit-db-upgrade", "StatefulSet/wfaudit-ingest"):
        assert container(name)["envFrom"] == [{"secretRef": {"name": secret}}]


def test_the_commands_parse() -> None:
    command = container("StatefulSet/wfaudit-ingest")["command"]
    assert command[:2] == ["wfaudit", "serve"]
    context = serve.make_context("serve", list(command[2:]))
    assert context.params["workers"] == 2 and context.params["port"] == 8080
    job = container("Job/wfaudit-db-upgrade")["command"]
    assert job == ["wfaudit", "db", "upgrade"]
    from wfaudit.testing import invoke_cli

    listed = invoke_cli(["db", "--help"])
    assert listed.exit_code == 0 and "upgrade" in listed.output, listed.output


def test_every_variable_set_is_read_as_the_page_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    found = manifests()
    secret = found["Secret/wfaudit-ingest"]["stringData"]
    server = container("StatefulSet/wfaudit-ingest")
    values = {
        KEY_ENV: "ab" * 32,
        "WFAUDIT_STORE_URL": "postgresql+psycopg://wfaudit@postgres.wfaudit.svc:5432/wfaudit",
        INGEST_TOKEN_ENV: "ingest-token-0123456789abcdef",
        DEFAULT_TOKEN_ENV: "reader-token-0123456789abcdef",
        "WFAUDIT_HOME": str(tmp_path / "home"),
    }
    names = set(secret) | {item["name"] for item in server["env"]}
    assert names == set(values), "a variable the manifests set is not one checked here"
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings.load()
    assert settings.store_url == values["WFAUDIT_STORE_URL"]
    assert settings.home == tmp_path / "home"
    keys = load_keys(settings.key_file)
    assert keys.source == KEY_ENV and keys.current == bytes.fromhex(values[KEY_ENV])
    assert not (tmp_path / "home").exists()  # the key came from the Secret: no key file
    registry = Tokens.from_settings({})
    writer = registry.check(values[INGEST_TOKEN_ENV])
    reader = registry.check(values[DEFAULT_TOKEN_ENV])
    assert writer is not None and writer.scopes == {"write"}
    assert reader is not None and reader.scopes == {"read"}


def test_the_probes_answer_as_a_probe_needs_through_a_store_outage(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[[Any], Server]
) -> None:
    """The store down (a PostgreSQL port that refuses): the readiness probe stays
    ready (the audits are spooled, 202), the liveness probe too."""
    server = container("StatefulSet/wfaudit-ingest")
    readiness = server["readinessProbe"]["httpGet"]
    liveness = server["livenessProbe"]["httpGet"]
    assert readiness["port"] == liveness["port"] == "http"
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=3"
    app = create_app(url, tokens())
    routes = {getattr(route, "path", None) for route in app.routes}
    for probe_path in (readiness["path"], liveness["path"]):
        assert urllib.parse.urlsplit(probe_path).path in routes, probe_path
    running = serve(app)
    with httpx.Client(base_url=running.url, timeout=30) as http:
        assert http.get(liveness["path"]).status_code == 200
        ready = http.get(readiness["path"])
        assert ready.status_code == 200, ready.text
        assert ready.json()["health"] == "degraded"
        # Not the plain readiness, which a store outage fails on every replica at once.
        assert http.get("/readyz").status_code == 503
