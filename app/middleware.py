"""ASGI middleware that bounds a request body before the app reads it: its size (413) and its arrival time (408)."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem

TOO_LARGE = "The request body is larger than the limit of {limit} bytes."
TOO_SLOW = "The request body did not arrive within {timeout:g} s."
# The rest of the body is never read, so the connection cannot carry another request: tell the server
# to close it rather than drain (or wait for) what the client is still sending.
CLOSE = {"Connection": "close"}


class BodyLimitsMiddleware:
    """Answer 413 when Content-Length, or the bytes actually received, exceed `max_bytes`, and 408 when
    the whole body has not arrived within `timeout_s` of the app asking for it.

    uvicorn reads a body for as long as the client keeps sending it, however slowly, so without the
    time limit one client trickling a few bytes a second holds a request (and its connection) open.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                # Refuse on the header alone: the body is never read.
                await self._refuse(scope, receive, send)
                return
        received = 0
        deadline: float | None = None
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, deadline, body_done
            if body_done:
                # After the body, receive() only reports a disconnect, which may rightly take forever.
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.timeout_s
            try:
                # One deadline for the whole body, however slowly its pieces come.
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, TOO_SLOW.format(timeout=self.timeout_s), headers=CLOSE) from None
            received += len(message.get("body", b""))
            body_done = not message.get("more_body", False)
            if received > self.max_bytes:
                # Chunked bodies have no Content-Length; stop as soon as the limit is passed. An
                # HTTPException, because FastAPI re-raises those from body parsing (it turns any other
                # error into a 400), and the app's handler then answers with the problem.
                raise HTTPException(413, TOO_LARGE.format(limit=self.max_bytes), headers=CLOSE)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, TOO_LARGE.format(limit=self.max_bytes), headers=CLOSE)
        await response(scope, receive, send)
