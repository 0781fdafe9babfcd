"""The restorer: finds the current value of each masked secret a retrigger needs.

For every :class:`~wfaudit_hookspecs.SecretRequest` it tries the sources that
:meth:`RestoreSettings.sources` lists, most specific first, and answers with the
first value found. It answers nothing for a secret it cannot find: the engine
then refuses the retrigger with ``SecretsUnavailable`` naming the missing paths.
It never guesses (no fuzzy matching of names, no placeholder values) and never
logs a value: log lines name the key and where it came from.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import keyring
import keyring.errors

from wfaudit_hookspecs import SecretRequest, Snapshot, hookimpl

from .settings import RestoreSettings, Source

__all__ = ["Restorer", "restore"]

log = logging.getLogger("wfaudit.keyring")


class Restorer:
    """A configured restorer; an instance is a wfaudit plugin on its own.

    :param keyring: ``{pointer or pattern: "service/username"}``.
    :param env: ``{pointer or pattern: "VARIABLE"}``.
    :param keyring_service: look unmapped secrets up as ``(service, key)``.

    The ``keyring`` entry point registers :mod:`wfaudit_keyring.plugin`, which
    reads the ``[tool.wfaudit.restore]`` settings at each retrigger. To use an
    instance configured in code, block that entry point and register it::

        pm.set_blocked("keyring")
        pm.register(Restorer(env={"/dockerPassword": "REGISTRY_PASSWORD"}), name="restore")
    """

    def __init__(
        self,
        *,
        keyring: Mapping[str, Any] | None = None,
        env: Mapping[str, Any] | None = None,
        keyring_service: str | None = None,
    ) -> None:
        self.options = RestoreSettings.build(
            keyring=keyring, env=env, keyring_service=keyring_service
        )

    @hookimpl
    def wfaudit_restore_secrets(
        self, snapshot: Snapshot, requests: Sequence[SecretRequest]
    ) -> dict[str, str] | None:
        """Restore what this instance's mappings find (see :func:`restore`)."""
        return restore(snapshot, requests, self.options) or None


def restore(
    snapshot: Snapshot, requests: Sequence[SecretRequest], options: RestoreSettings
) -> dict[str, str]:
    """``{request.key: secret}`` for the requests whose secret was found."""
    per_path = Counter(request.path for request in requests)
    fields = {
        "workflow_id": snapshot.workflow_id,
        "workflow_type": snapshot.workflow_type,
        "pipeline_id": snapshot.pipeline_id,
        "tenant": snapshot.tenant or "",
    }
    lookup = _Lookup()
    found: dict[str, str] = {}
    for request in requests:
        for template in options.sources(request, single=per_path[request.path] == 1):
            source = Source(
                template.kind,
                template.service.format_map(fields),
                template.name.format_map(fields),
                template.origin,
            )
            value = lookup.get(source)
            if value is None:
                continue
            if request.encoding == "json" and not _is_json(value):
                log.warning(
                    "%s: the value in %s is not JSON text; not used", request.key, source.describe()
                )
                continue
            found[request.key] = value
            log.debug("%s restored from %s (%s)", request.key, source.describe(), source.origin)
            break
        else:
            log.debug("%s: not found by the keyring restorer", request.key)
    return found


class _Lookup:
    """Reads the sources; gives up on the keyring after its first failure."""

    def __init__(self) -> None:
        self.keyring_failed = False

    def get(self, source: Source) -> str | None:
        if source.kind == "env":
            return os.environ.get(source.name)
        if source.kind != "keyring" or self.keyring_failed:
            return None
        if not source.service or not source.name:
            log.warning("%s is not a keyring 'service/username'; skipped", source.describe())
            return None
        try:
            return keyring.get_password(source.service, source.name)
        except keyring.errors.KeyringError as exc:
            # The message of a backend error describes the backend, but keep to
            # its type: some backends echo what they were asked for.
            self.keyring_failed = True
            log.warning(
                "the keyring is not available (%s); skipping keyring lookups", type(exc).__name__
            )
            return None


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True
