"""Rewriting one benchmark's section of docs/benchmarks.md between its markers."""

from __future__ import annotations

import pathlib

BENCHMARKS_MD = pathlib.Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(name: str, title: str, section: str) -> None:
    """Replace the text between ``<!-- bench:NAME:start -->`` and its end marker
    (``section`` carries both markers), or append it under ``title``."""
    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + f"\n\n## {title}\n\n" + section + "\n"
    BENCHMARKS_MD.write_text(text, encoding="utf-8")
