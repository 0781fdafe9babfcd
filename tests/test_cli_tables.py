"""Every table of the command line follows one rule (issue 21, item 6; wfaudit.tables).

Checked as a user meets it, with ``wfaudit`` run as a real process: at 80, 100
and 160 columns (``COLUMNS``) a table fits the width, dropping the least useful
columns first, and never splits an id; piped with ``COLUMNS`` unset it is plain
text, one line per row, every value whole; ``--format tsv`` and ``--json`` give
scripts the same rows.
"""

from __future__ import annotations

import csv
import io
import json
import pathlib
import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.text import Text

from wfaudit import Auditor, render
from wfaudit.tables import Column, Rows, Shown, fit, plain_lines, rich_table, tsv_lines

WORKFLOW = "example-org/web-shop/.github/workflows/ci.yml"
PIPELINE = "ci/build-and-push"
BOX = re.compile("[─│┃━┏┗┡╇┩└┘┴]")
WIDTHS = (80, 100, 160)


def run(
    *args: str, store: str, cwd: pathlib.Path, columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.pop("WFAUDIT_LOAD_PLUGINS", None)
    env.pop("WFAUDIT_DISABLE_PLUGINS", None)
    env.update(WFAUDIT_STORE_URL=store, WFAUDIT_HOME=str(cwd / "home"), TERM="dumb")
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


@pytest.fixture
def store(store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Four CI snapshots of a pipeline whose ids hold '/', a tag and a note, and an
    archive configured (a ``file://`` directory) with one snapshot archived."""
    monkeypatch.delenv("WFAUDIT_LOAD_PLUGINS", raising=False)
    (tmp_path / "wfaudit.toml").write_text(
        f'[retention]\narchive_url = "file://{tmp_path / "archive"}"\n'
    )
    with Auditor.from_url(store_url, strict=True) as auditor:
        for n in range(1, 5):
            steps = [{"name": f"step {i}", "run": f"make {i}"} for i in range(n)]
            result = auditor.audit_trigger(
                workflow_id=f"{WORKFLOW}@run-{n}",
                workflow_type="CI",
                pipeline_id=PIPELINE,
                config={"steps": steps, "image": f"shop:{n}", "env": {"LEVEL": str(n)}},
                triggered_by="a-rather-long-user-name@example.org",
            )
            assert result.ok, result.error
    ok(run("tag", f"{WORKFLOW}@run-2:CI", "baseline", store=store_url, cwd=tmp_path))
    ok(
        run(
            "annotate",
            f"{WORKFLOW}@run-3:CI",
            "flaky",
            "--by",
            "ana",
            store=store_url,
            cwd=tmp_path,
        )
    )
    return store_url


def _ids(store: str, cwd: pathlib.Path) -> list[str]:
    return [entry["id"] for entry in json.loads(ok(run("log", "--json", store=store, cwd=cwd)))]


@pytest.mark.parametrize("width", WIDTHS)
def test_log_fits_the_width_and_never_splits_an_id(
    store: str, tmp_path: pathlib.Path, width: int
) -> None:
    shown = ok(run("log", store=store, cwd=tmp_path, columns=width))
    lines = shown.splitlines()
    assert max(cell_len(line) for line in lines) <= width, shown
    ids = _ids(store, tmp_path)
    rows = [line for line in lines if line[:26] in ids]
    assert [line[:26] for line in rows] == ids  # one line per snapshot, id whole, first
    header = lines[1]
    for column in ("id", "status", "changed"):
        assert re.search(rf"\b{column}\b", header), header
    if width >= 160:
        assert "created (UTC)" in header and "hash" in header
    # What is dropped goes by priority: the hash goes before the workflow.
    if "workflow" not in header:
        assert "hash" not in header and "pipeline" not in header


def test_log_piped_is_plain_with_every_value_whole(store: str, tmp_path: pathlib.Path) -> None:
    shown = ok(run("log", store=store, cwd=tmp_path))
    assert not BOX.search(shown) and "…" not in shown and "\x1b" not in shown
    lines = shown.splitlines()
    assert lines[0] == "Timeline"
    assert lines[1].split() == [
        "id",
        "created",
        "(UTC)",
        "type",
        "workflow",
        "pipeline",
        "kind",
        "by",
        "status",
        "attempt",
        "hash",
        "tags",
        "changed",
    ]
    ids = _ids(store, tmp_path)
    assert [line[:26] for line in lines[2:]] == ids
    for line in lines[2:]:
        assert (
            WORKFLOW in line and PIPELINE in line and "a-rather-long-user-name@example.org" in line
        )
    assert "baseline" in shown and "[1 note]" in shown


def test_log_as_tsv_has_the_rows_of_the_json(store: str, tmp_path: pathlib.Path) -> None:
    data = json.loads(ok(run("log", "--json", store=store, cwd=tmp_path)))
    tsv = ok(run("log", "--format", "tsv", store=store, cwd=tmp_path, columns=80))
    rows = list(csv.DictReader(io.StringIO(tsv), delimiter="\t"))
    assert len(rows) == len(data) == 4
    for row, entry in zip(rows, data, strict=True):
        for key in ("id", "workflow_id", "pipeline_id", "status", "changed", "content_hash"):
            assert row[key] == str(entry[key]), key
        assert row["tags"] == ", ".join(entry["tags"])
    as_json = ok(run("log", "--format", "json", store=store, cwd=tmp_path))
    assert json.loads(as_json) == data


@pytest.mark.parametrize(
    "command",
    [
        ("log",),
        ("log", "--archived"),
        ("tags",),
        ("plugins",),
        ("hold", "list", "--all"),
        ("retention", "plan", "--all"),
        ("spool", "list"),
    ],
    ids=lambda c: " ".join(c),
)
def test_every_table_command_takes_format(
    store: str, tmp_path: pathlib.Path, command: tuple[str, ...]
) -> None:
    ids = _ids(store, tmp_path)
    ok(run("archive", ids[-1], store=store, cwd=tmp_path))
    ok(run("hold", "add", "--snapshot", ids[0], "--reason", "case\t7", store=store, cwd=tmp_path))
    tsv = ok(run(*command, "--format", "tsv", store=store, cwd=tmp_path, columns=80))
    header, *rows = tsv.splitlines()
    assert "\t" in header and " " not in header  # keys, not titles
    assert all(row.count("\t") == header.count("\t") for row in rows), tsv
    for width in (80, 100):
        table = ok(run(*command, store=store, cwd=tmp_path, columns=width))
        lines = [line for line in table.splitlines() if not line.startswith("spool /")]
        assert max((cell_len(line) for line in lines), default=0) <= width, table
        for snapshot_id in ids:  # an id is shown whole or not at all
            assert not re.search(snapshot_id[:8] + r"[0-9A-Z]*…", table), table
    refused = run(*command, "--json", "--format", "tsv", store=store, cwd=tmp_path)
    assert refused.returncode == 2 and "--json and --format tsv disagree" in refused.stderr


def test_log_archived_keeps_ids_whole_at_80_columns(store: str, tmp_path: pathlib.Path) -> None:
    ids = _ids(store, tmp_path)
    for snapshot_id in ids[:2]:
        ok(run("archive", snapshot_id, store=store, cwd=tmp_path))
    shown = ok(run("log", "--archived", store=store, cwd=tmp_path, columns=80))
    assert max(cell_len(line) for line in shown.splitlines()) <= 80, shown
    assert {line[:26] for line in shown.splitlines()[2:]} == set(ids[:2])
    piped = ok(run("log", "--archived", store=store, cwd=tmp_path))
    assert all(f"{snapshot_id}.wfa" in piped for snapshot_id in ids[:2])  # the object key


@pytest.mark.parametrize("width", [80, 100])
def test_the_demo_log_step_fits(tmp_path: pathlib.Path, width: int) -> None:
    store = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    shown = ok(run("demo", "--store", store, store=store, cwd=tmp_path, columns=width))
    assert max(cell_len(line) for line in shown.splitlines()) <= width, shown
    step = shown.split("2. wfaudit log", 1)[1].split("3. wfaudit show", 1)[0]
    ids = _ids(store, tmp_path)
    assert len(ids) == 4
    assert [line[:26] for line in step.splitlines() if line[:26] in ids] == ids


# -- the rule itself ---------------------------------------------------------------------


def _rows() -> Rows:
    rows = Rows(
        [
            Column("id", "id", "id"),
            Column("when", "when", "fixed", priority=3, compact=lambda t: t[:5]),
            Column("note", "note", priority=1),
            Column("extra", "extra", priority=2),
        ],
        title="T",
    )
    rows.add("01M95KEZ19RREJQX288951HAVQ", "2026-12-06 11:58:00", "x" * 60, "y" * 30)
    rows.add("01M95KEZ11EYK5AGABWH2BX21A", "2026-12-06 11:59:00", Text("short"), None)
    return rows


def test_fit_compacts_then_drops_by_priority_then_shortens() -> None:
    rows = _rows()
    assert fit(rows, 200).shown == [0, 1, 2, 3] and not fit(rows, 200).compact
    roomy = fit(rows, 26 + 19 + 60 + 30 + 6 - 1)  # the whole table does not fit
    assert roomy.compact and roomy.shown == [0, 1, 2, 3]
    narrow = fit(rows, 60)  # every column fits once the text columns are shortened
    assert narrow.shown == [0, 1, 2, 3] and narrow.widths == [None, None, 12, 11]
    tight = fit(rows, 40)
    assert tight.shown[0] == 0 and 3 not in tight.shown and 1 not in tight.shown
    assert tight.widths[tight.shown.index(2)] == 40 - 26 - 2
    too_narrow = fit(rows, 10)  # the id is never shortened
    assert too_narrow.shown == [0] and too_narrow.widths == [None]


def test_plain_and_tsv_forms_keep_every_value() -> None:
    rows = _rows()
    rows.add("01M95KEZ0P7P5NBF7AM6QKD5T5", "t", "tab\there\nnewline \\ back", "")
    plain = plain_lines(rows)
    assert plain[0] == "T" and plain[1].split() == ["id", "when", "note", "extra"]
    assert "x" * 60 in plain[2] and plain[3].endswith("-")  # empty cells are '-'
    assert "tab\there\\nnewline \\ back" in plain[4]  # one line per row
    tsv = tsv_lines(rows)
    assert tsv[0] == "id\twhen\tnote\textra"
    assert tsv[2] == "01M95KEZ11EYK5AGABWH2BX21A\t2026-12-06 11:59:00\tshort\t"
    assert tsv[3].split("\t")[2:] == ["tab\\there\\nnewline \\\\ back", ""]
    rows.add("01M95KEZ0P7P5NBF7AM6QKD5T6", None, Shown(Text("words  [1 note]"), "words"), None)
    assert "words  [1 note]" in plain_lines(rows)[-1]
    assert tsv_lines(rows)[-1].split("\t") == ["01M95KEZ0P7P5NBF7AM6QKD5T6", "", "words", ""]


def test_no_module_builds_its_own_table() -> None:
    """Tables go through wfaudit.tables. The exceptions are views, not listings,
    marked where they are built: key-value grids and the side-by-side diff (its
    before and after values wrap by design)."""
    root = pathlib.Path(__file__).resolve().parent.parent
    sources = [*root.glob("wfaudit/**/*.py"), *root.glob("plugins/*/wfaudit_*/**/*.py")]
    offenders = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        if path.name == "tables.py" or "from rich.table import Table" not in text:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if "Table(" in line and "Table.grid" not in line and "a view" not in line:
                offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == [], offenders


_words = st.text(alphabet="abcdefghij /-.:@", min_size=0, max_size=50)


@given(
    ids=st.lists(st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26)),
    texts=st.lists(st.tuples(_words, _words, _words), min_size=1, max_size=6),
    width=st.integers(min_value=40, max_value=200),
    terminal=st.booleans(),
)
def test_a_fitted_table_fits_and_shows_each_id_whole(
    ids: list[str], texts: list[tuple[str, str, str]], width: int, terminal: bool
) -> None:
    rows = Rows(
        [
            Column("id", "id", "id"),
            Column("when", "when", "fixed", priority=4, compact=lambda t: t[5:]),
            Column("what", "what", priority=1),
            Column("who", "who", priority=3),
            Column("why", "why", priority=2, wrap=True),
        ]
    )
    for n, (what, who, why) in enumerate(texts):
        rows.add(ids[n] if n < len(ids) else None, "2026-12-06 11:58", what, who, why)
    console = render.console(width=width, force_terminal=terminal)
    with console.capture() as capture:
        console.print(rich_table(rows, fit(rows, width), terminal=terminal))
    lines = capture.get().splitlines()
    assert max(cell_len(Text.from_ansi(line).plain) for line in lines) <= width
    for snapshot_id in ids[: len(texts)]:
        assert snapshot_id in capture.get()
