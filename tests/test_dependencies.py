"""The app's dependencies run on the event loop: a request never waits for a worker thread to get them.

FastAPI runs a plain `def` dependency on a worker thread (anyio's pool, 40 threads by default), a hop
per dependency per request; under load the requests queue for those threads. The dependencies in
app/deps.py do no blocking work, so they are `async def`, and a request in memory uses no thread at all.
"""

from __future__ import annotations

import anyio.to_thread
import pytest

from app.settings import IN_MEMORY_URL, Settings
from tests.support.api import create_item
from tests.support.apps import serve_app

pytestmark = pytest.mark.anyio

# A bound on hanging, not a speed target: in memory each request takes milliseconds.
WAIT_S = 10


async def test_every_route_answers_while_no_worker_thread_is_free() -> None:
    # In memory, so that the driver itself needs no thread (Motor runs every operation on one).
    async with serve_app(Settings(mongodb_url=IN_MEMORY_URL)) as http:
        item = await create_item(http, "steady")
        limiter = anyio.to_thread.current_default_thread_limiter()
        total = limiter.total_tokens
        limiter.total_tokens = 1
        # Taken on behalf of someone else: the requests run in this very task (ASGITransport).
        holder = object()
        limiter.acquire_on_behalf_of_nowait(holder)
        try:
            statuses: list[int] = []
            with anyio.move_on_after(WAIT_S) as waited:
                for method, path, body in [
                    ("GET", f"/items/{item['id']}", None),
                    ("GET", "/items", None),
                    ("POST", "/items", {"name": "another"}),
                    ("PATCH", f"/items/{item['id']}", {"quantity": 2}),
                    ("DELETE", f"/items/{item['id']}", None),
                    ("GET", "/health/ready", None),
                ]:
                    response = await http.request(method, path, json=body)
                    statuses.append(response.status_code)
        finally:
            limiter.release_on_behalf_of(holder)
            limiter.total_tokens = total

    assert not waited.cancelled_caught, (
        f"request {len(statuses) + 1} did not answer within {WAIT_S} s while no worker thread was free:"
        " some dependency (or the route) runs on a thread; make it `async def`"
    )
    assert statuses == [200, 200, 201, 200, 204, 200]
