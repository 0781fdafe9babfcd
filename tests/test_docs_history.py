"""docs/history.md replayed: its example is rebuilt and every output it shows is
checked against the output of the command, so the page cannot rot.

The page's setup block (```sh) runs with bash in a fresh directory holding a
link to the repository's ``docs`` (the example's workflow files are in
docs/examples/history, as in a clone), on a fresh SQLite store; then every ``$
wfaudit ...`` line of its ```text blocks runs there, in the page's order, and
what it prints (standard output and error) must be the lines under it. What a
run generates is compared by shape: snapshot ids, times and the fingerprints
in masked placeholders are read as ``<id>``, ``<time>`` and ``[masked:<fp>]``,
and the ids (and fingerprints) of the page must map one to one onto those of
the run. A line ``...`` (or ``... (what is left out)``) stands for any number
of lines. The secrets of the example come from the environment, so the page
holds none; no output holds a byte of them. The fingerprint key is fixed, so
that the content hashes of the masked snapshots are the page's. The page's
Python block runs last, on the same store.

To regenerate the page's outputs after a change: ``python tests/test_docs_history.py``.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence

import attrs
import pytest

from wfaudit.testing import find_secrets

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "history.md"
HISTORY = ROOT / "docs" / "examples" / "history"

SECRETS = {
    # Test secrets of the example, sharing no substring of more than 2 characters.
    "OLD_PASSWORD": "k8Fq2LmZr7Wx",
    "NEW_PASSWORD": "Tz4pN9bVc1Hs",
    "OLD_TOKEN": "gh5YtR0eWq3U",
    "NEW_TOKEN": "Pd7sKj2Xa6Mn",
    "SONAR_TOKEN": "Lw9cBv4Ne8Qr",
}
# A fixed fingerprint key: the placeholders and content hashes of the example's
# masked snapshots are then those of the page (an installation has its own key).
FINGERPRINT_KEY = "5eed" * 16
PREAMBLE = 'wfaudit() { "$WFAUDIT_DOCS_PYTHON" -m wfaudit "$@"; }\n'

ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
TIME = re.compile(r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")
PLACEHOLDER = re.compile(r"\[masked:([0-9a-f]+)\]")


@attrs.frozen
class Block:
    """A fenced block of the page: its info string, its lines, where it starts."""

    info: str
    lines: tuple[str, ...]
    start: int  # the index of its first line in the page


@attrs.frozen
class Example:
    """One ``$ wfaudit ...`` line of a text block and the lines shown under it."""

    command: str
    expected: tuple[str, ...]
    block: int  # the index of its block among the page's blocks
    first: int  # the index of its first expected line within the block


def blocks(text: str) -> list[Block]:
    found, lines = [], text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].startswith("```") and lines[index] != "```":
            end = lines.index("```", index + 1)
            found.append(Block(lines[index][3:], tuple(lines[index + 1 : end]), index + 1))
            index = end
        index += 1
    return found


def setup_script(page: Sequence[Block]) -> str:
    """The page's setup: its first ```sh block."""
    return "\n".join(next(b for b in page if b.info == "sh").lines) + "\n"


def examples(page: Sequence[Block]) -> list[Example]:
    found = []
    for number, block in enumerate(page):
        if block.info != "text" or not block.lines[0].startswith("$ wfaudit "):
            continue
        starts = [i for i, line in enumerate(block.lines) if line.startswith("$ ")] + [
            len(block.lines)
        ]
        for at, end in itertools.pairwise(starts):
            found.append(Example(block.lines[at][2:], block.lines[at + 1 : end], number, at + 1))
    return found


PAGE = blocks(DOC.read_text("utf-8"))
EXAMPLES = examples(PAGE)


# -- comparing by shape -------------------------------------------------------------


def normal(line: str) -> str:
    line = ULID.sub("<id>", line.rstrip())
    return PLACEHOLDER.sub("[masked:<fp>]", TIME.sub("<time>", line))


def generated(line: str) -> list[tuple[str, str]]:
    """The ids and fingerprints of a line, in order."""
    values = [(m.start(), "id", m.group()) for m in ULID.finditer(line)]
    values += [(m.start(), "fingerprint", m.group(1)) for m in PLACEHOLDER.finditer(line)]
    return [(kind, value) for _, kind, value in sorted(values)]


def elided(line: str) -> bool:
    text = line.strip()
    return text == "..." or text.startswith("... ")


def align(expected: Sequence[str], actual: Sequence[str]) -> tuple[int, ...] | None:
    """For each expected line, the actual line it is (``-1`` for an elision),
    when the expected lines describe the actual ones."""
    want = [normal(line) for line in expected]
    got = [normal(line) for line in actual]

    @functools.cache
    def match(i: int, j: int) -> tuple[int, ...] | None:
        if i == len(want):
            return () if j == len(got) else None
        if elided(want[i]):
            for k in range(j, len(got) + 1):
                rest = match(i + 1, k)
                if rest is not None:
                    return (-1, *rest)
            return None
        if j < len(got) and want[i] == got[j]:
            rest = match(i + 1, j + 1)
            return None if rest is None else (j, *rest)
        return None

    return match(0, 0)


def shown_diff(expected: Sequence[str], actual: Sequence[str]) -> str:
    return "\n".join(
        difflib.unified_diff(
            [normal(x) for x in expected],
            [normal(x) for x in actual],
            "docs/history.md",
            "output",
            lineterm="",
        )
    )


# -- the replay ----------------------------------------------------------------------


@attrs.frozen
class Replay:
    outputs: tuple[tuple[str, ...], ...]  # one per example, in the page's order
    setup_output: str
    store_url: str
    home: pathlib.Path


def environment(home: pathlib.Path, store_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WFAUDIT_", "FORCE_COLOR", "NO_COLOR", "COLUMNS", "LINES"))
    }
    env.update(SECRETS)
    env.update(
        WFAUDIT_DOCS_PYTHON=sys.executable,
        WFAUDIT_STORE_URL=store_url,
        WFAUDIT_HOME=str(home),
        WFAUDIT_FINGERPRINT_KEY=FINGERPRINT_KEY,
        WFAUDIT_AGENT="0",  # no local agent outlives the module's commands
        TERM="dumb",
    )
    return env


def bash(script: str, cwd: pathlib.Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", PREAMBLE + script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )


def replay(where: pathlib.Path) -> Replay:
    """The page's setup, then each of its commands, in ``where`` (made empty)."""
    work, home = where / "work", where / "home"
    work.mkdir()
    (work / "docs").symlink_to(ROOT / "docs", target_is_directory=True)
    store_url = f"sqlite:///{where / 'store.sqlite3'}"
    env = environment(home, store_url)
    setup = bash("set -euo pipefail\n" + setup_script(PAGE), work, env)
    assert setup.returncode == 0, setup.stdout
    outputs = tuple(tuple(bash(e.command, work, env).stdout.splitlines()) for e in EXAMPLES)
    python = subprocess.run(
        [sys.executable, "-c", python_block(PAGE)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    assert python.returncode == 0, python.stdout
    return Replay(outputs, setup.stdout + python.stdout, store_url, home)


def python_block(page: Sequence[Block]) -> str:
    """The page's Python block (it runs on the store the commands made)."""
    return "\n".join(next(b for b in page if b.info == "python").lines) + "\n"


needs_corpus = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    return replay(tmp_path_factory.mktemp("docs-history"))


def test_the_page_has_its_setup_and_examples() -> None:
    script = setup_script(PAGE)
    assert "wfaudit trigger docs/examples/history/" in script
    folders = re.findall(r"history/([^/]+)/\$\{v", script)
    assert len(folders) == 2 and all((HISTORY / folder).is_dir() for folder in folders)
    assert (HISTORY / "SOURCES.md").is_file()
    assert len(EXAMPLES) >= 15
    assert {"$OLD_PASSWORD", "$NEW_PASSWORD", "$SONAR_TOKEN"} <= set(re.findall(r"\$\w+", script))
    text = DOC.read_text("utf-8")
    assert not find_secrets(SECRETS.values(), texts=[("docs/history.md", text)])


@needs_corpus
@pytest.mark.parametrize("number", range(len(EXAMPLES)), ids=[e.command for e in EXAMPLES])
def test_each_output_is_the_commands(replayed: Replay, number: int) -> None:
    example, actual = EXAMPLES[number], replayed.outputs[number]
    assert align(example.expected, actual) is not None, (
        f"$ {example.command}\n{shown_diff(example.expected, actual)}"
    )


def one_to_one(
    examples: Sequence[Example], outputs: Sequence[Sequence[str]]
) -> dict[tuple[str, str], str]:
    """The page's ids and fingerprints → the run's, checked one to one, over the
    lines the examples align with."""
    forward: dict[tuple[str, str], str] = {}
    backward: dict[tuple[str, str], str] = {}
    for example, actual in zip(examples, outputs, strict=True):
        matched = align(example.expected, actual)
        if matched is None:
            continue  # reported by test_each_output_is_the_commands
        for line, at in zip(example.expected, matched, strict=True):
            if at < 0:
                continue
            pairs = zip(generated(line), generated(actual[at]), strict=True)
            for (kind, shown), (_, ran) in pairs:
                assert forward.setdefault((kind, shown), ran) == ran, (kind, shown)
                assert backward.setdefault((kind, ran), shown) == shown, (kind, ran)
    return forward


def test_the_comparison_by_shape() -> None:
    """What the replay's checks accept and refuse (without running anything)."""
    ids = ["01M8SRQ2E7AGMC8105ZWSDK5QW", "01M8SRQ3E7AGMC8105ZWSDK5QX", "01M8SRQ4E7AGMC8105ZWSDK5QY"]
    ran = ["tagged " + ids[2] + " (CI 1)", "at 2026-12-01 21:00:00 UTC", "x", "y", "[masked:00ff]"]
    shown = ["tagged " + ids[0] + " (CI 1)", "at 2026-01-01 10:00:00 UTC", "...", "[masked:aa11]"]
    assert align(shown, ran) == (0, 1, -1, 4)
    assert align([*shown[:2], "... (the rest)"], ran) == (0, 1, -1)
    assert align(shown[:2], ran) is None  # lines left over
    assert align(["tagged " + ids[0] + " (CI 2)", *shown[1:]], ran) is None
    example = Example("wfaudit x", tuple(shown), 0, 1)
    assert one_to_one([example], [ran]) == {
        ("id", ids[0]): ids[2],
        ("fingerprint", "aa11"): "00ff",
    }
    # One snapshot of the page named where the run names two, or the reverse.
    other = Example("wfaudit y", ("tagged " + ids[0] + " (CI 1)",), 0, 1)
    with pytest.raises(AssertionError):
        one_to_one([example, other], [ran, ["tagged " + ids[1] + " (CI 1)"]])
    with pytest.raises(AssertionError):
        one_to_one(
            [example, Example("wfaudit z", ("tagged " + ids[1] + " (CI 1)",), 0, 1)],
            [ran, ["tagged " + ids[2] + " (CI 1)"]],
        )


@needs_corpus
def test_the_pages_ids_and_fingerprints_are_the_runs(replayed: Replay) -> None:
    """The same snapshot (or secret) wherever the page names it, and another one
    wherever the page names another: ids and fingerprints map one to one."""
    forward = one_to_one(EXAMPLES, replayed.outputs)
    assert sum(kind == "id" for kind, _ in forward) >= 9
    assert sum(kind == "fingerprint" for kind, _ in forward) >= 4


@needs_corpus
def test_no_output_and_no_stored_byte_holds_a_secret(replayed: Replay) -> None:
    texts = [("setup", replayed.setup_output)] + [
        (f"$ {e.command}", "\n".join(out))
        for e, out in zip(EXAMPLES, replayed.outputs, strict=True)
    ]
    assert not find_secrets(
        SECRETS.values(),
        database_url=replayed.store_url,
        paths=[p for p in replayed.home.rglob("*") if p.is_file()],
        texts=texts,
    )
    # The secrets were there to be masked: the diff of the example says so.
    joined = "\n".join(text for _, text in texts)
    assert "secrets: 2 changed, 1 unchanged" in joined


# -- regenerating the page -------------------------------------------------------------


def regenerate(outputs: Sequence[Sequence[str]]) -> tuple[str, list[str]]:
    """The page with each example's lines replaced by the run's (an elided
    example keeps its elisions and takes the run's lines it stands for); and
    the commands whose elided output no longer fits, left as they are."""
    lines = DOC.read_text("utf-8").splitlines()
    stale = []
    for example, actual in reversed(list(zip(EXAMPLES, outputs, strict=True))):
        start = PAGE[example.block].start + example.first
        end = start + len(example.expected)
        actual = [line.rstrip() for line in actual]
        if not any(elided(line) for line in example.expected):
            lines[start:end] = actual
            continue
        matched = align(example.expected, actual)
        if matched is None:
            stale.append(example.command)
            continue
        lines[start:end] = [
            line if at < 0 else actual[at]
            for line, at in zip(example.expected, matched, strict=True)
        ]
    return "\n".join(lines) + "\n", stale


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        result = replay(pathlib.Path(scratch))
    page, stale = regenerate(result.outputs)
    DOC.write_text(page, "utf-8")
    for command in stale:
        print(f"not regenerated (its elided output no longer fits; edit it): $ {command}")
    sys.exit(1 if stale else 0)
