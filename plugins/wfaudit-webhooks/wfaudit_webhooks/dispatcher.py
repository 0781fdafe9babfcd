"""Delivery off the audit path: a queue and one worker thread per configuration.

:meth:`Dispatcher.submit` never blocks and never raises: the auditing thread
only puts a delivery on a queue. The worker sends it; a retryable failure
comes back after an exponential backoff (``backoff * 2**(attempt-1)``, capped
at ``backoff_max``) while other deliveries go on; after ``max_attempts``, or
on a failure that retrying cannot fix, the delivery goes to the dead-letter
queue. At process exit whatever is still waiting goes there too, so nothing is
lost without a trace.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import queue
import threading
import time

from .config import WebhookConfig, redact_url
from .deadletters import DeadLetterError, DeadLetters
from .delivery import Delivery, send

__all__ = ["Dispatcher", "close_all", "dispatcher_for"]

log = logging.getLogger("wfaudit.webhooks")

QUEUE_SIZE = 10_000
EXIT_WAIT = 2.0
"""Seconds a process at exit gives its deliveries before dead-lettering them."""


class Dispatcher:
    """The queue and worker of one webhook configuration."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.dead_letters = DeadLetters(config.dead_letters)
        self._queue: queue.Queue[Delivery] = queue.Queue(maxsize=QUEUE_SIZE)
        self._retries: list[tuple[float, int, Delivery]] = []  # the worker's own heap
        self._order = itertools.count()
        self._outstanding = 0
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Dispatcher {self.config!r} outstanding={self._outstanding}>"

    def submit(self, delivery: Delivery) -> None:
        """Queue a delivery; returns at once."""
        with self._idle:
            self._outstanding += 1
        if self._stop.is_set():
            self._dead(delivery, "submitted after the dispatcher was closed")
            return
        self._ensure_worker()
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            self._dead(delivery, "the delivery queue was full")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every delivery submitted so far was delivered or
        dead-lettered; False when ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self, wait: float = EXIT_WAIT) -> None:
        """Give deliveries ``wait`` seconds, stop the worker, dead-letter the rest."""
        self.flush(wait)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout + 1)
        leftovers = [item for _, _, item in self._retries]
        self._retries.clear()
        while True:
            try:
                leftovers.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for delivery in leftovers:
            self._dead(delivery, "not delivered before the process exited")

    # -- the worker --------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wfaudit-webhooks", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = 0.5
            if self._retries:
                wait = max(0.0, min(wait, self._retries[0][0] - time.monotonic()))
            try:
                delivery = self._queue.get(timeout=wait)
            except queue.Empty:
                pass
            else:
                self._attempt(delivery)
            while self._retries and self._retries[0][0] <= time.monotonic():
                if self._stop.is_set():
                    return
                _, _, due = heapq.heappop(self._retries)
                self._attempt(due)

    def _attempt(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        try:
            result = send(self.config, delivery)
        except Exception as exc:  # a bug must not kill the worker
            log.error("webhook %s: %s while sending", delivery.id, type(exc).__name__)
            self._dead(delivery, f"{type(exc).__name__} while sending")
            return
        if result.ok:
            log.debug("webhook %s delivered to %s", delivery.id, redact_url(delivery.endpoint))
            self._done()
            return
        error = result.error or "failed"
        if result.retryable and delivery.attempts < self.config.max_attempts:
            delay = self.config.delay(delivery.attempts)
            log.info(
                "webhook %s to %s: %s; attempt %d of %d in %.3g s",
                delivery.id,
                redact_url(delivery.endpoint),
                error,
                delivery.attempts + 1,
                self.config.max_attempts,
                delay,
            )
            heapq.heappush(self._retries, (time.monotonic() + delay, next(self._order), delivery))
            return
        self._dead(delivery, error)

    def _dead(self, delivery: Delivery, error: str) -> None:
        log.warning(
            "webhook %s (%s) to %s failed for good after %d attempt(s): %s; "
            "it is in the dead-letter queue (wfaudit webhooks dlq list)",
            delivery.id,
            delivery.kind,
            redact_url(delivery.endpoint),
            delivery.attempts,
            error,
        )
        try:
            self.dead_letters.add(
                delivery_id=delivery.id,
                endpoint=delivery.endpoint,
                kind=delivery.kind,
                subject=delivery.subject,
                body=delivery.body,
                attempts=delivery.attempts,
                error=error,
            )
        except DeadLetterError as exc:
            log.error("webhook %s is lost: %s", delivery.id, exc)
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._outstanding -= 1
            self._idle.notify_all()


_dispatchers: dict[WebhookConfig, Dispatcher] = {}
_lock = threading.Lock()


def dispatcher_for(config: WebhookConfig) -> Dispatcher:
    """The process's dispatcher of ``config`` (one per distinct configuration)."""
    with _lock:
        dispatcher = _dispatchers.get(config)
        if dispatcher is None:
            dispatcher = _dispatchers[config] = Dispatcher(config)
        return dispatcher


@atexit.register
def close_all(wait: float = EXIT_WAIT) -> None:
    """Close every dispatcher of the process (at exit; tests call it too)."""
    with _lock:
        dispatchers = list(_dispatchers.values())
        _dispatchers.clear()
    for dispatcher in dispatchers:
        dispatcher.close(wait)
