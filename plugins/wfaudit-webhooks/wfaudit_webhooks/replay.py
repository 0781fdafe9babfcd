"""Replaying dead letters: one signed attempt each, now, with today's key."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .config import WebhookConfig
from .deadletters import DeadLetters
from .delivery import Delivery, send

__all__ = ["ReplayResult", "replay"]


@attrs.frozen
class ReplayResult:
    """What became of one dead letter: delivered (and removed), or still failing."""

    id: str
    delivered: bool
    error: str | None = None


def replay(config: WebhookConfig, ids: Sequence[str] = ()) -> list[ReplayResult]:
    """Send the dead letters (those of ``ids``, else all) once each.

    A delivered one leaves the queue; a failed one stays, with its attempt count
    and last error updated. The endpoint must still be configured and allowed.
    """
    letters = DeadLetters(config.dead_letters)
    found = letters.list(ids)
    results = []
    for letter in found:
        delivery = Delivery(
            id=letter.id,
            endpoint=letter.endpoint,
            kind=letter.kind,
            subject=letter.subject,
            body=letter.body,
            attempts=letter.attempts + 1,
        )
        result = send(config, delivery)
        if result.ok:
            letters.remove(letter.id)
            results.append(ReplayResult(letter.id, True))
            continue
        letters.add(
            delivery_id=letter.id,
            endpoint=letter.endpoint,
            kind=letter.kind,
            subject=letter.subject,
            body=letter.body,
            attempts=delivery.attempts,
            error=result.error or "failed",
        )
        results.append(ReplayResult(letter.id, False, result.error))
    return results
