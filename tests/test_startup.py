"""app/startup.py: index creation retried in the background, and the gate writes wait on."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

import app.startup
from app.startup import IndexGate, create_indexes

pytestmark = pytest.mark.anyio


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


async def test_a_later_non_transient_error_is_retried_not_fatal() -> None:
    gate = IndexGate()
    database = FlakyDatabase(ServerSelectionTimeoutError("down"), OperationFailure("transient oddity", 1))

    async with anyio.create_task_group() as tasks:
        await create_indexes(database, gate, tasks)  # type: ignore[arg-type]

    assert gate.is_open
