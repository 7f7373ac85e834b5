"""A small TCP proxy for fault tests: forwards to a server, and can stall or cut every connection.

Stalling (bytes are accepted but nothing is forwarded) is how a slow or hung database looks to a
driver; cutting (every connection closed) is how a crash or network drop looks. Runs in the test's loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import SocketAttribute, SocketStream


class FaultProxy:
    """Listens on 127.0.0.1 and relays to `target_port`; see `stall()`, `cut()` and `heal()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._flowing = anyio.Event()
        self._flowing.set()
        self._connections: set[anyio.CancelScope] = set()

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def stall(self) -> None:
        """From now on, hold every byte in both directions until `heal()`."""
        self._flowing = anyio.Event()

    def cut(self) -> None:
        """Close every open connection now; new ones are still accepted."""
        for scope in list(self._connections):
            scope.cancel()

    def heal(self) -> None:
        self._flowing.set()

    async def _pipe(self, source: SocketStream, sink: SocketStream) -> None:
        async for chunk in source:
            await self._flowing.wait()
            await sink.send(chunk)

    async def relay(self, client: SocketStream) -> None:
        """Serve one client connection (the listener calls this once per connection)."""
        with anyio.CancelScope() as scope:
            self._connections.add(scope)
            try:
                async with (
                    client,
                    await anyio.connect_tcp("127.0.0.1", self.target_port) as server,
                    anyio.create_task_group() as pipes,
                ):
                    pipes.start_soon(self._pipe, client, server)
                    await self._pipe(server, client)
                    pipes.cancel_scope.cancel()
            except (OSError, anyio.BrokenResourceError, anyio.EndOfStream):
                pass  # either side went away: that is the fault being simulated, or the end of a test
            finally:
                self._connections.discard(scope)


@asynccontextmanager
async def fault_proxy(target_port: int) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(target_port)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tasks:
        proxy.port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
        tasks.start_soon(listener.serve, proxy.relay)
        try:
            yield proxy
        finally:
            proxy.heal()
            tasks.cancel_scope.cancel()
