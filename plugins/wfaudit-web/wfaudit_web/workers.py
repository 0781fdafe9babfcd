"""``wfaudit serve --workers N``: N worker processes answering on one port.

The supervisor (the ``wfaudit serve`` process) binds the listening socket once
and starts N workers, each a ``wfaudit serve`` of its own that inherits the
socket (the kernel hands each connection to one of the processes waiting in
``accept``) and is told its slot, ``0`` … ``N-1``. A worker spools into
``$WFAUDIT_HOME/spool/worker-<slot>`` (:func:`wfaudit.worker_spool_root`),
so no two workers share a spool directory.

A worker that dies (killed, out of memory) is started again in the same slot:
it finds its predecessor's spool, and drains it at start-up with every other
spool of the data directory (so a slot no longer run after ``--workers`` went
down is drained too). A worker whose supervisor dies stops by itself (it
watches its parent), so no orphan keeps the port. ``SIGTERM`` or ``SIGINT`` to
the supervisor stops every worker gracefully (the requests in flight are
answered), then the supervisor exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

import attrs

__all__ = ["Supervisor", "watch_parent"]

log = logging.getLogger("wfaudit.web.workers")

RESTART_DELAY = 0.5
"""Seconds before a worker that died is started again (doubled while it keeps dying
young, up to :data:`MAX_RESTART_DELAY`)."""
MAX_RESTART_DELAY = 30.0
YOUNG = 5.0
"""A worker that dies within this many seconds of its start died young."""
GIVE_UP_AFTER = 5
"""Young deaths in a row of one slot after which the supervisor stops: the
workers cannot start (a broken installation), restarting them would only spin."""
STOP_GRACE = 30.0
"""Seconds the workers have to finish their requests on shutdown, before SIGKILL."""


@attrs.define
class _Worker:
    slot: int
    process: subprocess.Popen[bytes]
    started: float
    young_deaths: int = 0


class Supervisor:
    """Starts, watches and restarts the worker processes of one listening socket.

    :param listener: the bound, listening socket every worker inherits.
    :param count: how many workers.
    :param command: the worker's command line, given the socket's file
        descriptor and a slot.
    :param restart_delay: seconds before a worker that died young is started
        again (doubled at each young death in a row).
    """

    def __init__(
        self,
        listener: socket.socket,
        count: int,
        command: Callable[[int, int], Sequence[str]],
        *,
        restart_delay: float = RESTART_DELAY,
    ) -> None:
        self.listener = listener
        self.count = count
        self.command = command
        self.restart_delay = restart_delay
        self._workers: dict[int, _Worker] = {}
        self._stopping = threading.Event()

    def _start(self, slot: int, young_deaths: int = 0) -> None:
        fd = self.listener.fileno()
        process = subprocess.Popen(list(self.command(fd, slot)), pass_fds=(fd,))  # noqa: S603  (our own command line)
        self._workers[slot] = _Worker(slot, process, time.monotonic(), young_deaths)

    def run(self) -> int:
        """Serve until SIGTERM / SIGINT (exit status 0) or until the workers
        cannot start (1)."""
        previous = {
            number: signal.signal(number, self._on_signal)
            for number in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for slot in range(self.count):
                self._start(slot)
            return self._watch()
        finally:
            self._stop_all()
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _on_signal(self, number: int, frame: object) -> None:
        self._stopping.set()

    def _watch(self) -> int:
        pending: dict[int, float] = {}  # slot -> when to start it again
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            for slot, worker in list(self._workers.items()):
                code = worker.process.poll()
                if code is None or slot in pending:
                    continue
                young = now - worker.started < YOUNG
                deaths = worker.young_deaths + 1 if young else 0
                if deaths >= GIVE_UP_AFTER:
                    log.error(
                        "worker %d exits at start-up (status %d, %d times): stopping",
                        slot,
                        code,
                        deaths,
                    )
                    print(
                        f"Error: worker {slot} exits at start-up (status {code}); "
                        "stopping the server",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
                delay = min(self.restart_delay * 2**deaths, MAX_RESTART_DELAY) if young else 0.0
                log.warning("worker %d exited (status %d); starting it again", slot, code)
                worker.young_deaths = deaths
                pending[slot] = now + delay
            for slot, when in list(pending.items()):
                if now >= when and not self._stopping.is_set():
                    del pending[slot]
                    self._start(slot, self._workers[slot].young_deaths)
        return 0

    def _stop_all(self) -> None:
        workers = list(self._workers.values())
        for worker in workers:
            if worker.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for worker in workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                worker.process.wait()


def watch_parent(parent: int, interval: float = 0.5) -> None:
    """Stop this worker (SIGTERM to itself: a graceful stop) once its
    supervisor ``parent`` is gone, so that no orphan keeps the port."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(STOP_GRACE)
        os._exit(1)  # the graceful stop did not end the process

    threading.Thread(target=watch, name="wfaudit-watch-parent", daemon=True).start()
