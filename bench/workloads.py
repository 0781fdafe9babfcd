"""Workloads for the benchmarks.

(a) The real files of ``../shared/corpus`` and the successive versions in
    ``../shared/corpus/history`` as a stream of triggers of one evolving pipeline.
(b) A generated stream that models production (:func:`generated_stream`):
    N pipelines x M triggers; each pipeline's request is a Devtron-style CI
    request (with fake secrets) around a real workflow file of the corpus, so
    requests range from about 5 to 50 KB; each trigger repeats its pipeline's
    previous request with a new commit SHA, run id and timestamps, and now and
    then a real change (a step's script, an image tag, an environment variable).

The generator is seeded: the same (n, m, seed) gives the same stream, byte for byte.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import pathlib
import random
from collections.abc import Iterator
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = pathlib.Path(os.environ.get("WFAUDIT_CORPUS", ROOT.parent / "shared" / "corpus"))

CHANGE_PROBABILITY = 0.05
"""How often a trigger carries a real change of its pipeline's definition."""


def _load(path: pathlib.Path) -> Any:
    from wfaudit.loading import load_payload

    return load_payload(str(path))


def corpus_files() -> list[tuple[str, Any]]:
    """Every file of the corpus but the history, parsed: ``(relative name, data)``.

    A file wfaudit refuses to load (a YAML mapping with a duplicate key, say) is
    left out: it could not be audited either."""
    from wfaudit_hookspecs import WfauditError

    files = []
    for folder in ("argo-workflows", "tekton", "github-actions"):
        for path in sorted((CORPUS / folder).rglob("*.y*ml")):
            try:
                files.append((str(path.relative_to(CORPUS)), _load(path)))
            except WfauditError:
                continue
    return files


def history_series() -> dict[str, list[Any]]:
    """Each busy workflow file's successive versions, oldest first."""
    return {
        folder.name: [_load(path) for path in sorted(folder.glob("*.yml"))]
        for folder in sorted((CORPUS / "history").iterdir())
        if folder.is_dir()
    }


def _workflows_for(sized: list[tuple[int, Any]], rng: random.Random) -> list[Any]:
    """Real workflow files adding up to a size drawn log-uniformly in 5..50 KB."""
    target = int(5000 * 10 ** rng.random())
    chosen, total = [], 2500  # the Devtron fields around them weigh about 2.5 KB
    while total < target:
        size, data = rng.choice(sized)
        if total + size > 52_000 and chosen:
            break
        chosen.append(data)
        total += size
    return chosen


def _base_request(workflows: list[Any], pipeline: int, rng: random.Random) -> dict[str, Any]:
    from wfaudit.demo import demo_requests

    request = copy.deepcopy(demo_requests()[0].config)
    request["pipelineId"] = pipeline
    request["pipelineName"] = f"ci-{pipeline}-service-{pipeline % 97}"
    request["appName"] = f"service-{pipeline % 97}"
    # Secrets differ per pipeline, as real credentials would.
    request["dockerPassword"] = f"gen-docker-pw-{rng.getrandbits(64):016x}"
    request["blobStorageS3Config"]["passkey"] = f"gen/S3/{rng.getrandbits(128):032x}"
    request["runtimeEnvironmentVariables"]["SONAR_TOKEN"] = f"sqp_{rng.getrandbits(160):040x}"
    request["workflowDefinitions"] = workflows
    return request


def _real_change(request: dict[str, Any], rng: random.Random) -> None:
    choice = rng.randrange(3)
    if choice == 0:
        step = request["preCiSteps"][0]
        step["script"] = f"make test ARGS=-j{rng.randrange(2, 16)}"
    elif choice == 1:
        request["ciImage"] = f"quay.io/devtron/ci-runner:{rng.getrandbits(32):08x}"
    else:
        env = request["runtimeEnvironmentVariables"]
        env[f"FEATURE_{rng.randrange(100)}"] = rng.choice(["on", "off"])


def generated_stream(
    pipelines: int = 1000,
    triggers: int = 100,
    seed: int = 20261122,
    *,
    rotate_password: bool = False,
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Yield ``(pipeline, trigger, request)``, trigger by trigger across pipelines.

    With ``rotate_password`` every trigger carries a new registry password (drawn
    from a generator of its own, so the rest of the stream is the same either way).

    Triggers are interleaved (every pipeline's first trigger, then every
    pipeline's second, ...) as they would arrive at a busy orchestrator. The
    yielded request is the generator's own: copy it before changing it.
    """
    rng = random.Random(seed)
    rotation = random.Random(seed + 1)
    sized = [
        (len(json.dumps(data)), data) for _name, data in corpus_files() if isinstance(data, dict)
    ]
    states = [_base_request(_workflows_for(sized, rng), p, rng) for p in range(pipelines)]
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for trigger in range(triggers):
        for pipeline, request in enumerate(states):
            if trigger and rng.random() < CHANGE_PROBABILITY:
                _real_change(request, rng)
            run = trigger * pipelines + pipeline
            details = request["ciProjectDetails"][0]
            details["commitHash"] = f"{rng.getrandbits(160):040x}"
            if rotate_password:
                request["dockerPassword"] = f"gen-docker-pw-{rotation.getrandbits(64):016x}"
            details["commitTime"] = (start + dt.timedelta(minutes=run)).isoformat()
            request["workflowId"] = run
            request["workflowNamePrefix"] = f"{run}-ci-{pipeline}"
            request["dockerImageTag"] = details["commitHash"][:8] + f"-{run}"
            request["triggerTime"] = (start + dt.timedelta(minutes=run, seconds=7)).isoformat()
            yield pipeline, trigger, request
