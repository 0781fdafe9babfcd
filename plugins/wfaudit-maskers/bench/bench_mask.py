"""Time one masking walk over a ~50 KB fake Devtron CI request (marks only).

Run: ``.venv/bin/python plugins/wfaudit-maskers/bench/bench_mask.py [runs]``.

Prints the median and 95th percentile of ``Masker.scan`` with a context that
only counts marks, next to a bare traversal of the same config (the floor any
walk in Python pays), so a slower machine does not read as a slower masker.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path as FilePath
from typing import Any

from wfaudit_hookspecs import Path, RestoreRef
from wfaudit_maskers import Masker


class CountingContext:
    """The cheapest MaskContext: counts marks and references."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.settings: dict[str, Any] = {}
        self.masks = 0
        self.references = 0

    def mask(
        self,
        path: Path,
        *,
        rule: str,
        span: tuple[int, int] | None = None,
        restore: RestoreRef | None = None,
    ) -> None:
        self.masks += 1

    def reference(self, path: Path, *, kind: str, name: str, rule: str = "") -> None:
        self.references += 1

    def is_masked(self, path: Path) -> bool:
        return False


def bare_walk(config: Any) -> None:
    stack: list[tuple[Any, Path]] = [(config, ())]
    while stack:
        node, path = stack.pop()
        items = node.items() if type(node) is dict else enumerate(node)
        for key, value in items:
            if type(value) is dict or type(value) is list:
                stack.append((value, (*path, key)))


def timings(run: Any, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        out.append((time.perf_counter() - start) * 1e3)
    return sorted(out)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    fakes_file = FilePath(__file__).parent.parent / "tests" / "fakes.py"
    spec = importlib.util.spec_from_file_location("wfaudit_maskers_bench_fakes", fakes_file)
    assert spec is not None
    assert spec.loader is not None
    fakes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fakes)

    request = fakes.large_ci_request()
    masker = Masker()
    probe = CountingContext(request)
    masker.scan(probe)  # also warms the name cache, as every audit after the first
    print(
        f"request: {len(json.dumps(request)) / 1000:.1f} KB, "
        f"{probe.masks} masks, {probe.references} references"
    )
    for label, run in (
        ("masker.scan", lambda: masker.scan(CountingContext(request))),
        ("bare walk", lambda: bare_walk(request)),
    ):
        times = timings(run, runs)
        print(
            f"{label:12} median {statistics.median(times):.3f} ms, "
            f"p95 {times[int(len(times) * 0.95)]:.3f} ms, min {times[0]:.3f} ms"
        )


if __name__ == "__main__":
    main()
