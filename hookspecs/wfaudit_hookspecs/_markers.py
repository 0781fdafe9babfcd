"""The pluggy markers of the wfaudit project."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "wfaudit"
"""The pluggy project name and the entry point group plugins register in."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
