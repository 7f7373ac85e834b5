"""app/startup.py: index creation retried in the background, and the gate writes wait on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

import app.startup
from app.startup import IndexGate, create_indexes, create_indexes_on_server
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


class ServerDatabase(FlakyDatabase):
    """FlakyDatabase with what create_indexes_on_server reads of a real client: the driver's verdict on the
    server (its last check's error, or None), and a first attempt that waits for `release` if `held`."""

    def __init__(self, *errors: Exception, held: bool = False) -> None:
        super().__init__(*errors)
        self.check_error: Exception | None = None
        self.release = anyio.Event()
        if not held:
            self.release.set()

    @property
    def client(self) -> ServerDatabase:
        return self

    @property
    def topology_description(self) -> ServerDatabase:
        return self

    def server_descriptions(self) -> dict[tuple[str, int], SimpleNamespace]:
        return {("db.example", 27017): SimpleNamespace(error=self.check_error)}

    async def create_index(self, *args: Any, **kwargs: Any) -> str:
        await self.release.wait()
        return await super().create_index(*args, **kwargs)


async def test_on_a_server_startup_returns_with_the_gate_open_when_the_database_answers() -> None:
    gate = IndexGate()

    async with anyio.create_task_group() as tasks:
        await create_indexes_on_server(ServerDatabase(), gate, tasks)  # type: ignore[arg-type]
        assert gate.is_open


async def test_on_a_server_startup_stops_waiting_once_the_driver_finds_the_database_unreachable() -> None:
    gate = IndexGate()
    database = ServerDatabase(held=True)
    database.check_error = ServerSelectionTimeoutError("connection refused")

    async with anyio.create_task_group() as tasks:
        with within(WAIT_S, "startup giving up its wait for an unreachable database"):
            await create_indexes_on_server(database, gate, tasks)  # type: ignore[arg-type]
        assert not gate.is_open
        database.release.set()  # the attempt, never cancelled, ends when the driver's call does

    assert gate.is_open


async def test_on_a_server_a_non_transient_error_on_the_first_attempt_fails_startup() -> None:
    database = ServerDatabase(OperationFailure("index build failed: duplicate names", 11000))

    with pytest.raises(ExceptionGroup) as raised:
        async with anyio.create_task_group() as tasks:
            await create_indexes_on_server(database, IndexGate(), tasks)  # type: ignore[arg-type]

    assert raised.group_contains(OperationFailure)


async def test_on_a_server_a_non_transient_error_after_startup_is_logged_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = IndexGate()
    database = ServerDatabase(OperationFailure("index build failed: duplicate names", 11000), held=True)
    database.check_error = ServerSelectionTimeoutError("connection refused")

    async with anyio.create_task_group() as tasks:
        await create_indexes_on_server(database, gate, tasks)  # type: ignore[arg-type]
        database.release.set()  # the database answers, with an error retrying may not fix

    assert gate.is_open  # the next attempt succeeded
    assert [record.levelname for record in caplog.records if "could not be created" in record.message] == ["ERROR"]
