"""Benchmark (and the done-when check of issue #22): 10,000 Devtron rows in one command.

On PostgreSQL: Devtron's ``workflow_config_snapshot`` table (its migration, in a
throw-away schema) holds N realistic rows (tests/devtron_table.py: CI, pre-CD
and post-CD requests of 40 pipelines as Devtron's sanitiser leaves them, encoded
by Go as Devtron encodes them); ``wfaudit import devtron --from ...`` runs once as
a whole process into a fresh PostgreSQL store, with its progress bar on a
pseudo-terminal, then again (nothing new: every row already present). Then every
imported snapshot is checked: it masks at least what Devtron masked (each of
Devtron's eight fields is masked, or recorded as blanked at the source), no
planted secret is anywhere in the store, a sample is diffed, and one is
retriggered with the Devtron restore profile (``restore-map --check`` exit 0).

    python bench/bench_devtron_import.py [--rows 10000]

Prints the figures and writes bench/results/devtron_import.json. The test of
the same path on a few dozen rows is tests/test_devtron_import.py; this one is
a bench because 10,000 rows take minutes on the shared 2-core machine (the
store's transaction per snapshot dominates).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import pty
import random
import secrets
import select
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PG = "postgresql://postgres@127.0.0.1:5432/test"
PLUGINS = "sql,ci,cd,maskers,keyring"


def _run_on_tty(argv: list[str], env: dict[str, str]) -> tuple[int, str, str, float]:
    """Run ``argv`` with its standard error on a pseudo-terminal (the progress bar)."""
    leader, follower = pty.openpty()
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    tty = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                chunk = b""
            if not chunk and process.poll() is not None:
                break
            tty.extend(chunk)
        elif process.poll() is not None:
            break
    out = process.stdout.read().decode() if process.stdout else ""
    process.wait()
    os.close(leader)
    return process.returncode, out, tty.decode(errors="replace"), time.perf_counter() - start


def run(rows: int) -> dict[str, Any]:
    import psycopg

    from tests.devtron_table import (
        BLANKED,
        DevtronTable,
        GoEncoder,
        realistic_requests,
        rows_of,
    )
    from wfaudit import Auditor
    from wfaudit.retrigger import BLANKED_AT_SOURCE
    from wfaudit.testing import find_secrets
    from wfaudit_hookspecs import SecretRequest
    from wfaudit_keyring.devtron import names as profile_names

    work = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-devtron-bench-"))
    env = {**os.environ, "WFAUDIT_HOME": str(work / "home"), "WFAUDIT_LOAD_PLUGINS": PLUGINS}
    os.environ.update({k: env[k] for k in ("WFAUDIT_HOME", "WFAUDIT_LOAD_PLUGINS")})
    schema = f"wfa_bench_{secrets.token_hex(4)}"
    admin = psycopg.connect(PG, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    store = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    table = DevtronTable()
    results: dict[str, Any] = {"rows": rows}
    try:
        start = time.perf_counter()
        planted = list(realistic_requests(rows))
        table.insert(rows_of(planted, GoEncoder(work)))
        results["prepare_s"] = round(time.perf_counter() - start, 1)

        argv = [sys.executable, "-m", "wfaudit", "import", "devtron"]
        argv += ["--from", table.url, "--store", store]
        code, out, tty, seconds = _run_on_tty(argv, env)
        assert code == 0, (code, out, tty[-2000:])
        results["import_s"] = round(seconds, 1)
        results["rows_per_s"] = round(rows / seconds, 1)
        results["summary"] = out.strip()
        results["progress_bar_seen"] = "importing Devtron rows" in tty
        code, out, _tty, seconds = _run_on_tty(argv, env)
        assert code == 0 and f"already present {rows:,}" in out, out
        results["rerun_s"] = round(seconds, 1)

        start = time.perf_counter()
        with Auditor.from_url(store, strict=True) as auditor:
            checked = fields = 0
            unmapped: list[tuple[int, str]] = []
            for p in planted:
                record = auditor.store.get_record(
                    workflow_id=str(p.workflow_id), workflow_type=p.workflow_type
                )
                assert record is not None
                snapshot = auditor.load(record)
                for path in BLANKED:
                    holder: Any = snapshot.config
                    for key in path:
                        holder = holder.get(key) if isinstance(holder, dict) else None
                    if holder is None:
                        continue
                    pointer = "/" + "/".join(path)
                    field = snapshot.manifest.field_at(pointer)
                    assert field is not None, (p.workflow_id, pointer)
                    assert holder.startswith("[masked:") or (
                        holder == "" and field.rule == BLANKED_AT_SOURCE
                    )
                # Retriggerable with the profile: every masked field has a source by
                # convention (the profile's names, or the masker's env reference).
                for field in snapshot.manifest.fields:
                    request = SecretRequest.from_field(field)
                    if field.restore is None and not profile_names(snapshot, request):
                        unmapped.append((p.workflow_id, field.key))
                fields += len(snapshot.manifest.fields)
                text = json.dumps(snapshot.config)
                assert not any(secret in text for secret in p.secrets), p.workflow_id
                checked += 1
            results["snapshots_checked"] = checked
            results["masked_fields"] = fields
            results["masked_fields_without_a_conventional_source"] = len(unmapped)
            assert not unmapped, unmapped[:10]
            # Every table, every form (plain, escaped, base64 ...), for a sample of
            # the planted secrets (the full scan is quadratic: minutes per thousand).
            planted_secrets = sorted({s for p in planted for s in p.secrets})
            sample = random.Random(7).sample(planted_secrets, min(100, len(planted_secrets)))
            findings = find_secrets(sample, database_url=store)
            results["secrets_planted"] = len(planted_secrets)
            results["secrets_scanned_in_every_table"] = len(sample)
            results["secrets_found_in_store"] = len(findings)
            assert not findings
            ci = [p for p in planted if p.workflow_type == "CI"]
            diff = auditor.diff(f"{ci[0].workflow_id}:CI", f"{ci[1].workflow_id}:CI")
            results["sample_diff_changes"] = len(diff.changes)
        results["check_s"] = round(time.perf_counter() - start, 1)

        # Retriggerable with the Devtron restore profile: restore-map --check passes
        # once today's secrets are where the profile looks.
        one = ci[0]
        request = one.request
        env.update(
            {
                "DEVTRON_GIT_1_PAYMENTS_API_PASSWORD": request["ciProjectDetails"][0]["gitOptions"][
                    "password"
                ],
                "DEVTRON_VAR_DB_PASSWORD": request["preCiSteps"][0]["inputVars"][1]["value"],
                "SONAR_TOKEN": request["runtimeEnvironmentVariables"]["SONAR_TOKEN"],
                "DEVTRON_REGISTRY_ECR_PROD_DOCKER_PASSWORD": "bench-registry-pw",
            }
        )
        check = subprocess.run(
            [
                *(sys.executable, "-m", "wfaudit", "restore-map", "--check"),
                *(f"{one.workflow_id}:CI", "--store", store),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        results["restore_map_check"] = check.stdout.strip().splitlines()[-1]
    finally:
        table.drop()
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    results = run(args.rows)
    results["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = json.dumps(results, indent=2)
    print(text)
    if args.rows == 10_000:  # the done-when figure; smaller runs only print
        (HERE / "results" / "devtron_import.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
