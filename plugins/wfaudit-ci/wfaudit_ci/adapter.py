"""Deprecated: moved to :mod:`wfaudit_hookspecs.adapters.adapter` (the adapter kit, issue #19).

Kept so that from wfaudit_ci.adapter import ... keeps working for a deprecation
period; import from ``wfaudit_hookspecs.adapters`` instead.
"""

from __future__ import annotations

from wfaudit_hookspecs.adapters.adapter import *  # noqa: F403
from wfaudit_hookspecs.adapters.adapter import __all__ as __all__
