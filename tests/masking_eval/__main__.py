"""``python -m tests.masking_eval [--seed N] [--size N] [--json] [--findings N]``

Generates the requests, audits them with a real auditor (every installed plugin,
a throw-away SQLite store and home) and prints recall and over-masking per class.
Exits 1 when a secret leaked or over-masking is above 1 %.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from . import DEFAULT_SEED, DEFAULT_SIZE, Report, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.masking_eval", description=__doc__)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--findings", type=int, default=0, metavar="N", help="also list the first N findings"
    )
    parser.add_argument(
        "--misses",
        action="store_true",
        help="print, per class the engine gets wrong, a minimal request showing it (Markdown)",
    )
    parser.add_argument(
        "--update-doc",
        action="store_true",
        help="rewrite the figures of docs/secrets.md (between its masking-eval markers)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wfaudit-maskeval-") as work:
        os.environ["WFAUDIT_HOME"] = os.path.join(work, "home")
        if args.misses:
            print(_misses(args.seed, work), end="")
            return 0
        report = run(args.seed, args.size, work)
    if args.update_doc:
        _update_doc(report)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        from .evaluate import render_markdown

        print(render_markdown(report), end="")
    for finding in report.findings[: args.findings]:
        print(
            f"{finding.kind}: {finding.label} in {finding.case} ({finding.family}) at {finding.where}"
        )
    return 0 if report.leaks == 0 and report.over_masking <= 0.01 and not report.errors else 1


def _update_doc(report: Report) -> None:
    import pathlib
    import re

    from .evaluate import render_markdown

    doc = pathlib.Path(__file__).resolve().parents[2] / "docs" / "secrets.md"
    text = doc.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- masking-eval: begin -->\n).*?(<!-- masking-eval: end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit("docs/secrets.md has no masking-eval markers")
    section = render_markdown(report)
    doc.write_text(pattern.sub(lambda m: m.group(1) + section + m.group(2), text), encoding="utf-8")


def _misses(seed: int, work: str) -> str:
    import pathlib

    from wfaudit import Auditor

    from .evaluate import minimal_misses

    auditor = Auditor.from_url(f"sqlite:///{pathlib.Path(work) / 'misses.sqlite3'}", strict=True)
    try:
        found = minimal_misses(auditor, seed)
    finally:
        auditor.close()
    out = []
    for label, (case, where) in found.items():
        wrong = [p for p in case.plants if p.label == label]
        kind = "leaks" if wrong[0].kind == "secret" else "is over-masked"
        config = case.config
        if case.family == "generic":
            config = {k: val for k, val in config.items() if k not in ("job", "image", "schedule")}
        out.append(
            f"### `{label}` {kind}\n\nat {where} ({case.family} request, type {case.workflow_type}"
            f", carrier {case.source}):\n"
        )
        out.append("```json\n" + json.dumps(config, indent=2, ensure_ascii=False) + "\n```\n")
        out.append(
            "planted: "
            + ", ".join(f"`{p.value}`" if "\n" not in p.value else "(multi-line)" for p in wrong)
            + "\n"
        )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
