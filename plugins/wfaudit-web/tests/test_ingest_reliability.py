"""The ingest service as an orchestrator meets it: ``wfaudit serve --workers 2`` run
as a real process on SQLite and PostgreSQL, with 8 client threads posting triggers
(distinct runs, each retried until it gets a ``2xx``).

* The server is killed with SIGKILL at moments drawn from a fixed seed (the whole
  server, or one worker, which its supervisor starts again in the same slot):
  after a restart and a drain, every run that got a ``2xx`` is stored exactly
  once, with the snapshot id its answer named, and nothing is duplicated.
* The store goes away during the load and comes back: the answers turn ``202``
  (spooled), nothing is lost, and the server's own drain catches up.
* The refusals (no token, a wrong one, a read token, another tenant, an oversize
  body, malformed JSON, a malformed CloudEvent) of the real server with its
  tokens from the environment: the status, a JSON error, nothing in the store
  nor in any spool.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from wfaudit import Auditor, Spool, spool_roots, worker_spool_root
from wfaudit.testing import StoreOutage
from wfaudit_hookspecs import EventKind

from .conftest import PLUGINS

WRITE = "reliability-write-token-0123456789"
READ = "reliability-read-token-0123456789"
PASSWORD = "Rl-db-Pa55word-q8Zx41"
CLIENTS = 8
EVERYTHING = 1_000_000
"""A read limit above any count of snapshots or events these tests store."""
SEED = 18


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def payload(run: str) -> dict[str, Any]:
    return {
        "workflow_id": run,
        "workflow_type": "CI",
        "pipeline_id": f"pipe-{run.split('-')[0]}",
        "triggered_by": "ci",
        "config": {
            "run": run,
            "image": "shop:1.4",
            "env": {"DB_PASSWORD": PASSWORD},
            "steps": [{"name": f"step-{n}", "script": "make " * 20} for n in range(10)],
        },
    }


class Server:
    """``wfaudit serve --workers N`` in its own process group, on a fixed port
    (so that a restarted server answers where the clients send)."""

    def __init__(
        self, env: dict[str, str], log: Path, *, workers: int = 2, tenant: str | None = None
    ) -> None:
        self.env = env
        self.tenant = tenant
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 90.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "wfaudit"),
                    *(("--tenant", self.tenant) if self.tenant else ()),
                    *("serve", "--host", "127.0.0.1"),
                    *("--port", str(self.port), "--workers", str(self.workers)),
                ],
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: SIGKILL takes it all
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not start: {self.log.read_text()}")

    def workers_pids(self) -> list[int]:
        assert self.process is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
            if int(stat.rpartition(")")[2].split()[1]) == self.process.pid:
                found.append(int(entry.name))
        return sorted(found)

    def kill(self) -> None:
        """SIGKILL to the supervisor and every worker at once (a node or OOM kill)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        # The workers were killed with it; wait until none holds the port.
        deadline = time.monotonic() + 30
        while self.workers_pids() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@attrs.define
class Load:
    """8 client threads, each posting its own runs one after another, each run
    retried (on a connection error or a 5xx) until it gets a 2xx."""

    url: str
    acked: dict[str, tuple[int, str]] = attrs.field(factory=dict)
    statuses: list[tuple[float, int]] = attrs.field(factory=list)
    failures: list[str] = attrs.field(factory=list)
    cut: int = 0
    """Requests that got no answer (the connection broke or was refused)."""
    stop: threading.Event = attrs.field(factory=threading.Event)
    threads: list[threading.Thread] = attrs.field(factory=list)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def start(self) -> None:
        for number in range(CLIENTS):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self, timeout: float = 120.0) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
            assert not thread.is_alive(), "a client never got its run acknowledged"
        assert not self.failures, self.failures

    def _client(self, number: int) -> None:
        headers = {"Authorization": f"Bearer {WRITE}"}
        with httpx.Client(base_url=self.url, timeout=20, headers=headers) as http:
            sequence = 0
            while not self.stop.is_set():
                run = f"c{number}-{sequence}"
                body = payload(run)
                while True:
                    try:
                        answer = http.post("/api/v1/triggers", json=body)
                    except httpx.HTTPError:
                        with self.lock:
                            self.cut += 1
                        time.sleep(0.05)
                        continue
                    with self.lock:
                        self.statuses.append((time.monotonic(), answer.status_code))
                    if 200 <= answer.status_code < 300:
                        with self.lock:
                            self.acked[run] = (answer.status_code, answer.json()["snapshot_id"])
                        break
                    if answer.status_code < 500:
                        with self.lock:
                            self.failures.append(f"{run}: {answer.status_code} {answer.text}")
                        return
                    time.sleep(0.05)
                sequence += 1


def server_env(home: Path, store_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("WFAUDIT_") or key == "WFAUDIT_TEST_PG_URL"
    }
    env.update(
        WFAUDIT_HOME=str(home),
        WFAUDIT_STORE_URL=store_url,
        WFAUDIT_LOAD_PLUGINS=PLUGINS + ",ci,web",
        WFAUDIT_INGEST_TOKEN=WRITE,
        WFAUDIT_WEB_TOKEN=READ,
    )
    return env


def wfaudit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def stored(store_url: str) -> tuple[dict[str, list[str]], int]:
    """The snapshot ids stored per run, and the count of ``snapshot.audited`` events
    (every tenant's, read through an auditor that only reads)."""
    with Auditor.from_url(store_url, create=False) as auditor:
        records = auditor.history(limit=EVERYTHING)
        events = auditor.store.list_events(limit=EVERYTHING)
    runs: dict[str, list[str]] = {}
    for record in records:
        runs.setdefault(record.workflow_id, []).append(record.id)
    audited = sum(event.kind == EventKind.AUDITED for event in events)
    return runs, audited


def spooled(home: Path, store_url: str) -> int:
    return sum(Spool(root, store_url).depth() for root in spool_roots(home / "spool"))


def assert_stored_exactly_once(store_url: str, load: Load) -> None:
    runs, audited = stored(store_url)
    assert set(runs) == set(load.acked), (
        f"lost: {sorted(set(load.acked) - set(runs))[:5]}, "
        f"never acknowledged: {sorted(set(runs) - set(load.acked))[:5]}"
    )
    assert all(len(ids) == 1 for ids in runs.values()), "a run is stored twice"
    assert audited == len(runs), "a snapshot was audited twice"
    for run, (status, snapshot_id) in load.acked.items():
        if status != 202:  # stored: the answer names the stored snapshot
            assert runs[run] == [snapshot_id], f"{run}: stored as another snapshot than answered"


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> tuple[str, Path, dict[str, str]]:
    home = tmp_path / "home"
    env = server_env(home, store_url)
    created = wfaudit("db", "upgrade", env=env)
    assert created.returncode == 0, created.stderr
    return store_url, home, env


# -- SIGKILL at random moments ------------------------------------------------------------


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    store: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    store_url, home, env = store
    server = Server(env, tmp_path / "serve.log")
    chance = random.Random(SEED)
    # The whole server (supervisor and workers, as a node or an OOM kill would) or
    # one worker (its supervisor starts it again in its slot), at moments drawn
    # from the seed while the 8 clients post.
    kills = ("server", "worker", "server", "worker", "server")
    moments = [chance.uniform(0.2, 1.2) for _ in kills]
    server.start()
    load = Load(server.url)
    load.start()
    try:
        for kind, moment in zip(kills, moments, strict=True):
            time.sleep(moment)
            if kind == "server":
                server.kill()
                server.start()
            else:
                before = server.workers_pids()
                assert len(before) == 2, before
                os.kill(chance.choice(before), signal.SIGKILL)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    now = server.workers_pids()
                    if len(now) == 2 and now != before:
                        break
                    time.sleep(0.05)
                else:
                    raise AssertionError("the killed worker was not started again")
        time.sleep(0.5)
        load.finish()
    finally:
        load.stop.set()
        server.stop()
    # The kills hit requests in flight (their clients got no answer and retried).
    assert load.cut > 0 and len(load.acked) >= CLIENTS
    print(f"acknowledged {len(load.acked)} runs; {load.cut} requests got no answer")
    drained = wfaudit("drain", env=env)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert spooled(home, store_url) == 0
    assert_stored_exactly_once(store_url, load)
    verified = wfaudit("verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


# -- the store down during a load ---------------------------------------------------------


def test_with_the_store_down_answers_turn_202_and_the_drain_catches_up(
    store: tuple[str, Path, dict[str, str]], tmp_path: Path, tcp_proxy: Any
) -> None:
    store_url, home, env = store
    outage = StoreOutage(store_url, tcp_proxy)
    server = Server({**env, "WFAUDIT_STORE_URL": outage.url}, tmp_path / "serve.log")
    server.start()
    load = Load(server.url)
    load.start()
    try:
        time.sleep(1.0)
        down = time.monotonic()
        outage.begin()
        time.sleep(3.0)
        up = time.monotonic()
        outage.end()
        time.sleep(1.0)
        load.finish()
        during = [status for when, status in load.statuses if down + 0.5 < when < up]
        assert during and set(during) == {202}, sorted(set(during))
        assert any(status == 202 for status, _ in load.acked.values())
        # The server drains by itself (no `wfaudit drain`): every spool of the data
        # directory empties and the store holds every acknowledged run.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if spooled(home, outage.url) == 0 and len(stored(store_url)[0]) == len(load.acked):
                break
            time.sleep(0.5)
        assert spooled(home, outage.url) == 0, "the server did not drain its spools"
    finally:
        load.stop.set()
        outage.end()
        server.stop()
    assert_stored_exactly_once(store_url, load)


# -- the refusals of the real server ------------------------------------------------------


@pytest.mark.wfaudit_backends("sqlite")
def test_the_real_server_refuses_with_a_json_error_and_writes_nothing(
    store: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    store_url, home, env = store
    settings = tmp_path / "wfaudit.toml"
    settings.write_text(
        "[web]\nmax_body_bytes = 4096\ntokens = [\n"
        '  { name = "ci-a", env = "WFAUDIT_TOKEN_CI_A", tenant = "team-a", scopes = ["write"] },\n'
        "]\n"
    )
    tenant_token = "reliability-team-a-token-0123456789"
    # `wfaudit --tenant team-a serve`: the tokens of the variables are bound to team-a,
    # in every worker as in one process.
    server = Server(
        {**env, "WFAUDIT_CONFIG": str(settings), "WFAUDIT_TOKEN_CI_A": tenant_token},
        tmp_path / "serve.log",
        tenant="team-a",
    )
    good = json.dumps(payload("r1")).encode()
    event = {"specversion": "1.0", "id": "e-1", "source": "/x"}  # no type
    cases = [
        ("missing token", "/api/v1/triggers", {}, good, 401),
        ("wrong token", "/api/v1/triggers", {"Authorization": "Bearer nope-0123"}, good, 401),
        ("read scope", "/api/v1/triggers", {"Authorization": f"Bearer {READ}"}, good, 403),
        (
            "other tenant",
            "/api/v1/triggers",
            {"Authorization": f"Bearer {tenant_token}"},
            json.dumps({**payload("r2"), "tenant": "team-b"}).encode(),
            403,
        ),
        (
            "other tenant (--tenant)",
            "/api/v1/triggers",
            {"Authorization": f"Bearer {WRITE}"},
            json.dumps({**payload("r2"), "tenant": "team-b"}).encode(),
            403,
        ),
        (
            "oversize",
            "/api/v1/triggers",
            {"Authorization": f"Bearer {WRITE}"},
            json.dumps({**payload("r3"), "config": {"pad": "x" * 8000}}).encode(),
            413,
        ),
        ("malformed JSON", "/api/v1/triggers", {"Authorization": f"Bearer {WRITE}"}, b"{", 400),
        (
            "malformed CloudEvent",
            "/api/v1/cloudevents",
            {
                "Authorization": f"Bearer {WRITE}",
                "Content-Type": "application/cloudevents+json",
            },
            json.dumps(event).encode(),
            400,
        ),
    ]
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for name, path, headers, body, status in cases:
                answer = http.post(
                    path, content=body, headers={"Content-Type": "application/json", **headers}
                )
                assert answer.status_code == status, (name, answer.text)
                assert answer.headers["content-type"] == "application/json", name
                assert isinstance(answer.json()["error"], str), name
                assert PASSWORD not in answer.text and WRITE not in answer.text, name
            assert stored(store_url) == ({}, 0)
            assert spooled(home, store_url) == 0
            accepted = http.post(
                "/api/v1/triggers", json=payload("r4"), headers={"Authorization": f"Bearer {WRITE}"}
            )
            assert accepted.status_code == 201, accepted.text
            assert accepted.json()["ref"]["tenant"] == "team-a"
    finally:
        server.stop()


# -- spools a worker left -----------------------------------------------------------------


def spool_while_locked(store_url: str, root: Path, runs: list[str]) -> None:
    """Audit ``runs`` into the spool at ``root`` (a worker's), the store being locked."""
    from wfaudit import Auditor

    outage = StoreOutage(store_url)
    outage.begin()
    try:
        with Auditor.from_url(outage.url, spool_root=root) as auditor:
            for run in runs:
                result = auditor.audit_trigger(**{**payload(run), "workflow_id": run})
                assert result.spooled, result
    finally:
        outage.end()


@pytest.fixture
def locked_store(
    store: tuple[str, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Path, dict[str, str]]:
    store_url, home, env = store
    for name in ("WFAUDIT_HOME", "WFAUDIT_LOAD_PLUGINS"):
        monkeypatch.setenv(name, env[name])
    url = StoreOutage(store_url).url
    return url, home, {**env, "WFAUDIT_STORE_URL": url}


def pathlib_name(directory: str) -> str:
    """``spool`` or ``worker-<slot>``: the spool root a store's spool directory is in."""
    return Path(directory).parent.name


@pytest.mark.wfaudit_backends("sqlite")
def test_spool_list_and_drain_cover_every_workers_spool(
    locked_store: tuple[str, Path, dict[str, str]],
) -> None:
    url, home, env = locked_store
    store_url = url.partition("?")[0]
    spool_while_locked(store_url, worker_spool_root(home / "spool", 3), ["w3-a", "w3-b"])
    spool_while_locked(store_url, home / "spool", ["default-a"])
    assert spooled(home, url) == 3
    listed = wfaudit("spool", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    assert shown["waiting"] == 3
    assert [(pathlib_name(item["spool"]), item["waiting"]) for item in shown["spools"]] == [
        ("spool", 1),
        ("worker-3", 2),
    ]
    drained = wfaudit("drain", "--json", env=env)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert json.loads(drained.stdout)["replayed"] == 3
    assert spooled(home, url) == 0
    assert sorted(stored(store_url)[0]) == ["default-a", "w3-a", "w3-b"]


@pytest.mark.wfaudit_backends("sqlite")
def test_a_server_drains_at_start_up_what_a_slot_no_longer_run_left(
    locked_store: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    """Slot 5 of an earlier ``--workers 6`` left files; ``--workers 2`` stores them
    at start-up, with no audit to prompt it."""
    url, home, env = locked_store
    store_url = url.partition("?")[0]
    spool_while_locked(store_url, worker_spool_root(home / "spool", 5), ["w5-a", "w5-b"])
    server = Server(env, tmp_path / "serve.log")
    server.start()
    try:
        deadline = time.monotonic() + 60
        while spooled(home, url) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.stop()
    assert spooled(home, url) == 0
    assert sorted(stored(store_url)[0]) == ["w5-a", "w5-b"]


# -- the supervisor -----------------------------------------------------------------------


def test_workers_that_cannot_start_stop_the_supervisor(tmp_path: Path) -> None:
    """Restarting a worker that exits at once would only spin: after a few young
    deaths in a row, the supervisor gives up (status 1), each time in the same slot."""
    from wfaudit_web.workers import GIVE_UP_AFTER, Supervisor

    started = tmp_path / "started"
    script = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n'); sys.exit(3)"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        supervisor = Supervisor(
            listener,
            2,
            lambda fd, slot: [sys.executable, "-c", script, str(started), str(slot)],
            restart_delay=0.01,
        )
        assert supervisor.run() == 1
    slots = started.read_text().split()
    assert sorted(set(slots)) == ["0", "1"]
    assert max(slots.count("0"), slots.count("1")) == GIVE_UP_AFTER


@pytest.mark.wfaudit_backends("sqlite")
def test_workers_stop_when_their_supervisor_is_killed(
    store: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    """SIGKILL to the supervisor alone: its workers notice and stop, and the port
    is free for the server started again."""
    _, _, env = store
    server = Server(env, tmp_path / "serve.log")
    server.start()
    assert server.process is not None
    workers = server.workers_pids()
    assert len(workers) == 2
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "orphan workers"
    server.start()  # binds the same port
    server.stop()
    assert server.process.returncode == 0
