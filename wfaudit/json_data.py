"""The engine's reports as JSON data: one renderer each for ``wfaudit ... --json``
and the web API, so that the two never drift apart.

Only data (dicts, lists, strings, numbers): the callers dump it, the CLI with
:func:`wfaudit.render.dump_json`, the web with its JSON response. Nothing here
imports rich or the web framework.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .stats import stats_data

if TYPE_CHECKING:
    from .plugins import PluginInfo
    from .verify import VerifyReport

__all__ = ["plugins_data", "stats_data", "verify_data"]


def verify_data(report: VerifyReport) -> dict[str, Any]:
    """What :func:`wfaudit.verify.verify` found (``wfaudit verify --json``,
    ``GET /api/v1/verify``): every field of the report, findings and heads included."""
    from wfaudit_hookspecs.converter import unstructure

    data: dict[str, Any] = unstructure(report)
    return data


def plugins_data(infos: Iterable[PluginInfo], *, hook: str | None = None) -> list[dict[str, Any]]:
    """The plugins found (``wfaudit plugins --json``, ``GET /api/v1/plugins``).

    :param hook: the plugins were selected for this hook: each item also says
        its ``role`` in a call of it (``wrapper`` or ``implementation``).
    """
    import attrs

    items = [attrs.asdict(info) for info in infos]
    if hook:
        for item in items:
            item["role"] = "wrapper" if hook in item["wrappers"] else "implementation"
    return items
