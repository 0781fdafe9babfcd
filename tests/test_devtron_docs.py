"""docs/devtron.md runs: its shell blocks in order in one directory, on a Devtron
table of the demo's three requests (CI 1001, pre-CD 2001, post-CD 3001) in
PostgreSQL, as Devtron stored them; then its Python block. Each line of an
output block shown after a command block must be a line of what the commands
printed (``<id>`` stands for a snapshot id; a line with ``...`` is left out)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import pathlib
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.devtron_table import DevtronTable, Row, blank_like_devtron
from wfaudit.demo import demo_requests
from wfaudit.devtron_import import encode_request
from wfaudit.testing import find_secrets

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "devtron.md"
MARKER = "<!-- run-by: tests/test_devtron_docs.py -->"
ULID = "[0-9A-HJKMNP-TV-Z]{26}"


def blocks() -> list[tuple[str, str, bool]]:
    """``(language, text, marked)`` of every fenced block of the page, in order."""
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    found, index = [], 0
    while index < len(lines):
        if lines[index].startswith("```") and lines[index] != "```":
            end = lines.index("```", index + 1)
            marked = index >= 1 and lines[index - 1] == MARKER
            found.append((lines[index][3:], "\n".join(lines[index + 1 : end]) + "\n", marked))
            index = end
        index += 1
    return found


def test_every_shell_and_python_block_is_run_here() -> None:
    for language, text, marked in blocks():
        if language in ("sh", "python"):
            assert marked, f"a {language} block of docs/devtron.md is not run:\n{text}"


@pytest.fixture
def devtron() -> Iterator[DevtronTable]:
    try:
        table = DevtronTable()
    except Exception as error:
        if os.environ.get("WFAUDIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable: {type(error).__name__}")
        pytest.skip(f"PostgreSQL unreachable: {type(error).__name__}")
    try:
        yield table
    finally:
        table.drop()


def test_the_page_runs(devtron: DevtronTable, tmp_path: pathlib.Path) -> None:
    requests = demo_requests()[:3]
    stored = [blank_like_devtron(copy.deepcopy(r.config)) for r in requests]
    when = dt.datetime(2026, 11, 20, 9, 14, tzinfo=dt.UTC)
    devtron.insert(
        Row(
            int(r.workflow_id),
            r.workflow_type,
            int(r.pipeline_id),
            encode_request(config),
            when + dt.timedelta(minutes=number),
            12,
        )
        for number, (r, config) in enumerate(zip(requests, stored, strict=True))
    )
    work = tmp_path / "work"
    work.mkdir()
    ci = requests[0].config
    (work / "run-1001.json").write_text(json.dumps(ci), encoding="utf-8")
    secrets = {
        "REGISTRY_PASSWORD": "today-registry-Pw-3391",
        "GIT_PASSWORD": ci["ciProjectDetails"][0]["gitOptions"]["password"],
        "DB_PASSWORD": ci["preCiSteps"][0]["inputVars"][1]["value"],
        "SONAR_TOKEN": ci["runtimeEnvironmentVariables"]["SONAR_TOKEN"],
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WFAUDIT_", "DEVTRON_", "WORKFLOW_", "ENABLE_WORKFLOW"))
    }
    env.update(secrets)
    env.update(
        {
            "WFAUDIT_HOME": str(tmp_path / "home"),
            "WFAUDIT_STORE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
            "WFAUDIT_DEVTRON_URL": devtron.url,
            "WFAUDIT_LOAD_PLUGINS": "sql,ci,cd,maskers,keyring",
            "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    page = blocks()
    script = "\n".join(text for language, text, marked in page if marked and language == "sh")
    shell = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = shell.stdout + shell.stderr
    assert shell.returncode == 0, output
    printed = [line.rstrip() for line in output.splitlines()]
    for language, text, _marked in page:
        if language != "text":
            continue
        for line in text.splitlines():
            if "..." in line or not line.strip():
                continue
            pattern = re.escape(line.rstrip()).replace(re.escape("<id>"), ULID)
            assert any(re.fullmatch(pattern, got) for got in printed), (line, "\n".join(printed))
    for expected in (
        "3 rows; would import 3, already present 0, refused 0 (dry run: nothing was written)",
        "3 rows; imported 3, already present 0, refused 0",
        "3 rows; imported 0, already present 3, refused 0",
        "retry policy: retry (the reason matches the retryable pattern '*pod deleted*'; "
        "retry 1 of 3)",
        "(already audited (no-op)",
    ):
        assert expected in output, (expected, output)
    assert not (work / "retrigger.json").exists()

    (python,) = [text for language, text, marked in page if marked and language == "python"]
    # The page's Python runs in the environment its shell blocks exported.
    env.update(
        {
            "DEVTRON_REGISTRY_ECR_PROD_DOCKER_PASSWORD": secrets["REGISTRY_PASSWORD"],
            "DEVTRON_GIT_1_PAYMENTS_API_PASSWORD": secrets["GIT_PASSWORD"],
            "DEVTRON_VAR_DB_PASSWORD": secrets["DB_PASSWORD"],
            "WORKFLOW_RETRIES_ENABLED": "T",
        }
    )
    ran = subprocess.run(
        [sys.executable, "-c", python],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.fullmatch(f"linked to {ULID}\n", ran.stdout), ran.stdout
    # Nothing the page printed holds a secret (the restored request was removed).
    assert not find_secrets(
        list(secrets.values()), texts=[("page output", output + ran.stdout + ran.stderr)]
    )
