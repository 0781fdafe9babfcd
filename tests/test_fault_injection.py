"""Fault injection: good and bad audits, the store going down and up, processes
SIGKILLed, then a drain; nothing acknowledged is lost and nothing bad gets in.

Three orchestrator processes (``tests/fault_worker.py``) audit a mixed stream
through the public API (``Auditor.from_url``, non-blocking, one shared durable
spool in ``$WFAUDIT_HOME``, as several orchestrator processes on one host):

* good audits: small CI / pre-CD / post-CD requests with secrets to mask, some
  with the same content (dedup), files of the shared corpus (Argo, Tekton,
  GitHub Actions) and successive versions of one busy workflow file audited as
  runs of one pipeline (delta compression), identities at the length limit, in
  two tenants;
* bad audits: identities the store cannot keep or an operator cannot read (a
  NUL byte, C0 and C1 control characters, a lone surrogate, 256 characters, an
  integer of 300 digits, a bool; a label key with a NUL), a config over the size limit, configs
  nested deeper than the depth limit (300 and 3,000 levels), an integer of
  5,000 digits, and conflicting re-triggers of runs already audited with other
  content;
* spool files as an older wfaudit could have left them (identities the store
  refuses, one torn file), put in the spool before the workers start, so that
  their background drainers meet them first (the "spool poisoning" of issue 16).

A seeded schedule runs the stream in rounds, the store alternately up and
down, the gates of the workers opened round by round (so which audits meet an
outage is fixed, not timed); it SIGKILLs workers at seeded points of their
stream (mid-audit, mid-spool-write, mid-background-drain) and restarts them,
SIGKILLs a ``wfaudit drain`` in the middle of its replay, and records the
chain heads with ``wfaudit anchor`` while the workers write. The store goes
down without touching the shared servers: on PostgreSQL a TCP proxy in front
of the server stops listening and resets every open connection (as a network
outage or a server restart would); on SQLite another connection holds the
database's write lock (``BEGIN EXCLUSIVE``) past the workers' busy timeout and
retry deadline (as a stuck writer would), which is the failure
SQLite's own store can have -- a file store cannot be "unreachable" the way a
server is, and removing its directory would test the file system, not wfaudit.

Then the store comes back, ``wfaudit drain`` (the real CLI) replays what is
left, and the test checks: every good audit a worker was told was accepted
(ok, or spooled) is in the store exactly once and reads back (its config equal
to the request but for the masked values, no planted secret in it; ``wfaudit
show`` for a sample); nothing else is in the store; every bad audit was refused
with ``InvalidRequest`` (the limits named in the message), or, for a conflict,
the first snapshot stands and the conflict is kept as evidence on its trail; every
bad spool file is in the quarantine with its reason (``wfaudit spool list``);
nothing is left in the spool; and ``wfaudit verify`` is OK, also against the
anchors taken in the middle and at the end (a tampered anchor is caught).

Assertions hold for every interleaving the schedule allows: where a kill lands
changes which path an audit takes, never what the test expects of the end state.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from wfaudit import Auditor, codec
from wfaudit.cli import cli
from wfaudit.ids import new_id
from wfaudit.loading import load_payload
from wfaudit.spool import Spool
from wfaudit.testing import StoreOutage
from wfaudit_hookspecs import SnapshotRecord, WfauditError, canonical_json, content_hash
from wfaudit_hookspecs.converter import unstructure
from wfaudit_hookspecs.pointer import get_at, parse_pointer, set_at
from wfaudit_sql.urls import parse_store_url

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
WORKER = Path(__file__).resolve().parent / "fault_worker.py"
PLUGINS = "sql,maskers"
SEED = int(os.environ.get("WFAUDIT_FAULT_SEED", "162026"))
"""The schedule's seed; set ``WFAUDIT_FAULT_SEED`` to try another schedule."""
WORKERS = 3
ROUNDS = ("up", "down", "up+drain-kill", "down", "up+anchor", "down")
DEADLINE = 120.0
"""Seconds any one wait may take before the test fails (generous: a loaded machine)."""

LIMITS = {
    "bad-oversize": "max_request_bytes",
    "bad-deep-300": "max_request_depth",
    "bad-deep-3000": "max_request_depth",
}
"""Bad jobs whose refusal must name the setting that bounds them."""

SECRETS = [f"s3cr3t-{n:02d}-Zq8wX1vR" for n in range(8)]


# -- the store going down and up ----------------------------------------------------------


# -- the jobs ------------------------------------------------------------------------------


def small_config(rng: random.Random, pipeline: str, n: int) -> dict[str, Any]:
    secret = SECRETS[n % len(SECRETS)]
    return {
        "pipeline": pipeline,
        "image": f"registry.example.com/team/app:{rng.randint(1, 40)}",
        "env": {"STAGE": rng.choice(["dev", "staging", "prod"]), "password": secret},
        "steps": [
            {"name": f"step-{k}", "run": f"make target-{k}"} for k in range(rng.randint(1, 4))
        ],
        "notes": "Grüße, José — ✓",
    }


def corpus_configs() -> list[tuple[str, str, Any]]:
    """(name, pipeline, payload) of some corpus files, the history series in order."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    picked: list[tuple[str, str, Any]] = []
    series = sorted((CORPUS / "history" / "tokio-rs__tokio__ci.yml").glob("*.yml"))[:6]
    picked += [(path.name, "tokio-ci", load_payload(str(path))) for path in series]
    for rel in (
        "argo-workflows/dag-diamond.yaml",
        "argo-workflows/steps.yaml",
        "tekton/pipelineruns__pipelinerun-with-final-tasks.yaml",
        "github-actions/pallets__flask/tests.yaml",
    ):
        picked.append((rel, rel.split("/")[0], load_payload(str(CORPUS / rel))))
    return picked


class Jobs:
    """The seeded stream: good audits, bad audits, and what each should end as."""

    def __init__(self, rng: random.Random, originals: dict[str, dict[str, Any]]) -> None:
        self.good: dict[str, dict[str, Any]] = {}
        self.bad: dict[str, dict[str, Any]] = {}
        run = iter(range(1000, 100_000))
        for n in range(48):
            pipeline = f"p-{n % 5}"
            fields = {
                "workflow_id": next(run) if n % 3 else f"run-{next(run)}",
                "workflow_type": ("CI", "PRE_CD", "POST_CD")[n % 3],
                "pipeline_id": pipeline,
                "triggered_by": rng.choice(["ci-bot", "José Núñez", "deploy@example.com"]),
                "tenant": "acme" if n % 4 == 1 else None,
                "labels": {"team": rng.choice(["a", "b"])},
                "config": small_config(rng, pipeline, n),
            }
            self.good[f"small-{n}"] = fields
        # The same content under other runs: one blob, several snapshots.
        for n in range(6):
            source = self.good[f"small-{n * 7}"]
            self.good[f"rerun-{n}"] = {
                **source,
                "workflow_id": f"rerun-{next(run)}",
                "config": copy.deepcopy(source["config"]),
            }
        # Identities at the length limit are good ones.
        self.good["longest-ids"] = {
            "workflow_id": int("8" * 255),
            "workflow_type": "POST_CD",
            "pipeline_id": "p" * 255,
            "triggered_by": "é" * 255,
            "config": small_config(rng, "p-long", 99),
        }
        for n, (name, pipeline, payload) in enumerate(corpus_configs()):
            self.good[f"corpus-{n}"] = {
                "workflow_id": next(run),
                "workflow_type": "CI",
                "pipeline_id": pipeline,
                "triggered_by": "corpus",
                "tenant": "acme" if n % 3 == 2 else None,
                "labels": {"source": name[-60:].replace("/", "_")},
                "config": payload,
            }

        def bad(name: str, build: str | None = None, **overrides: Any) -> None:
            fields = {
                "workflow_id": f"bad-{name}",
                "workflow_type": "CI",
                "pipeline_id": "p-bad",
                "triggered_by": "ci-bot",
                "config": {"image": "registry.example.com/x:1"},
                **overrides,
            }
            self.bad[f"bad-{name}"] = {"fields": fields, **({"build": build} if build else {})}

        bad("nul-triggered-by", triggered_by="ci\x00bot")
        bad("nul-workflow-id", workflow_id="run\x00-7")
        bad("long-int-id", workflow_id=int("9" * 300))
        bad("escape-pipeline", pipeline_id="p-\x1b[2J")
        bad("newline-workflow-id", workflow_id="run-8\nforged: yes")
        bad("control-tenant", tenant="acme\x07")
        bad("c1-control-pipeline", pipeline_id="p-\x85-next-line")
        bad("surrogate-triggered-by", triggered_by="ci-\ud800")
        bad("control-label", labels={"team\x00": "a"})
        bad("long-str-id", workflow_id="r" * 256)
        bad("bool-id", workflow_id=True)
        bad("oversize", build="oversize")
        bad("deep-300", build="deep:300")
        bad("deep-3000", build="deep:3000")
        bad("huge-int", build="hugeint")
        for name, original in originals.items():
            # Other content, nothing to mask: its content hash is that of the config.
            fields = {**original, "config": {"image": "evil.example/x:6", "replicas": 3}}
            self.bad[f"conflict-{name}"] = {"fields": fields, "conflict_of": name}

    def assign(self, rng: random.Random) -> list[list[dict[str, Any]]]:
        """Every job to one worker, in a seeded order."""
        jobs = [{"job": name, "fields": fields} for name, fields in self.good.items()]
        jobs += [{"job": name, **job} for name, job in self.bad.items()]
        rng.shuffle(jobs)
        # One conflicting re-trigger early in the first round, while the store is up
        # and no outage has opened a circuit breaker yet: it reaches the store at
        # trigger time (the others may meet an outage and be spooled).
        early = next(job for job in jobs if job["job"] == "conflict-first-0")
        jobs.remove(early)
        jobs.insert(WORKERS, early)
        lists: list[list[dict[str, Any]]] = [[] for _ in range(WORKERS)]
        for index, job in enumerate(jobs):
            lists[index % WORKERS].append(job)
        return lists


# -- spool files as an older wfaudit could have left them -------------------------------------


def legacy_spool_files(spool: Spool) -> dict[str, str]:
    """Write spool files the store must refuse; returns {file name: what is wrong}.

    They are written in the spool file format (a header line with the body's
    length and SHA-256, then the JSON body), without the contract's checks of
    today, as a wfaudit from before them would have written them.
    """
    written: dict[str, str] = {}
    poisons = {
        "nul in triggered_by": {"triggered_by": "ci\x00bot"},
        "300-digit workflow id": {"workflow_id": "9" * 300},
        "control character in pipeline id": {"pipeline_id": "p-\x1b[2J"},
        "torn file": {},
    }
    for n, (what, fields) in enumerate(poisons.items()):
        canonical = canonical_json({"legacy": n, "image": "registry.example.com/old:1"})
        record = SnapshotRecord(
            id=new_id(),
            workflow_id=f"legacy-{n}",
            workflow_type="CI",
            pipeline_id="p-legacy",
            content_hash=content_hash(canonical),
            triggered_by="ci-bot",
            config_size=len(canonical),
        )
        codec_name, data = codec.compress(canonical)
        body = json.dumps(
            {
                "written_on": record.created_on.isoformat(),
                "store": spool.store,
                "record": {**unstructure(record), **fields},
                "blob": {
                    "content_hash": record.content_hash,
                    "codec": codec_name,
                    "raw_size": len(canonical),
                    "data": base64.b64encode(data).decode("ascii"),
                    "base": None,
                },
            },
            sort_keys=True,
        ).encode("utf-8")
        header = json.dumps(
            {
                "format": "wfaudit-spool",
                "version": 1,
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
            sort_keys=True,
        ).encode("ascii")
        raw = header + b"\n" + body
        if what == "torn file":
            raw = raw[: len(raw) * 2 // 3]
        directory = spool.directory / "default"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / f"{record.id}.wfspool"
        path.write_bytes(raw)
        path.chmod(0o600)
        written[path.name] = what
    return written


# -- the workers -------------------------------------------------------------------------------


class Worker:
    """One orchestrator process, its job list, its gate and its acknowledgement log."""

    def __init__(self, index: int, jobs: list[dict[str, Any]], root: Path, env: dict[str, str]):
        self.index = index
        self.jobs = jobs
        self.env = env
        self.jobs_file = root / f"worker-{index}.jobs.json"
        self.log = root / f"worker-{index}.log"
        self.gate = root / f"worker-{index}.gate"
        self.stderr = root / f"worker-{index}.stderr"
        self.jobs_file.write_text(json.dumps(jobs), encoding="utf-8")
        self.open_gate(0)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self, worker_url: str) -> None:
        with self.stderr.open("ab") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    str(self.jobs_file),
                    str(self.log),
                    str(self.gate),
                    worker_url,
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=self.env,
            )
        self.starts += 1

    def open_gate(self, limit: int) -> None:
        temporary = self.gate.with_suffix(".tmp")
        temporary.write_text(str(limit), encoding="ascii")
        os.replace(temporary, self.gate)

    def lines(self) -> list[dict[str, Any]]:
        try:
            raw = self.log.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in raw.splitlines(keepends=True) if line.endswith("\n")]

    def acknowledged(self) -> int:
        return len({line["job"] for line in self.lines()})

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=DEADLINE)
        self.kills += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def diagnosis(self) -> str:
        tail = self.stderr.read_text(encoding="utf-8", errors="replace")[-3000:]
        return (
            f"worker {self.index}: {self.acknowledged()} of {len(self.jobs)} jobs; stderr:\n{tail}"
        )


def wait_for(condition: Callable[[], bool], what: str, workers: list[Worker]) -> None:
    """Poll ``condition`` (every 10 ms) until it holds; fail after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        for worker in workers:
            if worker.process is not None and worker.process.poll() not in (None, 0):
                pytest.fail(f"{what}: worker {worker.index} died\n{worker.diagnosis()}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what}: not after {DEADLINE} s\n" + "\n".join(w.diagnosis() for w in workers)
            )
        time.sleep(0.01)


# -- the command line --------------------------------------------------------------------------


def wfaudit(*args: str, url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", "--store", url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=DEADLINE,
        check=False,
    )


def wfaudit_here(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    """The same command line, run in this process (for the checks that read:
    each process start costs seconds on a loaded machine)."""
    result = CliRunner().invoke(cli, ["--store", url, *args])
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def drain_and_kill(url: str, env: dict[str, str], spool: Spool) -> None:
    """Start ``wfaudit drain`` and SIGKILL it once it replayed a file (or it ends)."""
    before = spool.depth()
    process = subprocess.Popen(
        [sys.executable, "-m", "wfaudit", "--store", url, "drain"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + DEADLINE
    try:
        while process.poll() is None and spool.depth() >= before and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=DEADLINE)


# -- the test ----------------------------------------------------------------------------------


def test_fault_injection(
    store_url: str,
    tmp_path: Path,
    tcp_proxy: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(SEED)
    home = tmp_path / "home"
    env = {**os.environ, "WFAUDIT_HOME": str(home), "WFAUDIT_LOAD_PLUGINS": PLUGINS}
    env.pop("WFAUDIT_STORE_URL", None)
    monkeypatch.setenv("WFAUDIT_HOME", str(home))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    # Writers give up quickly (and spool) while the store is away.
    outage = StoreOutage(
        store_url,
        tcp_proxy,
        client_options="retry_deadline=0.5&connect_timeout=3",
        lock_wait=DEADLINE,
    )
    url = outage.url
    problems: list[str] = []
    """Broken guarantees, collected so that one run reports all of them."""

    # Runs audited before the stream (their conflicting re-triggers are bad jobs);
    # this also creates the store and the installation's keys once.
    originals: dict[str, dict[str, Any]] = {}
    hashes: dict[str, str] = {}
    with Auditor.from_url(url, strict=True) as auditor:
        for n in range(3):
            fields = {
                "workflow_id": f"first-{n}",
                "workflow_type": "CI",
                "pipeline_id": "p-conflict",
                "triggered_by": "ci-bot",
                "tenant": "acme" if n == 2 else None,
                "config": {"image": f"registry.example.com/app:{n}", "password": SECRETS[n]},
            }
            result = auditor.audit_trigger(**fields)
            assert result.ok and result.created and not result.spooled and result.ref
            originals[f"first-{n}"] = fields
            hashes[f"first-{n}"] = result.ref.content_hash
    jobs = Jobs(rng, originals)
    spool = Spool(home / "spool", url)
    legacy = legacy_spool_files(spool)

    workers = [Worker(i, jobs_of, tmp_path, env) for i, jobs_of in enumerate(jobs.assign(rng))]
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    run_schedule(rng, workers, outage, spool, anchors, env, problems)

    # The store is back: drain what is left with the real command.
    drained = wfaudit("drain", "--json", url=url, env=env)
    try:
        report = json.loads(drained.stdout)
    except ValueError:
        report = {}
    if report.get("remaining") != 0 or report.get("error") or spool.depth():
        problems.append(f"drain left files in the spool: {drained.stdout} {drained.stderr}")

    answers: dict[str, dict[str, Any]] = {}  # the last answer, for a job sent twice
    spooled_conflicts: set[str] = set()  # runs a conflicting re-trigger was spooled for
    for worker in workers:
        for line in worker.lines():
            answers[line["job"]] = line
            conflict_of = jobs.bad.get(line["job"], {}).get("conflict_of")
            if conflict_of and line["spooled"]:
                spooled_conflicts.add(conflict_of)
    assert set(answers) == set(jobs.good) | set(jobs.bad)
    # The stream met the outages: audits of the down rounds went to the spool.
    assert any(answers[name]["spooled"] for name in jobs.good)

    check_good(jobs, originals, answers, store_url, url, env, problems)
    check_bad(jobs, originals, hashes, answers, url, env, problems)
    check_quarantine(legacy, set(originals), spooled_conflicts, url, env, problems)
    check_trail(anchors, url, env, problems)
    check_no_secret_written([tmp_path], problems)
    assert not problems, f"{len(problems)} broken guarantee(s):\n" + "\n".join(problems)


def run_schedule(
    rng: random.Random,
    workers: list[Worker],
    outage: StoreOutage,
    spool: Spool,
    anchors: Path,
    env: dict[str, str],
    problems: list[str],
) -> None:
    """The rounds of the stream: store up or down, gates opened, seeded kills."""
    url = outage.url
    per_round = [-(-len(w.jobs) // len(ROUNDS)) for w in workers]
    kill_plan = {
        (round_no, worker.index): rng.randint(0, per_round[worker.index] - 1)
        for round_no in range(len(ROUNDS))
        for worker in workers
        if rng.random() < 0.4
    }
    try:
        for worker in workers:
            worker.start(url)
        for round_no, plan in enumerate(ROUNDS):
            if plan.startswith("down"):
                outage.begin()
            else:
                outage.end()
            if plan == "up+drain-kill":
                drain_and_kill(url, env, spool)
            for worker in workers:
                worker.open_gate(per_round[worker.index] * (round_no + 1))
            if plan == "up+anchor":  # the heads, recorded while the workers write
                mid = wfaudit("anchor", url=url, env=env)
                if mid.returncode == 0:
                    (anchors / "mid.json").write_text(mid.stdout, encoding="utf-8")
                else:
                    problems.append(f"wfaudit anchor (midway) failed: {mid.stdout}{mid.stderr}")
            for worker in workers:
                at = kill_plan.get((round_no, worker.index))
                if at is None:
                    continue
                target = min(len(worker.jobs), per_round[worker.index] * round_no + at)
                wait_for(lambda w=worker, t=target: w.acknowledged() >= t, "kill point", workers)  # type: ignore[misc]
                worker.kill()
                worker.start(url)
            for worker in workers:
                target = min(len(worker.jobs), per_round[worker.index] * (round_no + 1))
                wait_for(
                    lambda w=worker, t=target: w.acknowledged() >= t, f"round {round_no}", workers
                )  # type: ignore[misc]
        for worker in workers:
            assert worker.process is not None
            worker.process.wait(timeout=DEADLINE)
            assert worker.process.returncode == 0, worker.diagnosis()
    finally:
        for worker in workers:
            if worker.alive():
                worker.kill()
        outage.end()
    assert sum(w.kills for w in workers) >= 3, "the schedule must kill workers"


def check_good(
    jobs: Jobs,
    originals: dict[str, dict[str, Any]],
    answers: dict[str, dict[str, Any]],
    store_url: str,
    url: str,
    env: dict[str, str],
    problems: list[str],
) -> None:
    """Every good audit was accepted, is in the store exactly once, and reads back;
    nothing else is in the store."""
    for name in jobs.good:
        if not answers[name]["ok"]:
            problems.append(f"good audit {name} was not accepted: {answers[name]}")
    engine = create_engine(parse_store_url(store_url).url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, tenant, workflow_id, workflow_type FROM snapshots")
            ).all()
            audited = connection.execute(
                text("SELECT subject FROM events WHERE kind = 'snapshot.audited'")
            ).all()
    finally:
        engine.dispose()
    stored = [(row.tenant or None, row.workflow_id, row.workflow_type) for row in rows]
    if len(stored) != len(set(stored)):
        problems.append(f"runs stored twice: {len(stored) - len(set(stored))}")
    # Exactly once on the trail too: one snapshot.audited event per snapshot.
    subjects = [row.subject for row in audited]
    if sorted(subjects) != sorted(row.id for row in rows):
        problems.append(
            f"{len(subjects)} snapshot.audited events for {len(rows)} snapshots "
            f"({len(subjects) - len(set(subjects))} repeated)"
        )
    expected = {
        (fields.get("tenant"), str(fields["workflow_id"]), fields["workflow_type"])
        for fields in [*jobs.good.values(), *originals.values()]
    }
    for missing in sorted(map(repr, expected - set(stored))):
        problems.append(f"good audit not in the store: {missing}")
    for extra in sorted(map(repr, set(stored) - expected)):
        problems.append(f"in the store, but not a good audit: {extra[:120]}")
    with Auditor.from_url(url, strict=True) as reader:
        for name, fields in jobs.good.items():
            try:
                snapshot = reader.get_snapshot(
                    fields["workflow_id"], fields["workflow_type"], tenant=fields.get("tenant")
                )
            except WfauditError as error:
                problems.append(f"good audit {name} does not read back: {error}")
                continue
            stored_text = canonical_json(snapshot.config).decode("utf-8")
            if (
                snapshot.pipeline_id != fields["pipeline_id"]
                or snapshot.triggered_by != fields["triggered_by"]
                or not snapshot_matches(fields["config"], snapshot.config, snapshot.manifest)
                or any(secret in stored_text for secret in SECRETS)
            ):
                problems.append(f"good audit {name} reads back other than it was audited")
    for fields in (jobs.good["small-1"], jobs.good["corpus-0"]):
        tenant = ["--tenant", fields["tenant"]] if fields.get("tenant") else []
        run = str(fields["workflow_id"])
        shown = wfaudit_here("show", run, "--type", fields["workflow_type"], *tenant, url=url)
        if shown.returncode != 0:
            problems.append(f"wfaudit show {run}: {shown.stdout}{shown.stderr}")


def check_bad(
    jobs: Jobs,
    originals: dict[str, dict[str, Any]],
    hashes: dict[str, str],
    answers: dict[str, dict[str, Any]],
    url: str,
    env: dict[str, str],
    problems: list[str],
) -> None:
    """Every bad audit was refused with a typed error; for a conflict, the first
    snapshot stands and the conflict is evidence on its trail (and in ``show``)."""
    for name, job in jobs.bad.items():
        answer = answers[name]
        if "conflict_of" in job:
            continue
        limit = LIMITS.get(name)
        if answer["ok"] or not answer["invalid"]:
            problems.append(f"bad audit {name} was not refused as invalid: {answer}")
        elif limit and limit not in answer["error"]:
            problems.append(f"{name}: the error does not name the limit {limit}: {answer['error']}")
    with Auditor.from_url(url, strict=True) as reader:
        for name, job in jobs.bad.items():
            if "conflict_of" not in job:
                continue
            first = originals[job["conflict_of"]]
            tenant = first.get("tenant")
            snapshot = reader.get_snapshot(first["workflow_id"], "CI", tenant=tenant)
            if snapshot.content_hash != hashes[job["conflict_of"]]:
                problems.append(f"{name}: the conflicting trigger replaced the first snapshot")
            conflicting = content_hash(canonical_json(job["fields"]["config"]))
            events = reader.store.list_events(subject=snapshot.id, tenant=tenant, limit=1000)
            if not any(
                conflicting in text_ and snapshot.content_hash in text_
                for text_ in (json.dumps(unstructure(event.data), default=str) for event in events)
            ):
                problems.append(f"{name}: no event on the trail holds both content hashes")
            options = ["--tenant", tenant] if tenant else []
            shown = wfaudit_here(
                "show", first["workflow_id"], "--type", "CI", "--json", *options, url=url
            )
            if shown.returncode != 0 or conflicting not in shown.stdout:
                problems.append(f"{name}: wfaudit show does not show the conflict")
            if first["config"]["password"] in shown.stdout:
                problems.append(f"{name}: wfaudit show prints a secret")


def check_quarantine(
    legacy: dict[str, str],
    conflicted: set[str],
    spooled_conflicts: set[str],
    url: str,
    env: dict[str, str],
    problems: list[str],
) -> None:
    """Every bad spool file is in the quarantine, with its reason, and nothing else."""
    listed = wfaudit_here("spool", "list", "--json", url=url)
    if listed.returncode != 0:
        problems.append(f"wfaudit spool list failed: {listed.stdout}{listed.stderr}")
        return
    quarantined = {
        Path(str(entry.get("path", entry.get("file", "")))).name: entry
        for entry in quarantine_entries(listed.stdout)
    }
    for file_name, what in legacy.items():
        entry = quarantined.get(file_name)
        if entry is None:
            problems.append(f"the spool file with {what} is not in the quarantine")
        elif not str(entry.get("reason") or "").strip():
            problems.append(f"the spool file with {what} is quarantined without a reason")
    # Conflicting re-triggers that were spooled meet their run at drain time and
    # are set aside too; nothing else may be (a good audit is never set aside).
    set_aside_runs = {entry.get("workflow_id") for entry in quarantined.values()}
    for run in sorted(spooled_conflicts - set_aside_runs):
        problems.append(f"the spooled conflicting re-trigger of {run} is not in the quarantine")
    for file_name, entry in quarantined.items():
        if file_name not in legacy and entry.get("workflow_id") not in conflicted:
            problems.append(f"a spool file was set aside that should not be: {entry}")
        elif not str(entry.get("reason") or "").strip():
            problems.append(f"a spool file is quarantined without a reason: {entry}")


def check_trail(anchors: Path, url: str, env: dict[str, str], problems: list[str]) -> None:
    """``verify`` is OK, also against the anchors; a tampered anchor is caught."""
    end = wfaudit("anchor", url=url, env=env)
    if end.returncode != 0:
        problems.append(f"wfaudit anchor failed: {end.stdout}{end.stderr}")
    else:
        (anchors / "end.json").write_text(end.stdout, encoding="utf-8")
    taken = sorted(anchors.glob("*.json"))
    for anchor in taken:
        args = ("verify", "--anchors", str(anchor))
        # The last one in a process of its own, as an operator runs it.
        checked = (
            wfaudit(*args, url=url, env=env)
            if anchor == taken[-1]
            else wfaudit_here(*args, url=url)
        )
        if checked.returncode != 0:
            problems.append(f"verify --anchors {anchor.name}: {checked.stdout}{checked.stderr}")
    if not taken:  # no anchor could be taken: verify the store all the same
        verified = wfaudit("verify", url=url, env=env)
        if verified.returncode != 0:
            problems.append(f"wfaudit verify failed: {verified.stdout}{verified.stderr}")
    if (anchors / "end.json").exists():
        tampered = tamper_anchor(anchors / "end.json", anchors / "tampered.json.bad")
        refused = wfaudit_here("verify", "--anchors", str(tampered), url=url)
        if refused.returncode == 0:
            problems.append(f"verify passes a tampered anchor: {refused.stdout}{refused.stderr}")


def check_no_secret_written(roots: list[Path], problems: list[str]) -> None:
    """No planted secret in any file the run left (but the workers' job lists,
    which hold the requests): the workers' logs (standard error: wfaudit's log
    records) and answers, the spool and its quarantine, the anchors, the store
    file on SQLite."""
    planted = [secret.encode() for secret in SECRETS]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.endswith(".jobs.json"):
                data = path.read_bytes()
                if any(secret in data for secret in planted):
                    problems.append(f"a planted secret is written in {path.relative_to(root)}")


def quarantine_entries(output: str) -> list[dict[str, Any]]:
    """The quarantined files in the JSON of ``wfaudit spool list``."""
    data = json.loads(output)
    if isinstance(data, dict):
        data = data.get("quarantined", data.get("quarantine", []))
    return [entry for entry in data if isinstance(entry, dict)]


def tamper_anchor(source: Path, target: Path) -> Path:
    """A copy of an anchor file with one head hash changed."""
    text_ = source.read_text(encoding="utf-8")
    data = json.loads(text_)
    flipped = False

    def flip(node: Any) -> Any:
        nonlocal flipped
        if isinstance(node, dict):
            return {k: flip(v) if k != "hash" or flipped else _flip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [flip(item) for item in node]
        return node

    def _flip(value: Any) -> Any:
        nonlocal flipped
        flipped = True
        return ("0" if value[0] != "0" else "1") + value[1:]

    target.write_text(json.dumps(flip(data)), encoding="utf-8")
    assert flipped, f"no head hash in the anchor file: {text_[:200]}"
    return target


def snapshot_matches(original: Any, stored: Any, manifest: Any) -> bool:
    """``stored`` is ``original`` with exactly the masked values replaced."""
    expected = copy.deepcopy(original)
    for field in manifest.fields:
        path = parse_pointer(field.path)
        with contextlib.suppress(KeyError, IndexError, TypeError):
            set_at(expected, path, get_at(stored, path))
    return bool(canonical_json(expected) == canonical_json(stored))


def test_the_operations_guide_describes_this_test() -> None:
    """docs/operations.md tells how to run this test and what it does: it must
    name this file and the schedule as it is here."""
    guide = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = guide.split("## The fault-injection test", 1)[1].split("\n## ", 1)[0]
    command = section.split("```console\n", 1)[1].split("```", 1)[0]
    assert f"pytest {Path(__file__).relative_to(REPO).as_posix()}" in command
    assert WORKER.name in section
    numbers = {3: "Three", 6: "six"}
    assert f"{numbers[WORKERS]} orchestrator processes" in section
    assert f"{numbers[len(ROUNDS)]} rounds" in section
    states = ", ".join(plan.split("+")[0] for plan in ROUNDS)
    assert f"the store {states}" in " ".join(section.split())
    for limit in set(LIMITS.values()):
        assert f"`{limit}`" in section
