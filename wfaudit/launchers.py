"""Launchers: how a retrigger hands its restored request to the orchestrator.

A launcher is any callable taking the restored request (:data:`Launcher`);
:class:`FileLauncher` writes it to a private file (``wfaudit retrigger
--output``) and :class:`ExecLauncher` runs a command with it on its standard
input (``--exec``). The request holds the restored secrets: never log it.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

import attrs

from wfaudit_hookspecs import (
    Failure,
    InvalidRequest,
    Status,
    TriggerRequest,
)

__all__ = [
    "ExecLauncher",
    "FileLauncher",
    "Launcher",
    "failure_of",
    "parse_command",
    "request_document",
    "write_private",
]

Launcher = Callable[[TriggerRequest], Any]
"""Starts a workflow run from a restored request (which holds secrets: never log it)."""


def request_document(
    request: TriggerRequest, parent_workflow_id: str | None = None
) -> dict[str, Any]:
    """The restored request as JSON data, as ``--output`` and ``--exec`` hand it over.

    It holds the restored secrets.
    """
    return {
        "workflow_id": request.workflow_id,
        "workflow_type": request.workflow_type,
        "pipeline_id": request.pipeline_id,
        "trigger_kind": request.trigger_kind.value,
        "attempt": request.attempt,
        "parent_snapshot_id": request.parent,
        "parent_workflow_id": parent_workflow_id,
        "triggered_by": request.triggered_by,
        "tenant": request.tenant,
        "labels": dict(request.labels),
        "format": request.format,
        "config": request.config,
    }


def _encode(request: TriggerRequest, parent_workflow_id: str | None) -> bytes:
    document = request_document(request, parent_workflow_id)
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_private(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically.

    The bytes go to a temporary file created 0600 (``mkstemp``) in the same
    directory, are flushed to disk, and the file is renamed over ``path``: no
    reader ever sees a partial file or one with wider permissions.
    """
    directory = path.parent if str(path.parent) else pathlib.Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


@attrs.frozen
class FileLauncher:
    """Writes the restored request to a 0600 file for an orchestrator to pick up."""

    path: pathlib.Path
    parent_workflow_id: str | None = None

    def __call__(self, request: TriggerRequest) -> pathlib.Path:
        write_private(self.path, _encode(request, self.parent_workflow_id))
        return self.path


def parse_command(command: str) -> tuple[str, ...]:
    """Split a command line as a POSIX shell would, without running a shell."""
    try:
        argv = tuple(shlex.split(command))
    except ValueError as error:
        raise InvalidRequest(f"cannot parse the command: {error}") from None
    if not argv:
        raise InvalidRequest("the command is empty")
    return argv


@attrs.frozen
class ExecLauncher:
    """Runs an orchestrator command with the restored request (JSON) on its standard input.

    No shell is involved: ``argv`` is executed directly, so nothing in the
    request or the command line is interpreted. The command also gets
    ``WFAUDIT_WORKFLOW_ID``, ``WFAUDIT_WORKFLOW_TYPE``, ``WFAUDIT_ATTEMPT`` and
    ``WFAUDIT_PARENT_SNAPSHOT`` in its environment. Returns its exit status.
    """

    argv: tuple[str, ...]
    parent_workflow_id: str | None = None
    timeout: float | None = None

    def __call__(self, request: TriggerRequest) -> int:
        environment = {
            **os.environ,
            "WFAUDIT_WORKFLOW_ID": request.workflow_id,
            "WFAUDIT_WORKFLOW_TYPE": request.workflow_type,
            "WFAUDIT_ATTEMPT": str(request.attempt),
            "WFAUDIT_PARENT_SNAPSHOT": request.parent or "",
        }
        completed = subprocess.run(  # noqa: S603 - argv from the user, no shell
            list(self.argv),
            input=_encode(request, self.parent_workflow_id),
            env=environment,
            timeout=self.timeout,
            check=False,
        )
        return completed.returncode


def failure_of(returncode: int) -> Failure:
    """The outcome of an orchestrator command that exited with ``returncode`` != 0."""
    if returncode < 0:
        return Failure(status=Status.ERROR, reason=f"killed by signal {-returncode}")
    return Failure(status=Status.FAILED, reason=f"exit status {returncode}")
