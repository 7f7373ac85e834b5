"""A frozen database: every request that needs it answers 503 within about its budget, on both drivers.

The server is a private FerretDB frozen with SIGSTOP: it accepts connections and answers nothing. Motor
runs each operation on a thread pool of CPU count x 5 threads and a queued operation has not started its
`timeoutMS`, so without the app's deadline (app.repository) its requests answer in waves of one budget
each. PyMongo async's server selection checks its `timeoutMS` only every 500 ms, so on a freeze longer
than its budgets (the server marked Unknown) an operation ended up to 0.5 s late, 2x a 500 ms budget,
until the app's deadline applied to PyMongo too (without cancelling its operations). The figures, as
ratios to the budget, come from bench/bench_latency.py. The 20 s freeze is opt-in (`LONG_FREEZE=1`, as
CI sets it in a step of its own): it is deselected, not skipped, in the quick run (conftest.py).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import app.main
from app.database import Database
from app.repository import DeadlineExceededError, ItemRepository
from app.settings import IN_MEMORY_URL, Driver, Settings
from tests.support.api import assert_problem, create_item
from tests.support.apps import serve_app, short_budget_settings
from tests.support.servers import FerretServer, ferretdb_server
from tests.support.waits import answered_within

pytestmark = pytest.mark.anyio

BUDGET_MS = 500
BOUND_S = 3 * BUDGET_MS / 1000  # generous against the promised ~1.5x; Motor's queue alone took 6x
# Six times Motor's pool (its own rule, MOTOR_MAX_WORKERS or CPU count x 5), so that without a deadline
# the last requests would wait for five earlier waves of frozen operations.
MOTOR_THREADS = int(os.environ.get("MOTOR_MAX_WORKERS", multiprocessing.cpu_count() * 5))
REQUESTS = 6 * MOTOR_THREADS
# The long freeze: longer than every budget of the driver many times over, so that its pool empties, its
# monitor marks the server Unknown, and the breaker's trials meet that state again and again.
LONG_FREEZE_S = 20
READERS = 20
PROMISED_S = 1.5 * BUDGET_MS / 1000  # docs/reliability.md: about 1.25x the budget, under 1.5x


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[FerretServer]:
    """A FerretDB process of this test's own, so that it can be frozen; thawed and stopped afterwards."""
    async with ferretdb_server(tmp_path / "data") as server:
        yield server


@pytest.mark.parametrize("driver", list(Driver))
async def test_every_concurrent_request_gets_503_within_its_budget_while_the_database_is_frozen(
    server: FerretServer, driver: Driver
) -> None:
    settings = short_budget_settings(server.url, budget_ms=BUDGET_MS, driver=driver, mongodb_db="frozen")
    async with serve_app(settings) as http:
        item = await create_item(http, "steady")
        requests = [
            ("GET", f"/items/{item['id']}", None),
            ("GET", "/items", None),
            ("PATCH", f"/items/{item['id']}", {"quantity": 1}),
            ("DELETE", f"/items/{item['id']}", None),
        ]
        answers: list[httpx.Response] = []

        async def send(number: int) -> None:
            if number % 5 == 4:
                answers.append(await http.post("/items", json={"name": f"new {number}"}))
            else:
                method, path, body = requests[number % 5]
                answers.append(await http.request(method, path, json=body))

        async def send_all() -> None:
            async with anyio.create_task_group() as tasks:
                for number in range(REQUESTS):
                    tasks.start_soon(send, number)

        server.freeze()
        # Waited for, never cancelled: see tests.support.waits.answered_within.
        await asyncio.wait({asyncio.ensure_future(send_all())}, timeout=BOUND_S)
        server.thaw()

    assert len(answers) == REQUESTS, (
        f"{REQUESTS - len(answers)} of {REQUESTS} concurrent requests had no answer {BOUND_S} s after the"
        f" database froze, three times the {BUDGET_MS} ms budget ({driver.value})"
    )
    for response in answers:
        assert_problem(response, 503)


@pytest.mark.long_freeze
@pytest.mark.parametrize("driver", list(Driver))
async def test_every_request_gets_503_within_one_and_a_half_budgets_all_through_a_20_s_freeze(
    server: FerretServer, driver: Driver
) -> None:
    settings = short_budget_settings(server.url, budget_ms=BUDGET_MS, driver=driver, mongodb_db="frozen_long")
    async with serve_app(settings) as http:
        item = await create_item(http, "steady")
        answers: list[httpx.Response] = []
        late: list[str] = []

        async def read_until_thawed() -> None:
            while (sent := loop.time() - frozen_at) < LONG_FREEZE_S:
                # Waited for, never cancelled: see tests.support.waits.answered_within.
                request = asyncio.ensure_future(http.get(f"/items/{item['id']}"))
                await asyncio.wait({request}, timeout=PROMISED_S)
                if not request.done():
                    await asyncio.wait({request}, timeout=LONG_FREEZE_S)
                    took = loop.time() - frozen_at - sent
                    waited = f"answered after {took:.2f} s" if request.done() else "no answer 20 s later"
                    late.append(f"a GET sent {sent:.1f} s into the freeze ({waited})")
                if request.done():
                    answers.append(request.result())
                await asyncio.sleep(0.1)

        loop = asyncio.get_running_loop()
        server.freeze()
        frozen_at = loop.time()
        async with anyio.create_task_group() as readers:
            for _ in range(READERS):
                readers.start_soon(read_until_thawed)
        server.thaw()

    assert not late, (
        f"{len(late)} of {len(answers)} requests had no answer within {PROMISED_S} s (1.5x the {BUDGET_MS} ms"
        f" budget) during a {LONG_FREEZE_S} s freeze ({driver.value}): {', '.join(late[:10])}"
    )
    for response in answers:
        assert_problem(response, 503)


class _Unanswered:
    """A database whose every collection call waits forever, as a hung driver call would."""

    def __getitem__(self, name: str) -> _Unanswered:
        return self

    async def find_one(self, *args: Any, **kwargs: Any) -> None:
        await anyio.sleep_forever()


async def test_a_database_call_that_never_returns_gets_the_503_of_a_timeout_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In memory, so on every CI run: the deadline alone, whatever the driver does or does not time out.
    def hung(database: Database, **options: Any) -> ItemRepository:
        return ItemRepository(_Unanswered(), **options)  # type: ignore[arg-type]

    monkeypatch.setattr(app.main, "ItemRepository", hung)  # what the lifespan builds its repository with
    settings = Settings(mongodb_url=IN_MEMORY_URL, mongodb_timeout_ms=BUDGET_MS)
    async with serve_app(settings) as http:
        response = None
        with anyio.move_on_after(BOUND_S):
            response = await http.get("/items/0123456789abcdef01234567")

    assert response is not None, f"a hung database call had no answer within {BOUND_S} s: no deadline applied"
    assert_problem(response, 503)
    assert response.headers["retry-after"]


class _AnswersWhenReleased:
    """A database whose find_one answers only once `release` is set, and notes whether it was cancelled."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.cancelled = False
        self.answered = False

    def __getitem__(self, name: str) -> _AnswersWhenReleased:
        return self

    def find(self, *args: Any, **kwargs: Any) -> None:
        """Called, never iterated, before a call moves to a task of its own (for the loop guard)."""

    async def find_one(self, *args: Any, **kwargs: Any) -> None:
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.answered = True


async def test_a_call_past_its_deadline_that_may_not_be_cancelled_is_left_to_end_and_drained() -> None:
    # PyMongo's setting (cancel_at_deadline=False): the caller gets its timeout, the operation is not cancelled
    # (Settings.may_cancel_database_calls), and the repository waits for it before the client is closed.
    database = _AnswersWhenReleased()
    items = ItemRepository(database, deadline_s=0.01, cancel_at_deadline=False)  # type: ignore[arg-type]

    with pytest.raises(DeadlineExceededError):
        await items.get("0123456789abcdef01234567")
    database.release.set()
    await answered_within(BOUND_S, "the abandoned call's end, awaited by drain()", items.drain())

    assert not database.cancelled
    assert database.answered
