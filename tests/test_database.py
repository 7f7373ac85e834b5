"""app/database.py: backends per driver, error classification, and the guard switch."""

from __future__ import annotations

import inspect

import pytest
from loopsafe_mongo.guard import Guarded
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from app.database import close_client, create_client, is_duplicate_key, is_unavailable
from app.models import ItemCreate
from app.repository import ItemRepository
from app.settings import IN_MEMORY_URL, Driver, Settings

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("driver", "close_is_a_coroutine"), [(Driver.MOTOR, False), (Driver.PYMONGO, True)], ids=["motor", "pymongo"]
)
async def test_in_memory_backend_has_the_drivers_close_shape(driver: Driver, close_is_a_coroutine: bool) -> None:
    client = create_client(Settings(mongodb_url=IN_MEMORY_URL, mongodb_driver=driver, loop_guard=False))

    result = client.close()

    assert inspect.iscoroutine(result) is close_is_a_coroutine
    if inspect.iscoroutine(result):
        await result


@pytest.mark.parametrize("driver", list(Driver))
async def test_in_memory_backend_stores_and_finds_documents_for_each_driver(driver: Driver) -> None:
    client = create_client(Settings(mongodb_url=IN_MEMORY_URL, mongodb_driver=driver))
    try:
        items = client["shop"]["items"]
        await items.insert_one({"_id": 1, "name": "a"})
        assert await items.find_one({"_id": 1}) == {"_id": 1, "name": "a"}
    finally:
        await close_client(client)


async def test_the_client_is_loop_guarded_by_default() -> None:
    client = create_client(Settings())
    try:
        # type(), not isinstance(): the guard passes isinstance checks for the driver's class.
        assert issubclass(type(client), Guarded)
    finally:
        await close_client(client)


async def test_loop_guard_false_gives_the_bare_client() -> None:
    client = create_client(Settings(loop_guard=False))
    try:
        assert not issubclass(type(client), Guarded)
    finally:
        await close_client(client)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(DuplicateKeyError("E11000 duplicate key error", 11000), id="mongodb-duplicate-key"),
        pytest.param(
            OperationFailure("UNIQUE constraint failed: index 'items_name_unique' (2067)", 1),
            id="ferretdb-update-unique-violation",
        ),
    ],
)
def test_is_duplicate_key_recognises_unique_violations(error: Exception) -> None:
    assert is_duplicate_key(error)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(OperationFailure("something else", 1), id="other-code-1"),
        pytest.param(OperationFailure("UNIQUE constraint failed", 2), id="other-code"),
        pytest.param(ValueError("E11000"), id="not-a-driver-error"),
    ],
)
def test_is_duplicate_key_rejects_other_errors(error: Exception) -> None:
    assert not is_duplicate_key(error)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(ServerSelectionTimeoutError("no server"), id="server-selection"),
        pytest.param(AutoReconnect("connection reset"), id="connection-lost"),
        pytest.param(ExecutionTimeout("operation exceeded time limit", 50), id="operation-timeout"),
    ],
)
def test_is_unavailable_for_down_or_slow_databases(error: Exception) -> None:
    assert is_unavailable(error)


def test_is_unavailable_is_false_for_a_rejected_operation() -> None:
    assert not is_unavailable(OperationFailure("bad query", 2))


async def test_the_guard_raises_no_false_positive_through_the_repository_on_one_loop() -> None:
    client = create_client(Settings(mongodb_url=IN_MEMORY_URL, loop_guard=True))
    try:
        items = ItemRepository(client["items"])

        created = await items.create(ItemCreate(name="lamp"))
        page, _ = await items.page(limit=10)
        await items.delete(created.id)

        assert [item.id for item in page] == [created.id]
        assert await client["items"]["items"].find_one({}) is None
    finally:
        await close_client(client)
