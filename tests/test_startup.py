"""app/startup.py: index creation retried in the background, and the gate writes wait on."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

import app.startup
from app.startup import IndexGate, create_indexes
from tests.support.waits import within

pytestmark = pytest.mark.anyio

# A bound on hanging, not a speed target: nothing here waits on anything slow.
WAIT_S = 10


class FlakyDatabase:
    """A stand-in whose index creation fails with `errors`, in order, then succeeds (only what index
    creation uses, hence the type: ignore where one is passed for a Database)."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)

    def __getitem__(self, name: str) -> FlakyDatabase:
        return self

    async def create_index(self, *args: Any, **kwargs: Any) -> str:
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.fixture(autouse=True)
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.startup, "RETRY_DELAYS_S", (0.0,))


async def test_the_gate_opens_at_startup_when_the_database_answers() -> None:
    gate = IndexGate()

    async with anyio.create_task_group() as tasks:
        await create_indexes(FlakyDatabase(), gate, tasks)  # type: ignore[arg-type]

    assert gate.is_open


async def test_startup_goes_on_with_the_gate_closed_while_the_database_is_down() -> None:
    gate = IndexGate()
    database = FlakyDatabase(*[ServerSelectionTimeoutError("down")] * 3)

    async with anyio.create_task_group() as tasks:
        await create_indexes(database, gate, tasks)  # type: ignore[arg-type]
        assert not gate.is_open

    assert gate.is_open
    assert database.errors == []  # every failure was met, and retried past


async def test_a_non_transient_error_on_the_first_attempt_fails_startup() -> None:
    database = FlakyDatabase(OperationFailure("index build failed: duplicate names", 11000))

    with pytest.raises(ExceptionGroup) as raised:
        async with anyio.create_task_group() as tasks:
            await create_indexes(database, IndexGate(), tasks)  # type: ignore[arg-type]

    assert raised.group_contains(OperationFailure)


class HangingRetry(FlakyDatabase):
    """Down at the first attempt; the retry's index creation then waits for `release`, and notes whether a
    cancellation reached it."""

    def __init__(self) -> None:
        super().__init__(ServerSelectionTimeoutError("down"))
        self.retrying, self.release = anyio.Event(), anyio.Event()
        self.cancelled = False

    async def create_index(self, *args: Any, **kwargs: Any) -> str:
        if self.errors:
            return await super().create_index(*args, **kwargs)
        self.retrying.set()
        try:
            await self.release.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled = True
            raise
        return "ok"


async def test_shutdown_lets_an_index_attempt_in_flight_finish_instead_of_cancelling_it() -> None:
    gate = IndexGate()
    database = HangingRetry()

    with within(WAIT_S, "shutdown of a startup whose index retry was in flight"):
        async with anyio.create_task_group() as tasks:
            await create_indexes(database, gate, tasks)  # type: ignore[arg-type]
            with within(WAIT_S, "the background retry of the index creation"):
                await database.retrying.wait()
            tasks.cancel_scope.cancel()  # what the app's lifespan does at shutdown
            database.release.set()  # the driver call answers after the cancellation

    assert not database.cancelled, "shutdown cancelled a database call in flight"
    assert gate.is_open


async def test_a_later_non_transient_error_is_retried_not_fatal() -> None:
    gate = IndexGate()
    database = FlakyDatabase(ServerSelectionTimeoutError("down"), OperationFailure("transient oddity", 1))

    async with anyio.create_task_group() as tasks:
        await create_indexes(database, gate, tasks)  # type: ignore[arg-type]

    assert gate.is_open
