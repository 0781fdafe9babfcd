"""The masking evaluation (``tests/masking_eval``): the generator, the scorer, and
the gate: 0 leaks and at most 1 % over-masking on the generated requests, with
every installed plugin, as docs/secrets.md publishes.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.masking_eval import (
    BENIGN_CLASSES,
    DEFAULT_SEED,
    DEFAULT_SIZE,
    SECRET_CLASSES,
    Report,
    build_case,
    evaluate,
    generate,
    render_markdown,
    run,
)
from tests.masking_eval.carriers import CORPUS, FAMILIES
from tests.masking_eval.evaluate import Scorer
from tests.masking_eval.generator import Case, Plant
from wfaudit import Auditor, hookimpl
from wfaudit_hookspecs import MaskContext
from wfaudit_hookspecs.pointer import iter_nodes

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "secrets.md"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")


# -- the generator ---------------------------------------------------------------------


def test_a_case_depends_only_on_the_seed_and_its_index() -> None:
    first = [build_case(5, i) for i in range(10)]
    again = [build_case(5, i) for i in range(10)]
    assert [json.dumps(c.config, sort_keys=True) for c in first] == [
        json.dumps(c.config, sort_keys=True) for c in again
    ]
    assert [c.plants for c in first] == [c.plants for c in again]
    other = [build_case(6, i) for i in range(10)]
    assert {p.value for c in first for p in c.secrets}.isdisjoint(
        p.value for c in other for p in c.secrets
    )


def test_every_shape_is_planted_in_every_family() -> None:
    seen: dict[str, set[str]] = collections.defaultdict(set)
    for case in generate(DEFAULT_SEED, DEFAULT_SIZE):
        for plant in case.plants:
            seen[case.family].add(plant.label)
    for family in FAMILIES:
        assert seen[family] >= {*SECRET_CLASSES, *BENIGN_CLASSES, "ordinary"}, family


def test_secrets_are_fresh_and_realistic() -> None:
    values = [p.value for case in generate(DEFAULT_SEED, 200) for p in case.secrets]
    assert len(values) == len(set(values)), "a secret value was planted twice"
    assert not any("example" in v.lower() or "fake" in v.lower() for v in values)


# -- the scorer ------------------------------------------------------------------------


class _MaskNothing:
    """A masker that finds nothing (the engine refuses to audit with no masker)."""

    @hookimpl
    def wfaudit_mask(self, context: MaskContext) -> None:
        return None


class _MaskAll:
    """Masks every string (to see over-masking counted)."""

    @hookimpl
    def wfaudit_mask(self, context: MaskContext) -> None:
        for path, value in iter_nodes(context.config):
            if path and isinstance(value, str):
                context.mask(path, rule="test.all")


class _MaskHalf:
    """Masks the first half of every planted secret's occurrence (a partial leak)."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets

    @hookimpl
    def wfaudit_mask(self, context: MaskContext) -> None:
        for path, value in iter_nodes(context.config):
            if not (path and isinstance(value, str)):
                continue
            for secret in self.secrets:
                start = value.find(secret)
                if start >= 0:
                    context.mask(path, rule="test.half", span=(start, start + len(secret) // 2))


@pytest.fixture
def cases() -> list[Case]:
    return [build_case(3, i) for i in range(10)]


def _evaluate(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, *plugins: Any, cases: list[Case]
) -> Report:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,ci,cd")
    auditor = Auditor.from_url(f"sqlite:///{tmp_path / 's.sqlite3'}", plugins=plugins, strict=True)
    try:
        return evaluate(auditor, cases, seed=3, size=len(cases))
    finally:
        auditor.close()


def test_without_maskers_every_secret_leaks_and_nothing_is_over_masked(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, cases: list[Case]
) -> None:
    report = _evaluate(tmp_path, monkeypatch, _MaskNothing(), cases=cases)
    assert not report.errors
    assert report.recall == 0.0
    assert report.leaks == sum(len(c.secrets) for c in cases)
    assert report.over_masking == 0.0


def test_masking_everything_is_counted_as_over_masking(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, cases: list[Case]
) -> None:
    report = _evaluate(tmp_path, monkeypatch, _MaskAll(), cases=cases)
    assert report.over_masking > 0.9
    # Secrets used as keys are not strings a value masker can reach: they still leak.
    leaked = {f.label for f in report.findings if f.kind == "leak"}
    assert leaked <= {"secret-as-key", "copy-punctuation"}


def test_a_partly_masked_secret_is_a_leak(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, cases: list[Case]
) -> None:
    secrets = [s for c in cases for p in c.secrets for s in (p.value, *p.forms)]
    report = _evaluate(tmp_path, monkeypatch, _MaskHalf(secrets), cases=cases)
    long_ones = [p for c in cases for p in c.secrets if min(map(len, p.cores)) >= 2 * 12]
    assert long_ones
    assert report.leaks >= len(long_ones)


def test_the_leak_report_names_the_place_never_a_secret_used_as_key() -> None:
    case = build_case(3, 0, family="generic", secret_classes=["secret-as-key"], benign_classes=[])
    stored = json.loads(json.dumps(case.config))
    where = Scorer(case, stored, "").leak(case.secrets[0])
    assert where is not None
    assert where.startswith("a key of /")
    assert case.secrets[0].value not in where


def test_a_benign_value_in_a_masked_string_is_over_masked() -> None:
    case = Case(
        id="x",
        family="generic",
        workflow_type="CI",
        source="-",
        config={"run": "echo ssh-ed25519 AAAA x", "id": "abc"},
        plants=(
            Plant("public-key-ssh", "benign", "ssh-ed25519 AAAA"),
            Plant("uuid", "benign", "abc"),
        ),
    )
    stored = {"run": "echo [masked:00] x", "id": "abc"}
    scorer = Scorer(case, stored, "")
    assert scorer.over_masked(case.plants[0]) == "/run"
    assert scorer.over_masked(case.plants[1]) is None


# -- the gate --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    """The evaluation at the published seed and size, with every installed plugin."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFAUDIT_HOME", str(tmp_path_factory.mktemp("maskeval-home")))
        patch.delenv("WFAUDIT_LOAD_PLUGINS", raising=False)
        patch.delenv("WFAUDIT_DISABLE_PLUGINS", raising=False)
        yield run(DEFAULT_SEED, DEFAULT_SIZE, tmp_path_factory.mktemp("maskeval"))


FRESH_SIZE = 300
CI_FRESH_SEED = 20261206
"""In CI, a second fixed seed besides the published one: CI stays deterministic."""


def fresh_seed() -> int:
    """A seed nobody tuned the maskers against: fixed in CI, drawn anew elsewhere
    (``WFAUDIT_MASKEVAL_SEED`` replays one), as the Hypothesis profiles do."""
    if os.environ.get("WFAUDIT_MASKEVAL_SEED"):
        return int(os.environ["WFAUDIT_MASKEVAL_SEED"])
    if os.environ.get("CI"):
        return CI_FRESH_SEED
    return random.SystemRandom().randrange(1, 2**31)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Report]]:
    seed = fresh_seed()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFAUDIT_HOME", str(tmp_path_factory.mktemp("maskeval-fresh-home")))
        patch.delenv("WFAUDIT_LOAD_PLUGINS", raising=False)
        patch.delenv("WFAUDIT_DISABLE_PLUGINS", raising=False)
        yield seed, run(seed, FRESH_SIZE, tmp_path_factory.mktemp("maskeval-fresh"))


def test_no_leak_and_little_over_masking_at_a_fresh_seed(fresh: tuple[int, Report]) -> None:
    seed, report = fresh
    replay = (
        f"seed {seed}: replay with WFAUDIT_MASKEVAL_SEED={seed} and keep what it finds "
        "as an explicit test; "
    )
    assert not report.errors, replay + f"requests the engine refused: {report.errors[:10]}"
    assert report.leaks == 0, replay + f"{report.leaks} leak(s): " + _summary(report, "secret")
    assert report.over_masking <= 0.01, (
        replay + f"over-masking {100 * report.over_masking:.1f} %: " + _summary(report, "benign")
    )


def _summary(report: Report, kind: str) -> str:
    tallies = report.secrets if kind == "secret" else report.benign
    finding = "leak" if kind == "secret" else "over-masked"
    wrong = [f"{label} {t.failed}/{t.planted}" for label, t in sorted(tallies.items()) if t.failed]
    first = [f"{f.label} in {f.case} at {f.where}" for f in report.findings if f.kind == finding]
    return "; ".join(wrong) + "\n  " + "\n  ".join(first[:10])


def test_no_planted_secret_is_stored(report: Report) -> None:
    assert not report.errors, f"requests the engine refused: {report.errors[:10]}"
    assert report.leaks == 0, f"{report.leaks} leak(s): " + _summary(report, "secret")


def test_at_most_one_percent_of_benign_values_is_masked(report: Report) -> None:
    assert report.over_masking <= 0.01, (
        f"over-masking {100 * report.over_masking:.1f} %: " + _summary(report, "benign")
    )


def test_the_published_figures_are_the_evaluations(report: Report) -> None:
    doc = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- masking-eval: begin -->\n(.*?)<!-- masking-eval: end -->", doc, re.S)
    assert match, "docs/secrets.md has no masking-eval section"
    assert match.group(1) == render_markdown(report), (
        "docs/secrets.md's masking figures are stale: run "
        "`python -m tests.masking_eval --update-doc` and commit docs/secrets.md"
    )
