"""ASGI middleware that refuses request bodies over a size limit before they are read whole."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem

TOO_LARGE = "The request body is larger than the limit of {limit} bytes."
# The rest of the body is never read, so the connection cannot carry another request: tell the server
# to close it rather than drain (or wait for) what the client is still sending.
CLOSE = {"Connection": "close"}


class BodySizeLimitMiddleware:
    """Answer 413 when Content-Length, or the bytes actually received, exceed `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # Chunked bodies have no Content-Length; stop as soon as the limit is passed. An
                # HTTPException, because FastAPI re-raises those from body parsing (it turns any other
                # error into a 400), and the app's handler then answers with the 413 problem.
                raise HTTPException(413, TOO_LARGE.format(limit=self.max_bytes), headers=CLOSE)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, TOO_LARGE.format(limit=self.max_bytes), headers=CLOSE)
        await response(scope, receive, send)
