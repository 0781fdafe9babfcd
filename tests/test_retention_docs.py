"""docs/retention.md runs: every fenced block is run here, or is marked
``<!-- not-run: reason -->`` on the line before it.

- ``toml`` blocks are parsed and become a :class:`RetentionPolicy`;
- ``console`` blocks: each ``$ wfaudit ...`` line runs, in the page's order, on a
  store with archived, held and deleted snapshots and a local-directory archive,
  and must exit 0;
- ``python`` blocks run with a sweeper, a simulated clock and a sleep in scope.

The CronJob and systemd blocks cannot run here (not-run), but their command is
checked: ``wfaudit retention run --once``, and the unit takes exit status 75
(skipped: another run holds the lock) as a success, as the page says.
"""

from __future__ import annotations

import configparser
import datetime as dt
import pathlib
import re
import shlex
import tomllib
from collections.abc import Callable

import attrs
import pytest
import yaml
from click.testing import CliRunner

from wfaudit import Auditor
from wfaudit.archive import FileArchive
from wfaudit.cli import cli
from wfaudit.retention import RetentionPolicy, Sweeper
from wfaudit.retention_cli import BUSY_EXIT
from wfaudit.testing.clock import Clock
from wfaudit_hookspecs import TriggerRequest

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "retention.md"
FENCE = re.compile(r"^```(\S*)\s*$")
NOT_RUN = re.compile(r"^<!-- not-run: (.+\S) -->$")


@attrs.frozen
class Block:
    info: str
    text: str
    not_run: str | None
    line: int


def blocks() -> list[Block]:
    found: list[Block] = []
    lines = DOC.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        end = index + 1
        while not lines[end].startswith("```"):
            end += 1
        marker = NOT_RUN.match(lines[index - 1]) if index else None
        found.append(
            Block(
                info=match.group(1),
                text="\n".join(lines[index + 1 : end]),
                not_run=marker.group(1) if marker else None,
                line=index + 1,
            )
        )
        index = end + 1
    return found


RUNNABLE = {"toml", "console", "python"}


def test_every_block_runs_or_says_why_not() -> None:
    for block in blocks():
        if block.not_run is None:
            assert block.info in RUNNABLE, (
                f"docs/retention.md:{block.line}: a ```{block.info} block that no test runs; "
                "mark it <!-- not-run: reason --> or make it runnable"
            )
        else:
            assert len(block.not_run) > 10, f"docs/retention.md:{block.line}: say why"


def test_the_policy_blocks_are_valid_policies() -> None:
    policies = [b for b in blocks() if b.info == "toml" and b.not_run is None]
    assert policies
    for block in policies:
        table = tomllib.loads(block.text)["tool"]["wfaudit"]["retention"]
        policy = RetentionPolicy.from_options(table)
        assert policy.archive_keep == dt.timedelta(days=365)
        assert [rule.archive_keep_set for rule in policy.rules] == [False, True]


def test_the_scheduler_blocks_run_the_documented_command() -> None:
    cron = next(b for b in blocks() if b.info == "yaml" and "CronJob" in b.text)
    job = yaml.safe_load(cron.text)
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["wfaudit", "retention", "run", "--once"]
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    unit = next(b for b in blocks() if b.info == "ini")
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.read_string(unit.text)
    assert parsed["Service"]["ExecStart"].endswith("wfaudit retention run --once")
    assert parsed["Service"]["SuccessExitStatus"] == str(BUSY_EXIT)
    assert parsed["Timer"]["OnCalendar"] == "hourly"


def test_the_commands_of_the_page_run(
    make_auditor: Callable[..., Auditor],
    wfaudit_clock: Clock,
    store_url: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = tmp_path / "archive"
    monkeypatch.setenv("WFAUDIT_ARCHIVE_URL", archive.as_uri())
    auditor = make_auditor(strict=True, allow_unmasked=True)
    for n in range(6):
        auditor.audit_trigger(
            TriggerRequest(
                workflow_id=str(n),
                workflow_type="CI",
                pipeline_id="shop",
                config={"run": n},
                labels={"env": "prod" if n % 2 else "dev"},
            )
        )
        auditor.record_outcome(str(n), "CI", "failed" if n % 3 == 0 else "succeeded")
    wfaudit_clock.advance(days=120)
    commands = [
        shlex.split(line[2:], comments=True)
        for block in blocks()
        if block.info == "console" and block.not_run is None
        for line in block.text.splitlines()
        if line.startswith("$ ")
    ]
    assert len(commands) >= 8
    for command in commands:
        assert command[0] == "wfaudit"
        result = CliRunner().invoke(cli, ["--store", store_url, *command[1:]])
        assert result.exit_code == 0, (command, result.output)
    # The page's commands swept the store and listed its archive.
    assert auditor.store.last_run() is not None  # type: ignore[attr-defined]


def test_the_schedule_from_code_runs(
    make_auditor: Callable[..., Auditor], wfaudit_clock: Clock, tmp_path: pathlib.Path
) -> None:
    block = next(b for b in blocks() if b.info == "python" and b.not_run is None)
    auditor = make_auditor(strict=True, allow_unmasked=True)
    sweeper = Sweeper(
        auditor.store, RetentionPolicy(), archive=FileArchive(tmp_path / "a", fsync=False)
    )

    def sleep(seconds: float) -> None:
        wfaudit_clock.advance(seconds=seconds)

    scope = {"sweeper": sweeper, "clock": wfaudit_clock, "sleep": sleep}
    exec(compile(block.text, f"{DOC}:{block.line}", "exec"), scope)  # noqa: S102 - the page's code
    assert scope["ran"] == 3
