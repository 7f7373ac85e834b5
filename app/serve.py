"""What `python3 scripts/dev.py serve` runs: uvicorn's command line, with a drain on SIGTERM so that stopping
the service cuts no request (SHUTDOWN_DRAIN_S; docs/reliability.md, "Stopping the service")."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import RETRY_AFTER_SECONDS, problem
from app.settings import Settings

logger = logging.getLogger("uvicorn.error")

READY_PATH = "/health/ready"
# After the listeners close, how long the loop gets to read requests already sent on accepted connections.
ACCEPTED_REQUESTS_READ_S = 0.05


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM starting a drain instead of closing the listening socket at once."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.drain_s = 0.0  # read in serve(), once the app's import has validated the settings
        self.drain_ends: float | None = None
        self._drain_announced = False

    @property
    def draining(self) -> bool:
        return self.drain_ends is not None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.config.loaded:
            self.config.load()
        # --reload stops the server with SIGTERM at every change: a drain there would only slow it down.
        self.drain_s = 0 if self.config.reload else Settings().shutdown_drain_s
        self.config.loaded_app = DrainMiddleware(self.config.loaded_app, self)
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: it only records the time; on_tick, on the loop, acts on it.
        if sig == signal.SIGTERM and self.drain_s > 0 and not self.draining and not self.should_exit:
            # uvicorn raises the signals it caught again once it has shut down, so that the process ends
            # as the signal says; this one must be among them as if uvicorn had handled it.
            self._captured_signals.append(sig)
            self.drain_ends = time.monotonic() + self.drain_s
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_ends is not None and not self.should_exit:
            if not self._drain_announced:
                self._drain_announced = True
                logger.info("SIGTERM: readiness 503, connections closing, for %g s before shutting down", self.drain_s)
            if time.monotonic() >= self.drain_ends:
                self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn closes the listening sockets and, at once, every connection that has no request under
        # way, including one whose request has arrived but not been read yet: its client gets no answer.
        # Closing the listeners first and letting the loop read what already arrived turns those into
        # requests under way, which uvicorn then lets finish.
        if self.draining:
            for server in self.servers:
                server.close()
            await asyncio.sleep(ACCEPTED_REQUESTS_READ_S)
        await super().shutdown(sockets)


class DrainMiddleware:
    """While the server drains: readiness answers 503, and every response closes its connection, so that no
    client is left holding an idle keep-alive connection when the listening socket closes."""

    def __init__(self, app: ASGIApp, server: DrainingServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.server.draining:
            await self.app(scope, receive, send)
            return
        if scope["path"] == READY_PATH:
            response = problem(
                503,
                "The server is shutting down.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"},
            )
            await response(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


def main(args: list[str]) -> None:
    # uvicorn's own command line, so that every uvicorn option works as documented; it builds its server
    # from the name `Server` in uvicorn.main, which is the one thing replaced here.
    # (`uvicorn.main` names the command, not its module, hence importlib.)
    cli: Any = importlib.import_module("uvicorn.main")
    cli.Server = DrainingServer
    cli.main.main(args=["app.main:app", *args], prog_name="uvicorn")


if __name__ == "__main__":
    main(sys.argv[1:])
