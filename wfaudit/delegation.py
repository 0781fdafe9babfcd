"""Methods that hand a call to the component that owns it (the composition root's).

:class:`~wfaudit.auditor.Auditor` builds its components (reads, persisting,
replay) and offers their operations as its own methods. :func:`delegate` makes
such a method from the component's: the same name, signature and docstring (one
source for ``help()``, ``docs/gen_api.py`` and type checkers), calling the
method of the same name on the instance's component.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

__all__ = ["delegate"]

P = ParamSpec("P")
R = TypeVar("R")


def delegate(
    component: str, method: Callable[Concatenate[Any, P], R]
) -> Callable[Concatenate[Any, P], R]:
    """A method calling ``method`` (by name) on the instance's attribute ``component``.

    ``get = delegate("reads", Reads.get)`` in a class body makes ``obj.get(...)``
    call ``obj.reads.get(...)``; ``obj.get`` has ``Reads.get``'s signature and
    docstring.
    """
    name = method.__name__

    @functools.wraps(method)
    def delegation(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = getattr(getattr(self, component), name)(*args, **kwargs)
        return result

    return delegation
