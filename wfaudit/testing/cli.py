"""Running the ``wfaudit`` command in the test's process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from click.testing import Result

__all__ = ["invoke_cli"]


def invoke_cli(args: Sequence[str], **options: Any) -> Result:
    """Run ``wfaudit ARGS`` in this process through click's ``CliRunner`` and
    return its result (``exit_code``, ``output``...), with the plugins' commands
    as the installed ``wfaudit`` has them.

    :param options: more :meth:`click.testing.CliRunner.invoke` options (``input``,
        ``env``, ``catch_exceptions``).
    """
    from click.testing import CliRunner

    from wfaudit.cli import cli

    return CliRunner().invoke(cli, list(args), **options)
