"""The restorer: finds the current value of each masked secret a retrigger needs.

For every :class:`~wfaudit_hookspecs.SecretRequest` it tries the sources that
:meth:`RestoreSettings.sources` lists, most specific first, and answers with the
first value found. It answers nothing for a secret it cannot find: the engine
then refuses the retrigger with ``SecretsUnavailable`` naming the missing paths.
It never guesses (no fuzzy matching of names, no placeholder values) and never
logs a value: log lines name the key and where it came from.

Secrets inside a string are restored span by span: when the value found for a
span is the whole string (a source that holds the full URL or command line),
the span's secret is cut out of it along the masked string's text around the
placeholders; the engine then checks every answer against its fingerprint.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from wfaudit_hookspecs import SecretRequest, Snapshot, WfauditError, hookimpl, parse_pointer
from wfaudit_hookspecs.pointer import get_at

from .settings import RestoreSettings, Source

__all__ = ["Restorer", "describe", "restore"]

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


def describe(
    snapshot: Snapshot, requests: Sequence[SecretRequest], options: RestoreSettings
) -> dict[str, str]:
    """``{request.key: where}``: the source that holds each secret, or the sources
    tried when none does (for ``wfaudit restore-map``). Sources are read to see
    that they hold a value; no value is returned or logged."""
    per_path = Counter(request.path for request in requests)
    fields = _fields(snapshot)
    lookup = _Lookup()
    out: dict[str, str] = {}
    for request in requests:
        tried: list[str] = []
        single = per_path[request.path] == 1
        for template in options.sources(request, single=single, snapshot=snapshot):
            source = _filled(template, fields)
            if lookup.get(source) is not None:
                out[request.key] = f"{source.describe()} ({source.origin})"
                break
            tried.append(source.describe())
        else:
            out[request.key] = (
                "not found: " + ", ".join(dict.fromkeys(tried)) if tried else "no source"
            )
    return out


def _fields(snapshot: Snapshot) -> dict[str, str]:
    return {
        "workflow_id": snapshot.workflow_id,
        "workflow_type": snapshot.workflow_type,
        "pipeline_id": snapshot.pipeline_id,
        "tenant": snapshot.tenant or "",
    }


def _filled(template: Source, fields: Mapping[str, str]) -> Source:
    return Source(
        template.kind,
        template.service.format_map(fields),
        template.name.format_map(fields),
        template.origin,
    )


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
        single = per_path[request.path] == 1
        for template in options.sources(request, single=single, snapshot=snapshot):
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
            if request.span is not None:
                value = _span_secret(snapshot, request, requests, value)
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
        # keyring (and its backends) load on first use: not on every `wfaudit` start.
        import keyring
        import keyring.errors

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


def _span_secret(
    snapshot: Snapshot, request: SecretRequest, requests: Sequence[SecretRequest], value: str
) -> str:
    """The secret of ``request``'s span: cut out of ``value`` when ``value`` is the
    whole string (its text around the placeholders is the masked string's), else
    ``value`` itself."""
    try:
        masked = get_at(snapshot.config, parse_pointer(request.path, snapshot.config))
    except (KeyError, IndexError, TypeError, ValueError, WfauditError):  # the engine says
        return value
    if not isinstance(masked, str):
        return value
    spans = sorted(r.span for r in requests if r.path == request.path and r.span is not None)
    pattern: list[str] = []
    cursor = 0
    for start, end in spans:
        if start < cursor or end > len(masked):
            return value
        pattern.append(re.escape(masked[cursor:start]))
        pattern.append("(.*)" if (start, end) == request.span else ".*?")
        cursor = end
    pattern.append(re.escape(masked[cursor:]))
    match = re.fullmatch("".join(pattern), value, re.DOTALL)
    if match is None or not match.group(1):
        return value
    log.debug("%s: the source holds the whole string; its span was cut out", request.key)
    return match.group(1)


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True
