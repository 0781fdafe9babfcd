"""Deprecated: moved to :mod:`wfaudit_hookspecs.adapters.identity` (the adapter kit, issue #19).

Kept so that from wfaudit_ci.identity import ... keeps working for a deprecation
period; import from ``wfaudit_hookspecs.adapters`` instead.
"""

from __future__ import annotations

from wfaudit_hookspecs.adapters.identity import *  # noqa: F403
from wfaudit_hookspecs.adapters.identity import __all__ as __all__
