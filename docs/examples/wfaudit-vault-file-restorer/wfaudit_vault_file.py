"""Restore masked secrets from the JSON file a Vault agent renders.

The agent writes ``{"NAME": "secret", ...}`` to the file ``WFAUDIT_VAULT_FILE``
names. A masked field whose restore reference is ``RestoreRef(kind="vault-file",
target=NAME)`` is filled from NAME; any other from its key (``/dockerPassword``),
if the file has it. What the file lacks is left to other restorers.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence

from wfaudit_hookspecs import ConfigurationError, SecretRequest, Snapshot, hookimpl

KIND = "vault-file"
VARIABLE = "WFAUDIT_VAULT_FILE"


def rendered_secrets() -> dict[str, str]:
    """The agent's file as a mapping; empty when the variable is not set."""
    path = os.environ.get(VARIABLE)
    if not path:
        return {}
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        # Name the file and the kind of problem, never its content: it holds secrets.
        raise ConfigurationError(
            f"{VARIABLE} names {path}, which cannot be read as JSON ({type(error).__name__})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{VARIABLE} names {path}, which is not a JSON object")
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


@hookimpl
def wfaudit_restore_secrets(
    snapshot: Snapshot, requests: Sequence[SecretRequest]
) -> dict[str, str]:
    """Answer each request the file has a secret for: under the target of a
    ``vault-file`` restore reference, else under the request's key (its pointer)."""
    secrets = rendered_secrets()
    answers = {}
    for request in requests:
        ours = request.restore is not None and request.restore.kind == KIND
        name = request.restore.target if ours and request.restore else request.key
        if name in secrets:
            answers[request.key] = secrets[name]
    return answers
