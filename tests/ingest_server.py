"""A live ``wfaudit serve`` for the tests of the ingest API's clients and recipes
(tests/test_go_client.py, tests/test_recipes.py): a real subprocess on a free
loopback port, over a real store, with write and retrigger tokens.

Also the Go toolchain those tests build with: absent, its tests are skipped with
the reason, unless ``WFAUDIT_REQUIRE_GO=1`` (as in CI), where they fail.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping

import attrs
import httpx
import pytest

from wfaudit import Auditor

REPO = pathlib.Path(__file__).resolve().parent.parent
GO_MODULE = REPO / "clients" / "go"
INGEST_TOKEN = "ingest-token-0123456789abcdef"
RETRIGGER_TOKEN = "retrigger-token-0123456789abcdef"
WFAUDIT = pathlib.Path(sys.executable).parent / "wfaudit"


@attrs.frozen
class LiveServer:
    """A running ``wfaudit serve``: its base URL and the environment it runs with."""

    url: str
    store_url: str
    env: Mapping[str, str]


def ready(url: str, *, within: float = 60) -> None:
    """Wait for ``/healthz`` to answer 200."""
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "wfaudit serve did not answer"
        time.sleep(0.1)


@contextlib.contextmanager
def live_server(
    store_url: str,
    *,
    served_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: pathlib.Path | None = None,
) -> Iterator[LiveServer]:
    """Create the store at ``store_url`` and serve it (through ``served_url``, a
    proxy's URL of the same store, when given) on a free port."""
    Auditor.from_url(store_url, strict=True).close()
    env = {
        **os.environ,
        "WFAUDIT_STORE_URL": served_url or store_url,
        "WFAUDIT_INGEST_TOKEN": INGEST_TOKEN,
        "WFAUDIT_RETRIGGER_TOKEN": RETRIGGER_TOKEN,
        **(extra_env or {}),
    }
    env.pop("WFAUDIT_WEB_TOKEN", None)
    server = subprocess.Popen(
        [str(WFAUDIT), "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        match = re.search(r"(http://\S+?)/ui", line)
        assert match, line + server.stderr.read()
        ready(match[1])
        yield LiveServer(match[1], store_url, env)
    finally:
        server.kill()
        server.wait(timeout=30)


def go_toolchain() -> str:
    """The ``go`` command; skips (or, with ``WFAUDIT_REQUIRE_GO=1``, fails) without one."""
    found = shutil.which("go")
    if found is None:
        if os.environ.get("WFAUDIT_REQUIRE_GO") == "1":
            pytest.fail("WFAUDIT_REQUIRE_GO=1 but there is no `go` on PATH (apt install golang-go)")
        pytest.skip("no Go toolchain (`go` is not on PATH): the Go client is not built here")
    return found


def go_env(work: pathlib.Path) -> dict[str, str]:
    """An environment building the Go module offline, with its caches in ``work``."""
    return {
        **os.environ,
        "GOCACHE": str(work / "gocache"),
        "GOPATH": str(work / "gopath"),
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }


def go(work: pathlib.Path, *args: str, timeout: float = 600) -> str:
    """Run ``go ARGS`` in the module; its output, or the test fails with it."""
    done = subprocess.run(
        [go_toolchain(), *args],
        cwd=GO_MODULE,
        env=go_env(work),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"go {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr
