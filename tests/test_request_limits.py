"""Request bodies over Settings.max_body_bytes get 413 before they are read whole, and bodies slower than
Settings.request_body_timeout_s get 408, in ASGI and over a real socket.

Reading is measured by counting the chunks the app pulls from a streamed body.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from loopsafe_mongo import run_lifespan
from starlette.types import Message, Receive, Scope, Send

from app.database import Database
from app.main import create_app
from app.middleware import BodyLimitsMiddleware
from app.settings import IN_MEMORY_URL, Settings
from tests.support.api import assert_problem
from tests.support.waits import within

pytestmark = pytest.mark.anyio

CHUNK = 64 * 1024
JSON = {"content-type": "application/json"}


class CountingBody:
    """A streamed request body that counts how many chunks the server has pulled from it."""

    def __init__(self, chunks: int, chunk: bytes = b" " * CHUNK) -> None:
        self.chunks = chunks
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield self.chunk


async def count_items(db: Database) -> int:
    return len(await db["items"].find({}, sort=[("_id", 1)], limit=0).to_list(None))


def padded_json(size: int) -> bytes:
    """A valid item body of exactly `size` bytes: trailing whitespace is legal JSON."""
    body = b'{"name": "padded"}'
    return body + b" " * (size - len(body))


@pytest.fixture
def no_limit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_BODY_BYTES", raising=False)


@pytest.mark.usefixtures("no_limit_env")
def test_default_limits_are_64_kib_and_10_seconds() -> None:
    settings = Settings()
    assert settings.max_body_bytes == 65_536
    assert settings.request_body_timeout_s == 10


async def test_max_body_bytes_env_sets_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "2048")
    settings = Settings(mongodb_url=IN_MEMORY_URL)  # the limit is HTTP's business: any backend will do
    assert settings.max_body_bytes == 2048
    async with run_lifespan(create_app(settings)) as running:
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.post("/items", content=padded_json(2048), headers=JSON)).status_code == 201
            assert_problem(await client.post("/items", content=padded_json(2049), headers=JSON), 413)


BODY_TIMEOUT_S = 0.3


@pytest.fixture
async def slow_body_client() -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The app, in memory, with a body time limit short enough to wait out in a test."""
    settings = Settings(mongodb_url=IN_MEMORY_URL, request_body_timeout_s=BODY_TIMEOUT_S)
    async with run_lifespan(create_app(settings)) as running:
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, running.state["db"]


async def stalled_body() -> AsyncIterator[bytes]:
    yield b'{"name": "st'
    await anyio.sleep(60)  # far past the limit: only the limit can end this request
    yield b'alled"}'


async def trickled_body() -> AsyncIterator[bytes]:
    # Every piece arrives well within the limit; the whole body does not.
    for byte in b'{"name": "trickled"' + b" " * 100 + b"}":
        yield bytes([byte])
        await anyio.sleep(BODY_TIMEOUT_S / 10)


@pytest.mark.parametrize("body", [stalled_body, trickled_body], ids=["stalled", "trickled"])
async def test_a_body_slower_than_the_time_limit_gets_408_and_stores_nothing(
    slow_body_client: tuple[httpx.AsyncClient, Database], body: Callable[[], AsyncIterator[bytes]]
) -> None:
    client, db = slow_body_client
    with within(10 * BODY_TIMEOUT_S + 5, "the answer to a body slower than the limit"):
        response = await client.post("/items", content=body(), headers=JSON)
    problem = assert_problem(response, 408)
    assert problem["detail"] == f"The request body did not arrive within {BODY_TIMEOUT_S:g} s."
    assert response.headers["connection"] == "close"
    assert await count_items(db) == 0


async def test_the_time_limit_ends_with_the_body() -> None:
    """Once the body is whole, receive() only waits for a disconnect, which may rightly take longer."""
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        events.append((await receive())["type"])  # the body
        events.append((await receive())["type"])  # then, much later than the limit, a disconnect
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    messages: list[Message] = [
        {"type": "http.request", "body": b"{}", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        if len(messages) == 1:
            await anyio.sleep(3 * BODY_TIMEOUT_S)
        return messages.pop(0)

    async def send(message: Message) -> None:
        events.append(str(message.get("status", "")))

    scope = {"type": "http", "headers": [(b"content-length", b"2")]}
    await BodyLimitsMiddleware(app, max_bytes=1024, timeout_s=BODY_TIMEOUT_S)(scope, receive, send)
    assert events[:3] == ["http.request", "http.disconnect", "204"]


@pytest.mark.parametrize(
    "route",
    [("POST", "/items"), ("PATCH", "/items/0123456789abcdef01234567"), ("GET", "/health/live")],
    ids=" ".join,
)
@pytest.mark.parametrize("excess", [1, 10**12])
async def test_content_length_over_the_limit_gets_413_before_any_byte_is_read(
    client: httpx.AsyncClient, db: Database, settings: Settings, route: tuple[str, str], excess: int
) -> None:
    body = CountingBody(chunks=100)
    headers = {**JSON, "content-length": str(settings.max_body_bytes + excess)}
    response = await client.request(*route, content=body, headers=headers)
    problem = assert_problem(response, 413)
    assert str(settings.max_body_bytes) in problem["detail"]
    assert response.headers["connection"] == "close"
    # The header alone decided: not one chunk was pulled, even for a route that reads no body.
    assert body.pulled == 0
    assert await count_items(db) == 0


@pytest.mark.parametrize("declared", [None, "10"], ids=["chunked", "lying-content-length"])
async def test_streamed_body_over_the_limit_gets_413_just_past_the_limit(
    client: httpx.AsyncClient, db: Database, settings: Settings, declared: str | None
) -> None:
    # No Content-Length (httpx sends a generator chunked), or one that understates the body: only
    # counting the bytes received can catch these.
    body = CountingBody(chunks=settings.max_body_bytes // CHUNK + 100)
    headers = JSON if declared is None else {**JSON, "content-length": declared}
    response = await client.post("/items", content=body, headers=headers)
    assert_problem(response, 413)
    assert response.headers["connection"] == "close"
    # Reading stops with the first chunk that passes the limit; the other ~100 are never pulled.
    first_over = settings.max_body_bytes // CHUNK + 1
    assert first_over <= body.pulled <= first_over + 1
    assert await count_items(db) == 0


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_body_of_exactly_the_limit_is_accepted(
    client: httpx.AsyncClient, settings: Settings, streamed: bool
) -> None:
    content = padded_json(settings.max_body_bytes)
    chunks = [content[i : i + CHUNK] for i in range(0, len(content), CHUNK)]

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    response = await client.post("/items", content=stream() if streamed else content, headers=JSON)
    assert response.status_code == 201, response.text


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, int]]:
    """The app under uvicorn on a loopback port, in memory, with a 1 KiB limit: (port, limit)."""
    limit = 1024
    settings = Settings(mongodb_url=IN_MEMORY_URL, max_body_bytes=limit, request_body_timeout_s=BODY_TIMEOUT_S)
    # log_config=None: leave the process's logging alone for the other tests.
    config = uvicorn.Config(create_app(settings), lifespan="on", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])
        with within(10, "uvicorn starting"):
            while not server.started:  # noqa: ASYNC110 - uvicorn reports readiness only through this flag
                await anyio.sleep(0.01)
        try:
            yield sock.getsockname()[1], limit
        finally:
            server.should_exit = True
    sock.close()


async def exchange(port: int, head: bytes, body_parts: list[bytes]) -> tuple[bytes, bool]:
    """Send a request head and part of a body, never finishing it; return the reply and whether the server closed."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(head)
        for part in body_parts:
            await stream.send(part)
        reply = b""
        closed = False
        with anyio.move_on_after(5):
            while True:
                try:
                    reply += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    closed = True
                    break
        return reply, closed


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_uvicorn_answers_413_and_closes_while_the_client_is_still_sending(
    server: tuple[int, int], framing: str
) -> None:
    port, limit = server
    head = "POST /items HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
    if framing == "content-length":
        # A gigabyte announced, a few bytes sent: the answer cannot have waited for the rest.
        head += f"content-length: {2**30}\r\n\r\n"
        parts = [b"{"]
    else:
        head += "transfer-encoding: chunked\r\n\r\n"
        # Just past the limit, then silence: the body never ends, so only an early refusal answers.
        parts = [b"200\r\n" + b" " * 0x200 + b"\r\n"] * (limit // 0x200 + 1)
    reply, closed = await exchange(port, head.encode(), parts)
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large", reply[:300]
    headers: dict[str, Any] = dict(
        line.decode().lower().split(": ", 1) for line in rest.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    )
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert closed


def parse_reply(reply: bytes) -> tuple[bytes, dict[str, str]]:
    status_line, _, rest = reply.partition(b"\r\n")
    head = rest.split(b"\r\n\r\n", 1)[0]
    return status_line, dict(line.decode().lower().split(": ", 1) for line in head.split(b"\r\n") if line)


@pytest.mark.parametrize("framing", ["content-length", "huge-chunk"])
async def test_uvicorn_answers_408_and_closes_when_a_body_stops_arriving(server: tuple[int, int], framing: str) -> None:
    port, _ = server
    head = "POST /items HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
    if framing == "content-length":
        head += "content-length: 100\r\n\r\n"
        parts = [b'{"name": "sl']
    else:
        # The finding's chunk that announces 2**64 - 1 bytes and then sends a few.
        head += "transfer-encoding: chunked\r\n\r\nffffffffffffffff\r\n"
        parts = [b'{"name": "sl']
    reply, closed = await exchange(port, head.encode(), parts)
    status_line, headers = parse_reply(reply)
    assert status_line == b"HTTP/1.1 408 Request Timeout", reply[:300]
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert closed
