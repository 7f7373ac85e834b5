"""A small TCP proxy for fault tests: forwards to a server, and can stall or cut every connection.

Stalling (bytes are accepted but nothing is forwarded) is how a slow or hung database looks to a
driver; cutting (every connection closed) is how a crash or network drop looks.

It runs on threads of its own, with blocking sockets, not in the test's event loop: nothing the
proxy does can then wait on a task of the test's loop, and closing it is closing sockets, which no
task can refuse (in the loop, a task that once swallowed its cancellation kept a test's teardown
waiting for ever: 1 run in 20 under a CPU hog).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

CHUNK = 65536
# Threads are daemons and are joined with a bound: a thread stuck in a system call cannot hold the
# test session, and a proxy that does not stop in time is reported.
JOIN_TIMEOUT_S = 10


class FaultProxy:
    """Listens on 127.0.0.1 and relays to `target_port`; see `stall()`, `cut()` and `heal()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def stall(self) -> None:
        """From now on, hold every byte in both directions until `heal()`."""
        self._flowing.clear()

    def cut(self) -> None:
        """Close every open connection now; new ones are still accepted."""
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def heal(self) -> None:
        self._flowing.set()

    def start(self) -> None:
        self._spawn(self._accept_loop)

    def close(self) -> None:
        """Stop accepting, close every connection, and wait (bounded) for the threads to end."""
        self._closed = True
        self._flowing.set()  # a pump waiting on a stall must see the close
        _close(self._listener)
        self.cut()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)
            if thread.is_alive():
                raise RuntimeError(f"the fault proxy's thread {thread.name} did not end within {JOIN_TIMEOUT_S} s")

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=JOIN_TIMEOUT_S)
                server.settimeout(None)
            except OSError:
                _close(client)  # the server is down: the driver sees a refused connection, as without a proxy
                continue
            with self._lock:
                self._sockets.update((client, server))
            self._spawn(self._pump, client, server)
            self._spawn(self._pump, server, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(CHUNK):
                self._flowing.wait()
                if self._closed:
                    return
                sink.sendall(chunk)
        except OSError:
            pass  # either side went away: that is the fault being simulated, or the end of a test
        finally:
            # One direction ending ends the connection, as a real peer closing would.
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    # shutdown() first: it wakes a thread blocked in recv() on this socket, which close() alone may not.
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


@asynccontextmanager
async def fault_proxy(target_port: int) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
