"""The masking evaluation: generated requests with planted secrets and benign
look-alikes (``generator``), audited by the real engine and scored (``evaluate``).

``python -m tests.masking_eval`` prints the figures docs/secrets.md publishes;
``tests/test_masking_eval.py`` asserts 0 leaks and at most 1 % over-masking.
"""

from __future__ import annotations

import os
import pathlib

from .evaluate import Report, evaluate, render_markdown
from .generator import BENIGN_CLASSES, SECRET_CLASSES, Case, Plant, build_case, generate

DEFAULT_SEED = 17
DEFAULT_SIZE = 1000

__all__ = [
    "BENIGN_CLASSES",
    "DEFAULT_SEED",
    "DEFAULT_SIZE",
    "SECRET_CLASSES",
    "Case",
    "Plant",
    "Report",
    "build_case",
    "evaluate",
    "generate",
    "render_markdown",
    "run",
]


def run(seed: int, size: int, workdir: str | os.PathLike[str]) -> Report:
    """Generate and evaluate ``size`` requests on a fresh SQLite store in ``workdir``.

    The auditor loads every installed plugin (``WFAUDIT_LOAD_PLUGINS`` unset);
    ``WFAUDIT_HOME`` must point to a throw-away home (the caller's business).
    """
    from wfaudit import Auditor

    store = pathlib.Path(workdir) / "maskeval.sqlite3"
    auditor = Auditor.from_url(f"sqlite:///{store}", strict=True)
    try:
        return evaluate(auditor, generate(seed, size), seed=seed, size=size)
    finally:
        auditor.close()
