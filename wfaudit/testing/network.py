"""A TCP proxy whose link can be cut (a store that becomes unreachable), and a
store outage built on it (:class:`StoreOutage`, beside it in :mod:`wfaudit.testing.outage`)."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["TcpProxy"]


class TcpProxy:
    """Forwards a local port to ``target``; :meth:`cut` makes the port refuse
    connections and drops the open ones, :meth:`restore` brings it back on the
    same port. Tests point a store URL at :attr:`port` to take the store away
    mid-stream and give it back, as a network outage or a server restart would.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket
        import threading

        self._socket_module = socket
        self._threading = threading
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self._listener: socket.socket | None = None
        self._links: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        """Listen (again) on :attr:`port`; a no-op while it listens."""
        if self._listener is not None:
            return
        socket = self._socket_module
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening (connections are refused) and reset every open link."""
        socket = self._socket_module
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone may not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            with contextlib.suppress(OSError):
                link.shutdown(socket.SHUT_RDWR)
            link.close()

    close = cut

    def url_for(self, store_url: str) -> str:
        """``store_url`` (a PostgreSQL URL) going through this proxy."""
        from sqlalchemy.engine import make_url

        url = make_url(store_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def _accept(self, listener: Any) -> None:
        socket = self._socket_module
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:
                client.close()
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._links.extend((client, server))
            for source, sink in ((client, server), (server, client)):
                self._threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: Any, sink: Any) -> None:
        import socket

        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown() first: close() alone does not wake the other pump blocked
            # in recv() on the same socket, so the far end would never see the
            # connection end (a killed client's server session would linger).
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    end.close()
