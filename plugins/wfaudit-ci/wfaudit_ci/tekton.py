"""Deprecated: moved to :mod:`wfaudit_hookspecs.adapters.tekton` (the adapter kit, issue #19).

Kept so that from wfaudit_ci.tekton import ... keeps working for a deprecation
period; import from ``wfaudit_hookspecs.adapters`` instead.
"""

from __future__ import annotations

from wfaudit_hookspecs.adapters.tekton import *  # noqa: F403
from wfaudit_hookspecs.adapters.tekton import __all__ as __all__
