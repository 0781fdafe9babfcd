"""Data is never rich markup (issue #16): stored and user-supplied text prints as it is.

Every rich view of the command line gets text that looks like markup (``[/]``
closes a tag that was never opened and made ``wfaudit show`` crash; ``[bold]``
would style; ``[masked:x]`` looks like a tag and vanished; ``:smile:`` is an
emoji code) in each field a user or a stored row controls: payload values,
pipeline id, triggered-by, labels, a status reason, annotation notes and
authors, hold reasons. Each must be shown verbatim.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfaudit import render, tables
from wfaudit_hookspecs import AuditResult

PIPELINE = "pipe[/]x"
BY = "[bold]ana[/]"
LABEL = "[masked:x]"
REASON = "boom [/] [i]"
NOTE = "[red]note[/red] [/]"
AUTHOR = "[u]bob :smile:"
HOLD_REASON = "case [/] [bold]7"
VALUES = ("[/] end", "[bold]step[/bold]", "[masked:0011]", ":smile:", "[link=x]y[/link]")


def wfaudit(*args: str, store: str, cwd: pathlib.Path) -> str:
    env = {**os.environ, "WFAUDIT_STORE_URL": store, "COLUMNS": "400"}
    result = subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    return result.stdout


def _trigger(store: str, tmp_path: pathlib.Path, workflow_id: str, value: str) -> None:
    payload = tmp_path / f"{workflow_id}.json"
    payload.write_text(
        json.dumps({"steps": [{"name": v} for v in VALUES], "changing": value, "extra": VALUES[0]})
    )
    wfaudit(
        "trigger",
        str(payload),
        "--type",
        "CI",
        "--workflow-id",
        workflow_id,
        "--pipeline-id",
        PIPELINE,
        "--triggered-by",
        BY,
        "--label",
        f"k={LABEL}",
        store=store,
        cwd=tmp_path,
    )


@pytest.fixture
def stored(store_url: str, tmp_path: pathlib.Path) -> str:
    _trigger(store_url, tmp_path, "w1", "[/] one")
    _trigger(store_url, tmp_path, "w2", "[bold] two")
    wfaudit(
        "status", "w1", "failed", "--type", "CI", "--reason", REASON, store=store_url, cwd=tmp_path
    )
    wfaudit("annotate", "w1:CI", NOTE, "--author", AUTHOR, store=store_url, cwd=tmp_path)
    wfaudit(
        "hold",
        "add",
        "--pipeline",
        PIPELINE,
        "--reason",
        HOLD_REASON,
        store=store_url,
        cwd=tmp_path,
    )
    return store_url


def _assert_verbatim(output: str, *texts: str) -> None:
    missing = [text for text in texts if text not in output]
    assert not missing, f"not shown verbatim: {missing}\n{output}"


def test_show_prints_stored_text_verbatim(stored: str, tmp_path: pathlib.Path) -> None:
    output = wfaudit("show", "w1:CI", store=stored, cwd=tmp_path)
    _assert_verbatim(output, PIPELINE, BY, LABEL, REASON, NOTE, AUTHOR, *VALUES, "[/] one")


def test_log_and_diff_print_stored_text_verbatim(stored: str, tmp_path: pathlib.Path) -> None:
    _assert_verbatim(wfaudit("log", store=stored, cwd=tmp_path), PIPELINE, BY)
    for view in ("unified", "side-by-side"):
        output = wfaudit("diff", "w1:CI", "w2:CI", "--view", view, store=stored, cwd=tmp_path)
        _assert_verbatim(output, "[/] one", "[bold] two", PIPELINE)


def test_retention_views_print_stored_text_verbatim(stored: str, tmp_path: pathlib.Path) -> None:
    _assert_verbatim(wfaudit("hold", "list", store=stored, cwd=tmp_path), HOLD_REASON, PIPELINE)
    _assert_verbatim(wfaudit("retention", "plan", "--all", store=stored, cwd=tmp_path), PIPELINE)


@pytest.mark.parametrize("text", [*VALUES, REASON, NOTE, AUTHOR])
def test_render_views_never_parse_markup_even_on_a_markup_console(text: str) -> None:
    """The views build Text cells, so they hold even on a console with markup on."""
    result = AuditResult(ok=False, error=text)
    console = Console(width=300, record=True, markup=True, emoji=True)
    rows = render.audit_rows([(text, text, result)])
    console.print(tables.rich_table(rows, tables.fit(rows, 300), terminal=True))
    table = Table(title="t")
    table.add_column("c")
    render.add_row(table, text)
    console.print(table)
    assert console.export_text().count(text) == 4  # type, workflow, error; the row


def test_the_cli_console_has_markup_and_emoji_off() -> None:
    console = render.console(record=True, width=300)
    console.print("[/] [bold]x[/bold] :smile: [masked:1]")
    console.print(Text("ok"))
    assert console.export_text() == "[/] [bold]x[/bold] :smile: [masked:1]\nok\n"


def test_no_other_module_makes_a_console_or_parses_markup() -> None:
    """Every rich output goes through render.console (markup off): a module that
    built its own Console, or parsed markup on purpose, could print data as markup."""
    root = pathlib.Path(__file__).resolve().parent.parent
    sources = [*root.glob("wfaudit/**/*.py"), *root.glob("plugins/*/wfaudit_*/**/*.py")]
    assert len(sources) > 20
    offenders = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for needle in ("Console(", "from_markup", "markup=True", "rich.print", "render_markup"):
            if needle in text and path.name not in ("render.py", "consoles.py"):
                offenders.append(f"{path.relative_to(root)}: {needle}")
    assert not offenders, offenders
