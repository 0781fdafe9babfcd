"""A wfaudit adapter for Acme Flow run requests.

Acme Flow sends one JSON document per run: ``{"acmeflow": "1", "run": {...},
"stages": [...]}``. The adapter recognises it, fills the run's identity from
it, and lists the secrets its stages refer to (``{"fromSecret": NAME}`` values,
and ``${{ secret:NAME }}`` inside strings). It never changes the payload.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import attrs

from wfaudit_hookspecs import SecretReference, TriggerRequest, hookimpl, to_pointer
from wfaudit_hookspecs.pointer import iter_nodes

FORMAT = "acme-flow"
REFERENCE_KIND = "acme-secret"
INLINE = r"\$\{\{\s*secret:(?P<name>[\w./-]+)\s*\}\}"


@hookimpl
def wfaudit_payload_formats(register: Callable[[str, Sequence[str], str], None]) -> None:
    """Acme Flow runs builds (CI) and deployments (PRE_CD)."""
    register(FORMAT, ["CI", "PRE_CD"], "Acme Flow run request")


@hookimpl
def wfaudit_reference_syntax(register: Callable[[str, str], None]) -> None:
    """``${{ secret:NAME }}`` in a string is a reference, never a secret."""
    register(REFERENCE_KIND, INLINE)


def recognise(config: object) -> bool:
    """Is this an Acme Flow run request?"""
    return (
        isinstance(config, dict)
        and isinstance(config.get("acmeflow"), str)
        and isinstance(config.get("run"), dict)
        and isinstance(config.get("stages"), list)
    )


def references(config: dict) -> Iterator[SecretReference]:
    """The secrets Acme Flow resolves itself: ``{"fromSecret": NAME}`` values and
    ``${{ secret:NAME }}`` inside strings."""
    for path, value in iter_nodes(config):
        pointer = to_pointer(path)  # a JSON pointer string, never the path tuple
        if isinstance(value, dict) and isinstance(value.get("fromSecret"), str):
            yield SecretReference(
                path=pointer, kind=REFERENCE_KIND, name=value["fromSecret"], rule="fromSecret"
            )
        elif isinstance(value, str):
            for match in re.finditer(INLINE, value):
                yield SecretReference(
                    path=pointer, kind=REFERENCE_KIND, name=match["name"], rule="inline"
                )


@hookimpl
def wfaudit_pre_trigger(request: TriggerRequest) -> TriggerRequest | None:
    """Claim Acme Flow payloads: set the format, the identity and the references."""
    if request.format not in (None, FORMAT) or not recognise(request.config):
        return None
    run = request.config["run"]
    return attrs.evolve(
        request,
        format=FORMAT,
        pipeline_id=str(run.get("pipeline") or request.pipeline_id),
        triggered_by=request.triggered_by or run.get("triggeredBy"),
        references=(*request.references, *references(request.config)),
    )
