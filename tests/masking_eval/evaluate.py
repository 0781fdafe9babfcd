"""Run generated requests through the real engine and score the stored snapshots.

Each case is audited by a real :class:`~wfaudit.Auditor` (strict, on a SQLite
store, with every installed plugin: the adapters and the full mask stage),
then its stored snapshot is read back and checked:

- a planted **secret leaks** when the snapshot (masked config and manifest, as
  JSON) holds it, one of the forms it was written in, any of their escaped,
  URL-encoded or base64 forms (``wfaudit.testing.secret_forms``), or any 12
  characters of its random part that the request held nowhere else; an audit
  that fails with a message holding a secret leaks too;
- a **benign** value is **over-masked** when a string of the request that held
  it no longer holds it in the snapshot.

Recall is the share of planted secrets that did not leak; over-masking the
share of benign values that were masked.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from wfaudit import Auditor
from wfaudit.testing import secret_forms
from wfaudit_hookspecs import TriggerRequest
from wfaudit_hookspecs.converter import unstructure
from wfaudit_hookspecs.pointer import to_pointer

from .generator import Case, Plant

WINDOW = 12


@attrs.frozen
class Finding:
    """A planted value the engine got wrong: a leak or an over-masking."""

    case: str
    family: str
    label: str
    kind: str
    where: str


@attrs.frozen
class Tally:
    planted: int = 0
    failed: int = 0

    def add(self, failed: bool) -> Tally:
        return Tally(self.planted + 1, self.failed + int(failed))

    @property
    def rate(self) -> float:
        return self.failed / self.planted if self.planted else 0.0


@attrs.define
class Report:
    seed: int
    size: int
    secrets: dict[str, Tally] = attrs.field(factory=dict)
    benign: dict[str, Tally] = attrs.field(factory=dict)
    families: dict[str, tuple[Tally, Tally]] = attrs.field(factory=dict)
    findings: list[Finding] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)

    def total(self, kind: str) -> Tally:
        tallies = self.secrets if kind == "secret" else self.benign
        return Tally(
            sum(t.planted for t in tallies.values()), sum(t.failed for t in tallies.values())
        )

    @property
    def leaks(self) -> int:
        return self.total("secret").failed

    @property
    def recall(self) -> float:
        return 1.0 - self.total("secret").rate

    @property
    def over_masking(self) -> float:
        return self.total("benign").rate

    def as_json(self) -> dict[str, Any]:
        def rows(tallies: dict[str, Tally]) -> dict[str, Any]:
            return {
                k: {"planted": t.planted, "failed": t.failed} for k, t in sorted(tallies.items())
            }

        return {
            "seed": self.seed,
            "size": self.size,
            "secrets": rows(self.secrets),
            "benign": rows(self.benign),
            "leaks": self.leaks,
            "recall": round(self.recall, 4),
            "over_masking": round(self.over_masking, 4),
            "errors": len(self.errors),
        }


def _strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string of a JSON value, keys included, with the path that holds it."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), str(key)
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))


def _grams(texts: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        found.update(text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1))
    return found


def _parent(node: Any, path: tuple[Any, ...]) -> Any:
    try:
        return _get(node, path[:-1])
    except (KeyError, IndexError, TypeError):
        return None


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for token in path:
        if isinstance(node, dict | list):
            node = node[token]
        else:
            raise KeyError(token)
    return node


class Scorer:
    """Scores one case's stored snapshot against what was planted in it."""

    def __init__(self, case: Case, stored: Any, manifest_text: str) -> None:
        self.case = case
        self.stored = stored
        strings = list(_strings(stored))
        self.text = json.dumps(stored, ensure_ascii=False) + manifest_text
        self.stored_strings = strings
        self.stored_grams = _grams(s for _, s in strings)
        secrets = [
            s for plant in case.secrets for s in (plant.value, *plant.forms, plant.core) if s
        ]
        background = []
        for _, text in _strings(case.config):
            for secret in sorted(secrets, key=len, reverse=True):
                text = text.replace(secret, "\0")
            background.append(text)
        self.background = _grams(background)

    def leak(self, plant: Plant) -> str | None:
        """Where ``plant`` (a secret) is found in the snapshot, or None."""
        data = self.text.encode("utf-8")
        for written in (plant.value, *plant.forms):
            for form_name, form in secret_forms(written).items():
                if form in data:
                    return self._where(form.decode("utf-8", "replace"), form_name)
        for core in plant.cores:
            for i in range(len(core) - WINDOW + 1):
                window = core[i : i + WINDOW]
                if window in self.stored_grams and window not in self.background:
                    return self._where(window, "12 characters of it")
        return None

    def _where(self, text: str, form: str) -> str:
        for path, value in self.stored_strings:
            if text in value:
                if path and str(path[-1]) == value and isinstance(_parent(self.stored, path), dict):
                    return f"a key of {to_pointer(path[:-1]) or '/'} [{form}]"
                return f"{to_pointer(path) or '/'} [{form}]"
        return f"the snapshot's manifest or an encoded form [{form}]"

    def over_masked(self, plant: Plant) -> str | None:
        """Where ``plant`` (a benign value) was masked, or None."""
        holders = [path for path, text in _strings(self.case.config) if text == plant.value]
        holders = holders or [p for p, text in _strings(self.case.config) if plant.value in text]
        for path in holders:
            try:
                value = _get(self.stored, path)
            except (KeyError, IndexError, TypeError):
                return f"{to_pointer(path)} (gone)"
            if not (isinstance(value, str) and plant.value in value) and not (
                path and path[-1] == plant.value
            ):
                return to_pointer(path)
        return None


def audit_case(auditor: Auditor, case: Case) -> tuple[Any, str] | Exception:
    request = TriggerRequest(
        workflow_id=case.id,
        workflow_type=case.workflow_type,
        pipeline_id=f"maskeval-{case.family}",
        config=case.config,
    )
    try:
        auditor.audit_trigger(request)
        snapshot = auditor.get_snapshot(case.id, case.workflow_type)
    except Exception as error:
        return error
    manifest = json.dumps(unstructure(snapshot.manifest), default=str, ensure_ascii=False)
    return snapshot.config, manifest


def evaluate(auditor: Auditor, cases: Iterable[Case], *, seed: int, size: int) -> Report:
    """Audit every case and score it; see the module's docstring."""
    report = Report(seed=seed, size=size)
    family_tallies: dict[str, list[Tally]] = collections.defaultdict(lambda: [Tally(), Tally()])
    for case in cases:
        outcome = audit_case(auditor, case)
        if isinstance(outcome, Exception):
            message = f"{type(outcome).__name__}: {outcome}"
            quoted = [p for p in case.secrets if _quotes(message, p)]
            report.errors.append(f"{case.id} ({case.family}): {type(outcome).__name__}")
            # Nothing was stored: only a secret the error message quotes is scored (a leak).
            for plant in quoted:
                report.secrets[plant.label] = report.secrets.get(plant.label, Tally()).add(True)
                report.findings.append(
                    Finding(case.id, case.family, plant.label, "leak", "the error message")
                )
            continue
        stored, manifest = outcome
        scorer = Scorer(case, stored, manifest)
        tallies = family_tallies[case.family]
        for plant in case.plants:
            where = scorer.leak(plant) if plant.kind == "secret" else scorer.over_masked(plant)
            book = report.secrets if plant.kind == "secret" else report.benign
            book[plant.label] = book.get(plant.label, Tally()).add(where is not None)
            slot = 0 if plant.kind == "secret" else 1
            tallies[slot] = tallies[slot].add(where is not None)
            if where is not None:
                kind = "leak" if plant.kind == "secret" else "over-masked"
                report.findings.append(Finding(case.id, case.family, plant.label, kind, where))
    report.families = {name: (t[0], t[1]) for name, t in sorted(family_tallies.items())}
    return report


def _quotes(message: str, plant: Plant) -> bool:
    data = message.encode("utf-8")
    return any(
        form in data
        for written in (plant.value, *plant.forms)
        for form in secret_forms(written).values()
    )


def minimal_misses(auditor: Auditor, seed: int, tries: int = 12) -> dict[str, tuple[Case, str]]:
    """For each class the engine gets wrong, the smallest generic request showing it."""
    from .generator import BENIGN_CLASSES, SECRET_CLASSES, build_case

    found: dict[str, tuple[Case, str]] = {}
    for label in [*SECRET_CLASSES, *BENIGN_CLASSES]:
        secret = label in SECRET_CLASSES
        attempts = [(family, i) for family in FAMILIES_FIRST_GENERIC for i in range(tries)]
        for family, index in attempts:
            if label in found:
                break
            case = build_case(
                seed,
                10**6 + index,
                family=family,
                secret_classes=[label] if secret else [],
                benign_classes=[] if secret else [label],
            )
            case = attrs.evolve(case, id=f"minimal-{label}-{family}-{index}")
            outcome = audit_case(auditor, case)
            if isinstance(outcome, Exception):
                found[label] = (case, f"audit failed: {type(outcome).__name__}")
                continue
            scorer = Scorer(case, *outcome)
            plants = [p for p in case.plants if p.label == label]
            wrong = [scorer.leak(p) if secret else scorer.over_masked(p) for p in plants]
            where = next((w for w in wrong if w), None)
            if where:
                found[label] = (case, where)
    return found


FAMILIES_FIRST_GENERIC = ("generic", "devtron", "argo", "tekton", "github-actions")


# -- rendering -------------------------------------------------------------------------


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f} %"


def render_markdown(report: Report) -> str:
    """The tables docs/secrets.md publishes (regenerated by ``python -m tests.masking_eval``)."""
    secret_total, benign_total = report.total("secret"), report.total("benign")
    lines = [
        f"Seed {report.seed}, {report.size} requests: "
        f"{secret_total.planted} planted secrets, {benign_total.planted} benign values.",
        "",
        "| | planted | wrong | rate |",
        "|---|---:|---:|---:|",
        f"| secrets leaked (recall {_pct(report.recall)}) | {secret_total.planted} "
        f"| {secret_total.failed} | {_pct(secret_total.rate)} |",
        f"| benign values masked (over-masking) | {benign_total.planted} "
        f"| {benign_total.failed} | {_pct(benign_total.rate)} |",
        "",
        "| secret class | planted | leaked | recall |",
        "|---|---:|---:|---:|",
    ]
    for label, tally in sorted(report.secrets.items()):
        lines.append(f"| `{label}` | {tally.planted} | {tally.failed} | {_pct(1 - tally.rate)} |")
    lines += ["", "| benign class | planted | masked | over-masking |", "|---|---:|---:|---:|"]
    for label, tally in sorted(report.benign.items()):
        lines.append(f"| `{label}` | {tally.planted} | {tally.failed} | {_pct(tally.rate)} |")
    lines += [
        "",
        "| payload family | secrets | leaked | benign | masked |",
        "|---|---:|---:|---:|---:|",
    ]
    for family, (secret, benign) in report.families.items():
        lines.append(
            f"| {family} | {secret.planted} | {secret.failed} | {benign.planted} | {benign.failed} |"
        )
    if report.errors:
        lines += ["", f"{len(report.errors)} request(s) could not be audited."]
    return "\n".join(lines) + "\n"
