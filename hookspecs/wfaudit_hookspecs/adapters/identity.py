"""The identity rule: what the caller says wins; the payload fills what it left open.

``TriggerRequest`` requires a workflow id and a pipeline id, so a caller that
wants the adapter to take them from the payload passes the placeholder
:data:`FROM_PAYLOAD` (``"-"``, as in ``wfaudit trigger --workflow-id -``).
Every other field has an "unset" value already:

========================  ==============================================
field                     the payload's value is used when the caller ...
========================  ==============================================
``workflow_id``           passed ``"-"`` (an error if the payload has none)
``pipeline_id``           passed ``"-"`` (likewise)
``triggered_by``          passed None
``trigger_kind``          left the default, ``manual``
``attempt``               left the default, 1
``labels``                did not set that label (merged key by key)
``references``            (always merged: the caller's, then the adapter's)
========================  ==============================================

Only values that are safe to keep unmasked are taken from a payload: ids,
names, user names, refs. Labels and identities are stored as they are, outside
the masked config, so an adapter must never put a secret in them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from wfaudit_hookspecs.errors import InvalidRequest
from wfaudit_hookspecs.model import TriggerKind, TriggerRequest

if TYPE_CHECKING:
    from .adapter import Facts, PayloadFormat

__all__ = ["FROM_PAYLOAD", "apply_facts", "identity_value", "label_value", "positive_int"]

FROM_PAYLOAD = "-"
"""The workflow or pipeline id that asks the adapter to read it from the payload."""

_MAX_IDENTITY = 255


def identity_value(value: Any) -> str | None:
    """``value`` as an identity (a non-zero integer or a short string), else None.

    Zero counts as unset: Devtron and others serialise a missing id as 0.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value != 0 else None
    if isinstance(value, str):
        text = value.strip()
        if text and len(text) <= _MAX_IDENTITY and text != FROM_PAYLOAD and text.isprintable():
            return text
    return None


def label_value(value: Any) -> str | None:
    """``value`` as a label value (same limits as an identity), else None."""
    return identity_value(value)


def positive_int(value: Any) -> int | None:
    """An integer >= 1 from an int or a decimal string (GitHub sends strings), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value.strip())
    if isinstance(value, int) and value >= 1:
        return value
    return None


def apply_facts(request: TriggerRequest, facts: Facts, fmt: PayloadFormat) -> TriggerRequest:
    """A copy of ``request`` completed by ``facts`` under the identity rule.

    The config object is passed on untouched (``attrs.evolve`` keeps it).

    :raises InvalidRequest: the caller asked for an identity the payload lacks.
    """
    labels = {**facts.labels, **request.labels}
    references = tuple(dict.fromkeys((*request.references, *facts.references)))
    trigger_kind = request.trigger_kind
    if trigger_kind is TriggerKind.MANUAL and facts.trigger_kind is not None:
        trigger_kind = facts.trigger_kind
    attempt = request.attempt
    if attempt == 1 and facts.attempt is not None:
        attempt = facts.attempt
    return attrs.evolve(
        request,
        workflow_id=_fill(request.workflow_id, facts.workflow_id, "workflow", fmt),
        pipeline_id=_fill(request.pipeline_id, facts.pipeline_id, "pipeline", fmt),
        triggered_by=request.triggered_by or facts.triggered_by,
        trigger_kind=trigger_kind,
        attempt=attempt,
        labels=labels,
        references=references,
        format=fmt.name,
    )


def _fill(given: str, found: str | None, what: str, fmt: PayloadFormat) -> str:
    if given != FROM_PAYLOAD:
        return given
    if found is None:
        source = fmt.workflow_id_source if what == "workflow" else fmt.pipeline_id_source
        # Field names only: the message must not quote request data.
        raise InvalidRequest(
            f"the {what} id {FROM_PAYLOAD!r} asks the {fmt.name} adapter to read it from "
            f"the payload, but this payload does not carry one (it reads {source}); "
            f"pass the {what} id explicitly"
        )
    return found
