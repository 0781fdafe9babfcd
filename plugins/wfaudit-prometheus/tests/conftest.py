"""Fixtures of the metrics tests (``store_url`` comes from the root conftest)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from wfaudit import Auditor

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def make_auditor(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Auditor]]:
    """Auditors on the test's store with the sql, maskers and prometheus entry points."""
    opened: list[Auditor] = []

    def make(entry_points: str = "sql,maskers,prometheus", **kwargs: Any) -> Auditor:
        monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", entry_points)
        auditor = Auditor.from_url(store_url, **kwargs)
        opened.append(auditor)
        return auditor

    yield make
    for auditor in opened:
        auditor.close()


def parse(text: str) -> Samples:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the exposition does not have it (yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def scrape_text() -> Callable[[str], str]:
    """GET a metrics URL over HTTP, as Prometheus would."""
    import urllib.request

    def get(url: str) -> str:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            body: bytes = response.read()
        return body.decode()

    return get


def wait_for_line(stream: IO[str], prefix: str, *, timeout: float = 60.0) -> str:
    """The first line of ``stream`` that starts with ``prefix``, read with a deadline.

    Lines before it (warnings, log lines) are skipped. A thread reads the
    stream, and keeps draining it afterwards so the writer never blocks on a
    full pipe. Fails the test (rather than hanging it) when ``timeout`` seconds
    pass, or the stream ends, first.
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        try:
            for line in stream:
                lines.put(line)
        finally:
            lines.put(None)

    threading.Thread(target=pump, name="wait-for-line", daemon=True).start()
    deadline = time.monotonic() + timeout
    skipped: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(remaining, 0.0))
        except queue.Empty:
            pytest.fail(f"no line starting with {prefix!r} within {timeout:g} s; got {skipped!r}")
        if line is None:
            pytest.fail(f"the stream ended before a line starting with {prefix!r}; got {skipped!r}")
        if line.startswith(prefix):
            return line
        skipped.append(line)
