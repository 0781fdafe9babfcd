"""Every Python and shell block of the docs runs in the suite, or says why not.

The collector reads every fenced block of README.md, docs/ (all pages, under
every folder) and the packages' READMEs. A block in Python or a shell language
(``python``, ``sh``, ``console`` ...; see :data:`RUNNABLE`) must carry one of
the markers of docs/writing-docs.md on a line before it (blank lines and other
HTML comments may come between):

``<!-- run -->``
    this test runs it: the page's ``run`` blocks run in the page's order in one
    scratch directory (``docs`` in it is the repository's docs/, so paths are
    those of a clone's root), with one fresh ``WFAUDIT_HOME``, no ``WFAUDIT_*``
    variable of the caller, and this interpreter's ``wfaudit``/``python`` first
    on ``PATH``. Python blocks run each in a new interpreter; shell blocks in
    ``bash -euo pipefail``; a ``console`` block runs its ``$ `` lines.
``<!-- run-by: PATH -->``
    another test (or CI script) at PATH runs it; PATH must exist and name the
    page.
``<!-- not-run: REASON -->``
    it cannot run in the suite (it needs a production database, a cluster, a
    publishing account ...), and REASON says so.

A page replayed block by block by its own test says so once, anywhere on the
page: ``<!-- page: run-by: PATH -->`` (or ``<!-- page: not-run: REASON -->``
for a generated reference of signatures); a block's own marker wins.

Every fence also needs a language (``text`` for output and diagrams), so that
no command hides in an unlabelled block.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import attrs
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

RUNNABLE = frozenset({"python", "py", "pycon", "sh", "bash", "shell", "console", "zsh"})
"""The languages whose blocks must run or be marked."""

MARKER = re.compile(r"^<!--\s*(?P<kind>run|run-by|not-run)\s*(?::\s*(?P<arg>.*?))?\s*-->$")
PAGE_MARKER = re.compile(r"^<!--\s*page:\s*(?P<kind>run-by|not-run)\s*:\s*(?P<arg>.*?)\s*-->$")
COMMENT = re.compile(r"^<!--.*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,})(?P<info>[^`]*)$")


@attrs.frozen
class Block:
    """A fenced block of a page."""

    page: str  # the page's path from the repository's root
    line: int  # the line of its opening fence, from 1
    language: str
    text: str
    kind: str | None  # "run", "run-by", "not-run", or None (unmarked)
    arg: str  # the path of run-by, the reason of not-run

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line} ({self.language or 'no language'})"


def pages() -> list[pathlib.Path]:
    """Every page the collector reads."""
    found = {ROOT / "README.md", *ROOT.glob("hookspecs/*.md"), *ROOT.glob("plugins/*/README.md")}
    found.update(ROOT.glob("docs/**/*.md"))
    return sorted(p for p in found if ".venv" not in p.parts)


def parse(text: str, page: str) -> list[Block]:
    """The fenced blocks of a page with their markers (a page marker for the rest)."""
    lines = text.splitlines()
    default: tuple[str | None, str] = (None, "")
    for line in lines:
        match = PAGE_MARKER.match(line.strip())
        if match:
            default = (match["kind"], match["arg"])
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = index + 1  # a fence of four backticks may hold fences of three
        while end < len(lines) and lines[end].strip() != fence["ticks"]:
            end += 1
        if end == len(lines):
            raise AssertionError(f"{page}:{index + 1}: a fence that is never closed")
        kind, arg = default
        before = index - 1  # back over blank lines and other comments to a marker
        while before >= 0 and (not lines[before].strip() or COMMENT.match(lines[before].strip())):
            marker = MARKER.match(lines[before].strip())
            if marker:
                kind, arg = marker["kind"], marker["arg"] or ""
                break
            before -= 1
        body = textwrap.dedent("\n".join(lines[index + 1 : end])) + "\n"
        language = (fence["info"].split() or [""])[0].strip("{}.").lower()  # `python title=x`
        blocks.append(Block(page, index + 1, language, body, kind, arg))
        index = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [
        block
        for path in pages()
        for block in parse(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    ]


def problems(blocks: list[Block]) -> list[str]:
    """What is wrong with the blocks' markers: one line each."""
    found = []
    for block in blocks:
        name = pathlib.PurePosixPath(block.page).name
        if not block.language:
            found.append(f"{block.where}: give the block a language (`text` for output)")
        elif block.kind is None and block.language in RUNNABLE:
            found.append(f"{block.where}: neither run nor marked (see docs/writing-docs.md)")
        elif block.kind == "not-run" and len(block.arg) < 10:
            found.append(f"{block.where}: `not-run` needs a reason")
        elif block.kind == "run-by":
            runner = ROOT / block.arg
            if not block.arg or not runner.is_file():
                found.append(f"{block.where}: run-by names no file of the repository")
            elif name not in runner.read_text(encoding="utf-8"):
                found.append(f"{block.where}: {block.arg} does not name {name}")
        elif block.kind == "run" and block.language not in RUNNABLE:
            found.append(f"{block.where}: only Python and shell blocks can `run`")
    return found


def test_every_python_and_shell_block_runs_or_says_why_not() -> None:
    found = problems(all_blocks())
    assert not found, "\n".join(found)


def test_the_collector_finds_what_is_wrong() -> None:
    """The rules above on a made-up page: an unmarked block, a marker too far, no reason."""
    page = textwrap.dedent(
        """\
        <!-- run -->
        ```python
        print(1)
        ```
        Some words.
        ```sh
        rm -rf /
        ```
        <!-- not-run: -->

        ```console
        $ wfaudit log
        ```
        <!-- run-by: conftest.py -->
           ```bash
           echo indented
           ```
        <!-- not-run: because it needs a cluster -->
        Words between.
        ```Py title="a.py"
        x = 1
        ```
        ```
        bare
        ```
        ```text
        output needs nothing
        ```
        <!-- run-by: tests/no_such_test.py -->
        ```sh
        true
        ```
        """
    )
    blocks = parse(page, "docs/made-up.md")
    assert [(b.language, b.kind) for b in blocks] == [
        ("python", "run"),
        ("sh", None),
        ("console", "not-run"),
        ("bash", "run-by"),
        ("py", None),
        ("", None),
        ("text", None),
        ("sh", "run-by"),
    ]
    assert blocks[3].text == "echo indented\n"
    assert [line.split(":", 2)[1].split()[0] for line in problems(blocks)] == [
        "6",  # unmarked
        "11",  # a marker without a reason
        "15",  # run by a file that does not name made-up.md
        "20",  # the marker is not on the line before
        "23",  # no language
        "30",  # run by a file that does not exist
    ]
    nested = parse("````text\n<!-- run -->\n```sh\nfalse\n```\n````\n", "p.md")
    assert [(b.language, b.kind, b.text) for b in nested] == [
        ("text", None, "<!-- run -->\n```sh\nfalse\n```\n")
    ]
    marked = parse("<!-- page: not-run: a generated reference -->\n```python\nx\n```\n", "p.md")
    assert marked[0].kind == "not-run" and not problems(marked)


def test_the_convention_is_documented() -> None:
    guide = (ROOT / "docs" / "writing-docs.md").read_text(encoding="utf-8")
    for marker in ("<!-- run -->", "<!-- run-by: ", "<!-- not-run: ", "<!-- page: "):
        assert marker in guide
    assert "tests/test_docs_blocks.py" in guide


# -- running the `run` blocks --------------------------------------------------------


def runnable_pages() -> list[str]:
    return sorted({b.page for b in all_blocks() if b.kind == "run"})


def environment(home: pathlib.Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WFAUDIT_", "FORCE_COLOR", "NO_COLOR", "COLUMNS", "LINES"))
    }
    bindir = str(pathlib.Path(sys.executable).parent)
    scratch = home.parent / "tmp"  # what the blocks (the demo) put in a temporary directory
    scratch.mkdir(exist_ok=True)
    env.update(
        TMPDIR=str(scratch),
        WFAUDIT_HOME=str(home),
        PATH=bindir + os.pathsep + env.get("PATH", ""),
        TERM="dumb",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def command(block: Block, script: pathlib.Path) -> list[str]:
    if block.language in {"python", "py"}:
        script.write_text(block.text, encoding="utf-8")
        return [sys.executable, str(script)]
    if block.language == "console":
        lines = [line[2:] for line in block.text.splitlines() if line.startswith("$ ")]
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        script.write_text(block.text, encoding="utf-8")
    return ["bash", "-euo", "pipefail", str(script)]


def run(
    argv: list[str], cwd: pathlib.Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )


def run_page(page: str, tmp_path: pathlib.Path, first: list[str] | None = None) -> None:
    """The page's ``run`` blocks, in order, in a scratch directory (after the
    command ``first``, if given)."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    (work / "docs").symlink_to(ROOT / "docs", target_is_directory=True)
    env = environment(home)
    if first:
        done = run(first, work, env)
        assert done.returncode == 0, done.stdout[-4000:]
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = [b for b in parse(text, page) if b.kind == "run"]
    for number, block in enumerate(blocks):
        done = run(command(block, tmp_path / f"block-{number}.{block.language}"), work, env)
        assert done.returncode == 0, f"{block.where} failed:\n{block.text}\n{done.stdout[-4000:]}"


@pytest.mark.parametrize("page", runnable_pages())
def test_the_run_blocks_of_the_page_run_as_written(page: str, tmp_path: pathlib.Path) -> None:
    run_page(page, tmp_path)


def test_the_readme_runs_in_order_after_the_demo(tmp_path: pathlib.Path) -> None:
    """A newcomer runs the demo (the first command), then the README's examples,
    which use the demo's ids (workflow 1001, pipeline 7): the demo kept to its
    own store, so they run as written on the fresh default store."""
    first = (ROOT / "README.md").read_text(encoding="utf-8").split("```sh\n", 1)[1]
    assert first.splitlines()[0].endswith("&& .venv/bin/wfaudit demo")
    env_home = tmp_path / "home"
    run_page("README.md", tmp_path, first=[sys.executable, "-m", "wfaudit", "demo"])
    assert (env_home / "wfaudit.sqlite3").is_file()  # the examples' store: the default one
    listed = run(
        [sys.executable, "-m", "wfaudit", "log", "--json"], tmp_path / "work", environment(env_home)
    )
    assert listed.returncode == 0, listed.stdout
    assert sorted(r["workflow_id"] for r in json.loads(listed.stdout)) == ["1001", "1002"]


# -- what the pages point at -------------------------------------------------------------

UNPUBLISHED = re.compile(r"pip install\s+(?:-[-\w]+\s+)*(?P<name>wfaudit[-\w\[\],]*)")
LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?:#[^)]*)?\)")
NAMED_PAGE = re.compile(r"`(?P<name>[\w./-]+\.md)`")


def test_no_page_installs_a_package_by_an_unpublished_name() -> None:
    """The packages are not on PyPI: a page installs them from a clone's folders."""
    found = [
        f"{path.relative_to(ROOT)}: pip install {match['name']}"
        for path in pages()
        for match in UNPUBLISHED.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, "\n".join(found)


def test_every_link_and_named_page_exists() -> None:
    """A relative link resolves from its page; a page named in backticks
    (`history.md`, `docs/retention.md`) exists in the repository."""
    names = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    missing = []
    for path in pages():
        text = path.read_text(encoding="utf-8")
        for match in LINK.finditer(text):
            target = match["target"]
            if re.match(r"^[a-z][a-z+.-]*:", target):
                continue  # https:, mailto:
            if not (path.parent / target).exists():
                missing.append(f"{path.relative_to(ROOT)}: link {target}")
        for match in NAMED_PAGE.finditer(text):
            name = match["name"]
            exists = (ROOT / name).exists() or (path.parent / name).exists()
            if not exists and pathlib.PurePosixPath(name).name not in names:
                missing.append(f"{path.relative_to(ROOT)}: names {name}")
    assert not missing, "\n".join(missing)
