"""A small, real orchestrator for the retrigger tests, run as a subprocess.

It reads a workflow request (the JSON document ``wfaudit retrigger`` hands
over: identity plus ``config``) on standard input, logs in to the "registry"
with the request's password, exports the request's environment (secrets
included) and runs the pipeline's steps one by one, each as a process of its
own (``argv`` lists, no shell). It writes what it did to
``STATE/runs/<workflow_id>.json`` (step names and outputs, never a secret) and
exits 0 on success.

Failing on purpose:

* ``--fail-first``: the first run of a pipeline fails as an infrastructure
  error (a marker file ``STATE/<pipeline>.failed-once`` remembers it did);
* ``--fail-always``: every run fails that way;
* a password or token that is not the expected one (``EXPECTED_SECRETS_SHA256``,
  the SHA-256 of ``password + "\\n" + token``) fails the login with exit 3, so a
  run with placeholders instead of restored secrets cannot succeed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

INFRASTRUCTURE_EXIT = 75
INFRASTRUCTURE_REASON = "infrastructure: runner node lost"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True, type=pathlib.Path)
    parser.add_argument("--fail-first", action="store_true")
    parser.add_argument("--fail-always", action="store_true")
    options = parser.parse_args(argv)
    request: dict[str, Any] = json.loads(sys.stdin.read())
    config = request["config"]
    runs = options.state / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "workflow_id": request["workflow_id"],
        "attempt": request.get("attempt", 1),
        "trigger_kind": request.get("trigger_kind"),
        "pipeline": config["pipeline"],
        "steps": [],
        "outputs": [],
    }

    def finish(code: int, reason: str | None = None) -> int:
        record["exit"] = code
        record["reason"] = reason
        (runs / f"{request['workflow_id']}.json").write_text(json.dumps(record), encoding="utf-8")
        return code

    if not _login(config):
        return finish(3, "registry login failed")
    marker = options.state / f"{config['pipeline']}.failed-once"
    if options.fail_always or (options.fail_first and not marker.exists()):
        marker.touch()
        return finish(INFRASTRUCTURE_EXIT, INFRASTRUCTURE_REASON)
    environment = {**os.environ, **config.get("env", {})}
    for step in config["steps"]:
        argv_step = [sys.executable if part == "python" else part for part in step["run"]]
        done = subprocess.run(
            argv_step, env=environment, capture_output=True, text=True, check=False
        )
        record["steps"].append(step["name"])
        record["outputs"].append(done.stdout.strip())
        if done.returncode != 0:
            return finish(1, f"step {step['name']} failed")
    return finish(0)


def _login(config: dict[str, Any]) -> bool:
    expected = os.environ.get("EXPECTED_SECRETS_SHA256")
    if expected is None:
        return True
    secret = config["registry"]["password"] + "\n" + config["env"]["DEPLOY_TOKEN"]
    return hashlib.sha256(secret.encode("utf-8")).hexdigest() == expected


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
