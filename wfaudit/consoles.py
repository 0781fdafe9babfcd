"""The console every command prints rich output with (:func:`console`), in a
leaf module: :mod:`wfaudit.tables` makes one when given none, and
:mod:`wfaudit.render` (which uses the tables) re-exports it; neither imports the
other back (tests/test_architecture.py). The only place a rich ``Console`` is made.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

__all__ = ["console"]


def console(stderr: bool = False, **options: Any) -> Console:
    """The console every command prints rich output with: markup and emoji codes
    off, so that no stored or user-supplied text is ever interpreted.

    :param options: more :class:`~rich.console.Console` options (colour, width).
    """
    # COLUMNS wins; else the terminal's width; a file or a pipe gets 160 columns,
    # wide enough for hashes and pointers (tables ignore it: see wfaudit.tables).
    if "width" not in options:
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            options["width"] = int(columns)
        elif not Console(stderr=stderr).is_terminal:
            options["width"] = 160
    return Console(stderr=stderr, soft_wrap=False, markup=False, emoji=False, **options)
