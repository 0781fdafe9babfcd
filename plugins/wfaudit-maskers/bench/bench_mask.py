"""Time the masker on ~50 KB requests (marks only, no engine).

Run: ``.venv/bin/python plugins/wfaudit-maskers/bench/bench_mask.py [runs]``.

Two requests: the fake Devtron CI request of ``tests/fakes.py`` grown to ~50 KB
(many git materials and steps), and a realistic one, the fake Devtron CI request
carrying two real GitHub Actions workflows of the corpus (tokio's ``ci.yml`` and
pytest's ``test.yml``, as ``bench/bench_audit.py`` builds it) when the corpus and
PyYAML are there. Each is timed three ways:

``repeat``
    the same request again and again (a re-run of an unchanged pipeline);
``new ids``
    every run with new commit SHAs, run ids and timestamps, as consecutive
    triggers of one pipeline differ (the strings that changed are scanned, the
    others come from the masker's cache);
``cold``
    a new masker every run: the first audit of a process (every key name
    classified, every string scanned).

Each line gives the median, p95 and p99 in milliseconds, the whole masker next
to its name rules alone (the string families off) and to a bare traversal of the
same config (the floor any walk in Python pays), so a slower machine does not
read as a slower masker.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Any

from wfaudit_hookspecs import Path, RestoreRef
from wfaudit_maskers import Masker

HERE = FilePath(__file__).resolve().parent
CORPUS = FilePath(os.environ.get("WFAUDIT_CORPUS", HERE.parents[3] / "shared" / "corpus"))
WORKFLOWS = ("github-actions/tokio-rs__tokio/ci.yml", "github-actions/pytest-dev__pytest/test.yml")
NAME_RULES_ONLY = ("pattern", "embedded", "encoded", "entropy")


class CountingContext:
    """The cheapest MaskContext: counts marks and references."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.settings: dict[str, Any] = {}
        self.masks = 0
        self.references = 0
        self.whole: set[Path] = set()
        self.reference_syntax: tuple[Any, ...] = ()

    def mask(
        self,
        path: Path,
        *,
        rule: str,
        span: tuple[int, int] | None = None,
        restore: RestoreRef | None = None,
        key: bool = False,
    ) -> None:
        self.masks += 1
        if span is None and not key:
            self.whole.add(path)

    def reference(self, path: Path, *, kind: str, name: str, rule: str = "") -> None:
        self.references += 1

    def is_masked(self, path: Path) -> bool:
        return any(path[:n] in self.whole for n in range(1, len(path) + 1))


def bare_walk(config: Any) -> None:
    stack: list[tuple[Any, Path]] = [(config, ())]
    while stack:
        node, path = stack.pop()
        items = node.items() if type(node) is dict else enumerate(node)
        for key, value in items:
            if type(value) is dict or type(value) is list:
                stack.append((value, (*path, key)))


def load_fakes() -> Any:
    spec = importlib.util.spec_from_file_location("bench_fakes", HERE.parent / "tests" / "fakes.py")
    assert spec is not None
    assert spec.loader is not None
    fakes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fakes)
    return fakes


def requests(fakes: Any) -> dict[str, dict[str, Any]]:
    out = {"fake CI request": fakes.large_ci_request()}
    try:
        import yaml
    except ImportError:
        return out
    files = [CORPUS / name for name in WORKFLOWS]
    if all(path.is_file() for path in files):
        config = fakes.devtron_ci_request()
        config["workflowDefinitions"] = [yaml.safe_load(p.read_text("utf-8")) for p in files]
        out["CI request + 2 GitHub workflows"] = config
    return out


def with_new_ids(config: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The next trigger of the same pipeline: new commits, run id and timestamps."""
    out = copy.deepcopy(config)
    for material in out.get("ciProjectDetails", []):
        material["commitHash"] = f"{rng.getrandbits(160):040x}"
        material["commitTime"] = f"2024-05-{rng.randrange(1, 29):02d}T10:00:00Z"
    out["workflowId"] = rng.randrange(10**6)
    out["workflowNamePrefix"] = f"{out['workflowId']}-ci-7-build"
    out["dockerImageTag"] = f"{rng.getrandbits(32):08x}-{out['workflowId']}"
    return out


def timings(run: Callable[[], None], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        out.append((time.perf_counter() - start) * 1e3)
    return sorted(out)


def summary(times: list[float]) -> str:
    p95 = times[int(len(times) * 0.95)]
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"median {statistics.median(times):6.3f}  p95 {p95:6.3f}  p99 {p99:6.3f}"


def bench(label: str, config: dict[str, Any], runs: int) -> None:
    masker, names_only = Masker(), Masker(disable=NAME_RULES_ONLY)
    probe = CountingContext(config)
    masker.scan(probe)  # warms the name cache and the string cache, as a first audit does
    names_only.scan(CountingContext(config))
    print(
        f"\n{label}: {len(json.dumps(config)) / 1000:.1f} KB, "
        f"{probe.masks} masks, {probe.references} references"
    )
    rng = random.Random(1)
    variants = [with_new_ids(config, rng) for _ in range(64)]
    cases: list[tuple[str, Callable[[], None], int]] = [
        ("repeat", lambda: masker.scan(CountingContext(config)), runs),
        ("repeat, name rules only", lambda: names_only.scan(CountingContext(config)), runs),
        ("new ids", lambda: masker.scan(CountingContext(variants[rng.randrange(64)])), runs),
        ("cold (new masker)", lambda: Masker().scan(CountingContext(config)), max(20, runs // 50)),
        ("bare walk", lambda: bare_walk(config), runs),
    ]
    for name, run, count in cases:
        print(f"  {name:26} {summary(timings(run, count))} ms")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    for label, config in requests(load_fakes()).items():
        bench(label, config, runs)


if __name__ == "__main__":
    main()
