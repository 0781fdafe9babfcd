"""Delivery off the audit path: a queue and one worker thread per configuration.

:meth:`Dispatcher.submit` never blocks, never raises and does no I/O: the
auditing thread only puts a delivery on a queue. The worker sends it; a retryable failure
comes back after an exponential backoff (``backoff * 2**(attempt-1)``, capped
at ``backoff_max``) while other deliveries go on; after ``max_attempts``, or
on a failure that retrying cannot fix, the delivery goes to the dead-letter
queue. At process exit whatever is still waiting goes there too, so nothing is
lost without a trace.

Only the worker (and :meth:`Dispatcher.close`, at exit) writes dead letters.
When the queue is full, ``submit`` puts the delivery on a bounded overflow
list that the worker dead-letters; when that is full too, or the dispatcher
is closed, the delivery is dropped: counted in :attr:`Dispatcher.dropped` and
logged (the first of each run of drops), never written on the caller's thread.
"""

from __future__ import annotations

import atexit
import collections
import heapq
import itertools
import logging
import queue
import threading
import time

from .config import WebhookConfig, redact_url
from .deadletters import DeadLetterError, DeadLetters
from .delivery import Delivery, send

__all__ = ["Dispatcher", "acquire", "close_all", "dispatcher_for", "release"]

log = logging.getLogger("wfaudit.webhooks")

QUEUE_SIZE = 10_000
OVERFLOW_SIZE = 10_000
"""Deliveries beyond a full queue that the worker dead-letters (more are dropped)."""
FULL = "the delivery queue was full"
EXIT_WAIT = 2.0
"""Seconds a process at exit gives its deliveries before dead-lettering them."""


class Dispatcher:
    """The queue and worker of one webhook configuration."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.dead_letters = DeadLetters(config.dead_letters)
        self._queue: queue.Queue[Delivery] = queue.Queue(maxsize=QUEUE_SIZE)
        self._overflow: collections.deque[Delivery] = collections.deque()
        self.dropped = 0
        """Deliveries dropped (neither sent nor dead-lettered) since the start."""
        self._dropping = False
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
        """Queue a delivery; returns at once, without I/O (see the module's docstring)."""
        if self._stop.is_set():
            self._drop(delivery, "the dispatcher is closed")
            return
        with self._idle:
            self._outstanding += 1
        self._ensure_worker()
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            pass
        else:
            if self._dropping:  # a run of drops is over: the next one is logged again
                with self._idle:
                    self._dropping = False
            return
        with self._idle:
            overflow = len(self._overflow) < OVERFLOW_SIZE
            if overflow:  # for the worker to dead-letter
                self._overflow.append(delivery)
            else:
                self._outstanding -= 1
                self._idle.notify_all()
        if not overflow:
            self._drop(delivery, f"{FULL}, and so was its overflow")

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
        with self._idle:
            leftovers.extend(self._overflow)
            self._overflow.clear()
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
            self._dead_letter_overflow()
            while self._retries and self._retries[0][0] <= time.monotonic():
                if self._stop.is_set():
                    return
                _, _, due = heapq.heappop(self._retries)
                self._attempt(due)

    def _dead_letter_overflow(self) -> None:
        """Dead-letter the deliveries ``submit`` could not queue (the worker's job)."""
        while True:
            with self._idle:
                if not self._overflow:
                    return
                delivery = self._overflow.popleft()
            self._dead(delivery, FULL)

    def _drop(self, delivery: Delivery, why: str) -> None:
        """Count a delivery given up on the caller's thread; log the first of a run."""
        with self._idle:
            self.dropped += 1
            first, self._dropping = not self._dropping, True
            dropped = self.dropped
        if first:
            log.error(
                "webhook %s (%s) about snapshot %s is dropped: %s (%d dropped so far; "
                "further drops are counted, not logged, until a delivery is queued again)",
                delivery.id,
                delivery.kind,
                delivery.subject,
                why,
                dropped,
            )

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
            "webhook %s (%s) to %s failed for good after %d %s: %s; "
            "it is in the dead-letter queue (wfaudit webhooks dlq list)",
            delivery.id,
            delivery.kind,
            redact_url(delivery.endpoint),
            delivery.attempts,
            "attempt" if delivery.attempts == 1 else "attempts",
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
_users: dict[WebhookConfig, int] = {}
"""How many hosts hold each dispatcher (:func:`acquire`, :func:`release`)."""
_lock = threading.Lock()


def dispatcher_for(config: WebhookConfig) -> Dispatcher:
    """The process's dispatcher of ``config`` (one per distinct configuration)."""
    with _lock:
        return _dispatcher(config)


def _dispatcher(config: WebhookConfig) -> Dispatcher:
    dispatcher = _dispatchers.get(config)
    if dispatcher is None:
        dispatcher = _dispatchers[config] = Dispatcher(config)
    return dispatcher


def acquire(config: WebhookConfig) -> Dispatcher:
    """The dispatcher of ``config``, held by one more host (``wfaudit_configure``).

    Hosts of one process with the same configuration share a dispatcher: one
    worker thread per configuration, not per auditor (``wfaudit serve`` opens
    one auditor per tenant and per worker), and one writer of its dead-letter
    file. It is closed when the last host holding it releases it.
    """
    with _lock:
        dispatcher = _dispatcher(config)
        _users[config] = _users.get(config, 0) + 1
        return dispatcher


def release(config: WebhookConfig, dispatcher: Dispatcher, wait: float = EXIT_WAIT) -> None:
    """Give back a dispatcher :func:`acquire` gave (``wfaudit_unconfigure``): the
    last host to release it closes it (its deliveries get ``wait`` seconds, the
    rest are dead-lettered)."""
    with _lock:
        users = _users.get(config, 0) - 1
        if users > 0:
            _users[config] = users
            return
        _users.pop(config, None)
        if _dispatchers.get(config) is not dispatcher:
            return  # closed already (close_all)
        del _dispatchers[config]
    dispatcher.close(wait)


@atexit.register
def close_all(wait: float = EXIT_WAIT) -> None:
    """Close every dispatcher of the process (at exit; tests call it too)."""
    with _lock:
        dispatchers = list(_dispatchers.values())
        _dispatchers.clear()
        _users.clear()
    for dispatcher in dispatchers:
        dispatcher.close(wait)
