"""The guard around the real drivers' objects: it passes for them, keeps what it hands out guarded, and
catches the misuses the drivers report badly (off-loop calls, use after close, clients made off any loop).

No server is needed: every check here runs before a driver would do any I/O.
"""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gridfs import AsyncGridFSBucket
from loopsafe_mongo import ClientCreatedOffLoopError, LoopMismatchError, guard
from loopsafe_mongo.guard import STRICT_ENV
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase, AsyncIOMotorGridFSBucket
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import InvalidOperation

# Nothing listens on port 9 (discard); the guard answers before a driver would connect.
UNREACHABLE = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"

Driver = Callable[[], Any]
DRIVERS: dict[str, tuple[Driver, type]] = {
    "motor": (lambda: AsyncIOMotorClient(UNREACHABLE), AsyncIOMotorDatabase),
    "pymongo": (lambda: AsyncMongoClient(UNREACHABLE), AsyncDatabase),
}


@pytest.fixture(params=list(DRIVERS))
def driver(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any, type]]:
    """A raw client, its guarded twin (made off any loop, not strict) and the driver's database class."""
    make, database_class = DRIVERS[request.param]
    with asyncio.Runner() as runner:
        guarded = runner.run(_on_loop(make))
        raw = object.__getattribute__(guarded, "_target")
        yield raw, guarded, database_class
        close = raw.close()
        if asyncio.iscoroutine(close):
            runner.run(close)


async def _on_loop(make: Driver) -> Any:
    """A guarded client made on the running loop, as a lifespan makes it: bound to that loop from the start."""
    return guard(make())


def test_a_guarded_database_passes_isinstance_for_the_drivers_class(driver: tuple[Any, Any, type]) -> None:
    _, guarded, database_class = driver

    assert isinstance(guarded["shop"], database_class)


def test_databases_compare_and_hash_as_the_drivers_do(driver: tuple[Any, Any, type]) -> None:
    raw, guarded, _ = driver

    assert guarded["shop"] == guarded["shop"]
    assert guarded["shop"] == raw["shop"]
    assert guarded["shop"] != guarded["other"]
    assert hash(guarded["shop"]) == hash(raw["shop"])


def test_truth_testing_behaves_as_the_drivers(driver: tuple[Any, Any, type]) -> None:
    raw, guarded, _ = driver

    with pytest.raises(NotImplementedError) as from_driver:
        bool(raw["shop"])
    with pytest.raises(NotImplementedError) as from_guard:
        bool(guarded["shop"])

    assert str(from_guard.value) == str(from_driver.value)


def test_callability_and_the_drivers_hint_for_a_misspelt_method_survive(driver: tuple[Any, Any, type]) -> None:
    raw, guarded, _ = driver

    with pytest.raises(TypeError) as from_driver:
        raw["shop"]["items"].fnd_one({})
    with pytest.raises(TypeError) as from_guard:
        guarded["shop"]["items"].fnd_one({})

    assert callable(guarded["shop"]) == callable(raw["shop"])
    assert str(from_guard.value) == str(from_driver.value)


def test_a_copy_is_a_guarded_equal_of_the_original(driver: tuple[Any, Any, type]) -> None:
    _, guarded, _ = driver

    duplicate = copy.copy(guarded["shop"])

    assert duplicate == guarded["shop"]
    assert type(duplicate) is type(guarded["shop"])


def test_a_pymongo_gridfs_bucket_accepts_a_guarded_database_and_stays_guarded() -> None:
    with asyncio.Runner() as first:
        client = first.run(_on_loop(lambda: AsyncMongoClient(UNREACHABLE)))
        bucket = AsyncGridFSBucket(client["files"])

        with pytest.raises(LoopMismatchError):
            asyncio.run(bucket.find({}).to_list())
        first.run(client.close())


def test_a_motor_gridfs_bucket_accepts_a_guarded_database_and_stays_guarded() -> None:
    with asyncio.Runner() as first:
        client = first.run(_on_loop(lambda: AsyncIOMotorClient(UNREACHABLE)))
        bucket = AsyncIOMotorGridFSBucket(client["files"])

        with pytest.raises(LoopMismatchError):
            asyncio.run(_delete(bucket))
        client.close()


async def _delete(bucket: Any) -> None:
    await bucket.delete(1)


def test_a_call_with_no_running_loop_on_a_bound_client_raises_the_guards_error() -> None:
    with asyncio.Runner() as first:
        client = first.run(_on_loop(lambda: AsyncIOMotorClient(UNREACHABLE)))

    with pytest.raises(LoopMismatchError, match="used now:   with no running event loop"):
        client["shop"]["items"].find_one({})
    client.close()


def test_an_in_memory_client_fails_after_close_as_the_drivers_do() -> None:
    async def use_after_close() -> None:
        client = guard(AsyncMongoMockClient())
        items = client["shop"]["items"]
        await items.insert_one({"name": "lamp"})
        client.close()
        await items.find_one({})

    with pytest.raises(InvalidOperation, match=r"^Cannot use MongoClient after close$"):
        asyncio.run(use_after_close())


def test_strict_mode_refuses_a_client_created_with_no_running_loop() -> None:
    with pytest.raises(ClientCreatedOffLoopError, match="created with no running event loop") as caught:
        guard(AsyncMongoMockClient(), strict=True)

    assert "created at: tests/test_guard_with_drivers.py:" in str(caught.value)


def test_strict_mode_comes_from_the_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STRICT_ENV, "1")

    with pytest.raises(ClientCreatedOffLoopError):
        guard(AsyncMongoMockClient())


def test_without_strict_mode_a_client_made_off_loop_binds_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STRICT_ENV, "0")
    client = guard(AsyncMongoMockClient())

    asyncio.run(client["shop"]["items"].find_one({}))
    with pytest.raises(LoopMismatchError):
        asyncio.run(client["shop"]["items"].find_one({}))


def test_the_docs_pointer_is_configurable() -> None:
    client = guard(AsyncMongoMockClient(), docs="See https://wiki.example/mongo-loops", strict=False)
    asyncio.run(client["shop"]["items"].find_one({}))

    with pytest.raises(LoopMismatchError, match=r"See https://wiki\.example/mongo-loops\.$"):
        asyncio.run(client["shop"]["items"].find_one({}))


def test_the_command_the_message_points_to_prints_the_patterns_and_fixes() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "loopsafe_mongo"], capture_output=True, text=True, check=True, timeout=60
    )

    assert "a client created at import time (a module global)     -> create it in the app's lifespan" in (
        completed.stdout
    )


def test_asyncio_run_of_a_motor_call_on_a_client_not_yet_bound_raises_the_guards_error() -> None:
    # find_one() runs before asyncio.run() starts its loop, so Motor finds no loop ("There is no current event
    # loop"); the guard says why, although the client is bound to nothing yet (made off-loop, not strict).
    client = guard(AsyncIOMotorClient(UNREACHABLE), strict=False)

    with pytest.raises(
        LoopMismatchError, match=r"(?s)bound to:   no loop yet.*fix: call the driver inside a coroutine"
    ):
        asyncio.run(client["shop"]["items"].find_one({}))
    client.close()


def test_a_motor_call_scheduled_from_another_thread_raises_the_guards_error(
    loop_in_thread: asyncio.AbstractEventLoop,
) -> None:
    # The client belongs to the loop running in the other thread; this thread has no loop, and Motor starts
    # the operation when find_one() is called: here, before run_coroutine_threadsafe hands anything over.
    client = asyncio.run_coroutine_threadsafe(_on_loop(lambda: AsyncIOMotorClient(UNREACHABLE)), loop_in_thread)

    with pytest.raises(LoopMismatchError, match="used now:   with no running event loop"):
        asyncio.run_coroutine_threadsafe(client.result(timeout=30)["shop"]["items"].find_one({}), loop_in_thread)
    client.result().close()


def test_in_memory_a_call_scheduled_from_another_thread_is_checked_on_the_loop_that_awaits_it(
    loop_in_thread: asyncio.AbstractEventLoop,
) -> None:
    # mongomock-motor's methods are coroutine functions: nothing runs until awaited, as with PyMongo async,
    # so the guard checks the loop that awaits. On the client's own loop that is correct use.
    items = asyncio.run_coroutine_threadsafe(_on_loop(AsyncMongoMockClient), loop_in_thread).result(30)["s"]["items"]

    assert asyncio.run_coroutine_threadsafe(items.find_one({}), loop_in_thread).result(timeout=30) is None
    with asyncio.Runner() as other, pytest.raises(LoopMismatchError, match="used now:   loop"):
        other.run(items.find_one({}))


def test_an_in_memory_database_passes_isinstance_for_motors_class_as_it_does_unguarded() -> None:
    # mongomock-motor's objects claim Motor's classes through __class__; the guard passes that claim on.
    guarded = guard(AsyncMongoMockClient(), strict=False)["shop"]

    assert isinstance(AsyncMongoMockClient()["shop"], AsyncIOMotorDatabase)
    assert isinstance(guarded, AsyncIOMotorDatabase)


def test_in_memory_a_motor_gridfs_bucket_fails_as_it_does_unguarded() -> None:
    # Motor's GridFS needs a real PyMongo database underneath; mongomock has none, guarded or not.
    async def upload(client: Any) -> None:
        await AsyncIOMotorGridFSBucket(client["files"]).upload_from_stream("a.txt", b"hello")

    with pytest.raises(TypeError) as raw_error:
        asyncio.run(upload(AsyncMongoMockClient()))
    with pytest.raises(TypeError) as guarded_error:
        asyncio.run(upload(guard(AsyncMongoMockClient(), strict=False)))

    assert str(guarded_error.value) == str(raw_error.value)
    assert "database must be an instance of Database" in str(raw_error.value)
