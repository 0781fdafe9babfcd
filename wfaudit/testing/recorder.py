"""A recorder of every hook call, with its arguments and result (like pytest's
``HookRecorder``), built on pluggy's hook call monitoring."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import pluggy

from wfaudit.words import plural

__all__ = ["HookCall", "HookRecorder"]


@attrs.frozen
class HookCall:
    """One call of a hook: its name, the plugins called, arguments and outcome.

    The arguments and result may hold secrets (a request's config, restored
    values): this is for assertions in tests, never for logs.
    """

    name: str
    plugins: tuple[str, ...]
    kwargs: Mapping[str, Any] = attrs.field(repr=False)
    result: Any = attrs.field(default=None, repr=False)
    exception: BaseException | None = None


class HookRecorder:
    """Records the hook calls of a plugin manager until :meth:`close`."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.calls: list[HookCall] = []
        self._pending: list[tuple[str, tuple[str, ...], Mapping[str, Any]]] = []
        self._undo = pm.add_hookcall_monitoring(self._before, self._after)

    def _before(
        self, name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
    ) -> None:
        self._pending.append((name, tuple(i.plugin_name for i in impls), dict(kwargs)))

    def _after(
        self,
        outcome: pluggy.Result[Any],
        name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        _, plugins, recorded = self._pending.pop()
        self.calls.append(
            HookCall(
                name=name,
                plugins=plugins,
                kwargs=recorded,
                result=None if outcome.exception else outcome.get_result(),
                exception=outcome.exception,
            )
        )

    def of(self, name: str) -> list[HookCall]:
        """The recorded calls of one hook, in order."""
        return [call for call in self.calls if call.name == name]

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def assert_called(self, name: str, times: int | None = None) -> list[HookCall]:
        calls = self.of(name)
        if not calls or (times is not None and len(calls) != times):
            seen = ", ".join(self.names()) or "no hook at all"
            wanted = plural(times, "time") if times is not None else "at least once"
            raise AssertionError(
                f"{name} was called {plural(len(calls), 'time')}, wanted {wanted}; calls: {seen}"
            )
        return calls

    def clear(self) -> None:
        self.calls.clear()

    def close(self) -> None:
        self._undo()
