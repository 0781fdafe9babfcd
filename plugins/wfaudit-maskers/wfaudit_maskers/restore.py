"""Where a masked secret can be found again at retrigger time.

Only where the location makes it obvious: a secret that is an environment
variable of the workflow (an entry of an ``env`` object, or a
``{name, value}`` item of an ``env`` list) comes back from the environment
variable of the same name. Everywhere else the masker leaves the restore
reference empty and lets restorer plugins decide.
"""

from __future__ import annotations

import re

from wfaudit_hookspecs import RestoreRef

from .names import NameClass

__all__ = ["env_restore"]

_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_restore(holder: NameClass, variable: object) -> RestoreRef | None:
    """``RestoreRef(kind="env", target=variable)`` when ``holder`` names an environment block.

    :param holder: the class of the key holding the variable's object or list
        (``env``, ``extraEnvironmentVariables``).
    :param variable: the variable's name: an object key, or a pair's ``name``.
    """
    if not holder.env_block or not isinstance(variable, str) or not _ENV_VAR.fullmatch(variable):
        return None
    return RestoreRef(kind="env", target=variable)
