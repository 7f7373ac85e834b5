"""run_lifespan, the lifespan runner the plugin is built on, checked on tiny ASGI apps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from loopsafe_mongo import LifespanError, run_lifespan
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

pytestmark = pytest.mark.anyio


def _app(events: list[str], *, fail_startup: bool = False) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        if fail_startup:
            raise ValueError("no database configured")
        yield {"answer": 42, "loop": asyncio.get_running_loop()}
        events.append("shutdown")

    async def read_state(request: Request) -> JSONResponse:
        request.state.answer = 0  # must not leak into the app's state
        return JSONResponse({"same_loop": request.state.loop is asyncio.get_running_loop()})

    return Starlette(routes=[Route("/", read_state)], lifespan=lifespan)


async def test_runner_runs_startup_then_shutdown_around_the_block() -> None:
    events: list[str] = []

    async with run_lifespan(_app(events)):
        assert events == ["startup"]

    assert events == ["startup", "shutdown"]


async def test_runner_exposes_the_lifespan_state() -> None:
    async with run_lifespan(_app([])) as running:
        assert running.state["answer"] == 42


async def test_requests_see_the_state_on_the_tests_own_loop() -> None:
    async with run_lifespan(_app([])) as running:
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/")

        assert response.json() == {"same_loop": True}
        assert running.loop is asyncio.get_running_loop()
        assert running.state["answer"] == 42


async def test_a_failing_startup_reraises_the_apps_own_exception() -> None:
    with pytest.raises(ValueError, match="no database configured"):
        async with run_lifespan(_app([], fail_startup=True)):
            pytest.fail("the block must not run when startup fails")


async def test_an_app_that_reports_failure_without_raising_gives_lifespan_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "disk full"})

    with pytest.raises(LifespanError, match="disk full"):
        async with run_lifespan(app):
            pytest.fail("the block must not run when startup fails")


async def test_an_app_that_ends_its_lifespan_without_replying_gives_lifespan_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with pytest.raises(LifespanError, match="without replying"):
        async with run_lifespan(app):
            pytest.fail("the block must not run when startup fails")


async def test_a_shutdown_that_never_finishes_fails_with_a_message_instead_of_hanging() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await asyncio.Event().wait()  # shutdown hangs, as a client that never closes would

    with pytest.raises(LifespanError, match=r"^lifespan.shutdown did not complete within 0.2 s"):
        async with run_lifespan(app, timeout_s=0.2):
            pass


async def test_a_startup_that_never_finishes_fails_with_a_message_instead_of_hanging() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await asyncio.Event().wait()

    with pytest.raises(LifespanError, match=r"^lifespan.startup did not complete within 0.2 s"):
        async with run_lifespan(app, timeout_s=0.2):
            pytest.fail("the block must not run when startup does not finish")
