"""The loop guard on its own: when it binds, what its message says for each state of the bound loop, what it wraps.

The tests drive event loops by hand, because the guard is about what happens across several of them.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any

import pytest
from loopsafe_mongo.guard import Guarded, LoopMismatchError, guard

pytestmark = pytest.mark.anyio


class FakeCursor:
    def __init__(self, docs: list[dict[str, int]]) -> None:
        self._docs = iter(docs)

    def __aiter__(self) -> FakeCursor:
        return self

    async def __anext__(self) -> dict[str, int]:
        try:
            return next(self._docs)
        except StopIteration:
            raise StopAsyncIteration from None

    async def to_list(self, length: int | None = None) -> list[dict[str, int]]:
        return [doc async for doc in self]


class FakeSession:
    async def __aenter__(self) -> FakeSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class FakeCollection:
    """Stands in for a driver's collection; objects of this module are the "loop-bound" ones."""

    name = "things"

    def __init__(self) -> None:
        self.received: list[object] = []

    async def find_one(self, query: dict[str, int], session: object = None) -> dict[str, int]:
        self.received.append(session)
        return {"_id": 1}

    def find(self, query: dict[str, int]) -> FakeCursor:
        return FakeCursor([{"_id": 1}, {"_id": 2}])

    def estimated_size(self) -> int:
        return 2

    def count(self) -> Awaitable[int]:
        return Ready(2)


class Ready:
    """An awaitable that is not a coroutine, as Motor's futures are not."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __await__(self) -> Generator[None, None, int]:
        return self.value
        yield


class FakeClient:
    def __init__(self) -> None:
        self.collection = FakeCollection()
        self.flag = False

    def __getitem__(self, name: str) -> FakeCollection:
        return self.collection

    def start_session(self) -> FakeSession:
        return FakeSession()

    def get_io_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()


def make_client() -> Any:
    return guard(FakeClient(), prefixes=(__name__,), strict=False)


async def find_one(client: Any) -> object:
    result: object = await client["things"].find_one({"_id": 1})
    return result


def run_on_new_loop(coro: Coroutine[Any, Any, object]) -> object:
    return asyncio.run(coro)


def test_client_binds_to_the_loop_of_its_first_use() -> None:
    client = make_client()
    with asyncio.Runner() as first:
        first.run(find_one(client))
        first.run(find_one(client))

        with pytest.raises(LoopMismatchError):
            run_on_new_loop(find_one(client))


def test_client_created_on_a_running_loop_is_bound_to_it_before_any_use() -> None:
    async def create() -> Any:
        return make_client()

    with asyncio.Runner() as first:
        client = first.run(create())

        with pytest.raises(LoopMismatchError, match="since its creation"):
            run_on_new_loop(find_one(client))


def test_loop_mismatch_error_is_a_runtime_error() -> None:
    # Code that already catches the drivers' RuntimeError keeps catching it with the guard on.
    assert issubclass(LoopMismatchError, RuntimeError)


def test_message_says_the_bound_loop_is_closed() -> None:
    client = make_client()
    run_on_new_loop(find_one(client))

    with pytest.raises(LoopMismatchError, match=r"that loop is closed \(the test or asyncio.run\(\) that ran it"):
        run_on_new_loop(find_one(client))


def test_message_says_the_bound_loop_is_running_in_another_thread(loop_in_thread: asyncio.AbstractEventLoop) -> None:
    client = make_client()
    asyncio.run_coroutine_threadsafe(find_one(client), loop_in_thread).result(timeout=10)

    with pytest.raises(LoopMismatchError) as caught:
        run_on_new_loop(find_one(client))

    assert "that loop is running in another thread (a TestClient portal" in str(caught.value)
    assert "(thread other-loop-thread)" in str(caught.value)


def test_message_says_the_bound_loop_is_idle() -> None:
    client = make_client()
    with asyncio.Runner() as kept:
        kept.run(find_one(client))

        with pytest.raises(LoopMismatchError, match="that loop is idle: alive but not running"):
            run_on_new_loop(find_one(client))


def test_message_names_where_the_client_was_created_and_first_used() -> None:
    client = make_client()
    run_on_new_loop(find_one(client))

    with pytest.raises(LoopMismatchError) as caught:
        run_on_new_loop(find_one(client))

    created, bound = str(caught.value).splitlines()[1:3]
    assert re.fullmatch(
        r"  created at: tests/test_guard.py:\d+ in make_client, called from tests/test_guard.py:\d+"
        r" in test_message_names_where_the_client_was_created_and_first_used \(thread MainThread\)",
        created,
    )
    assert re.match(
        r"  bound to:   loop 0x[0-9a-f]+ since its first use, at tests/test_guard.py:\d+ in find_one", bound
    )


def test_message_names_the_loop_task_and_code_that_use_it_now() -> None:
    client = make_client()
    run_on_new_loop(find_one(client))

    async def named_task() -> object:
        return await asyncio.create_task(find_one(client), name="seed-items")

    with pytest.raises(LoopMismatchError) as caught:
        run_on_new_loop(named_task())

    used = str(caught.value).splitlines()[3]
    assert re.fullmatch(
        r"  used now:   loop 0x[0-9a-f]+, task 'seed-items', at tests/test_guard.py:\d+ in find_one,"
        r" called from tests/test_guard.py:\d+ in test_message_names_the_loop_task_and_code_that_use_it_now"
        r" \(thread MainThread\)",
        used,
    )


def test_message_ends_with_the_fix_and_where_to_read_more() -> None:
    client = make_client()
    run_on_new_loop(find_one(client))

    with pytest.raises(LoopMismatchError) as caught:
        run_on_new_loop(find_one(client))

    fix = str(caught.value).splitlines()[-1]
    assert fix.startswith("  fix: create the client in the app's lifespan and run that lifespan on the loop")
    assert fix.endswith("Run `python -m loopsafe_mongo` for each bad pattern and its fix.")


def test_collections_reached_through_the_client_share_its_binding() -> None:
    client = make_client()
    collection = client["things"]
    run_on_new_loop(find_one(client))

    with pytest.raises(LoopMismatchError):
        run_on_new_loop(collection.find_one({}))


def test_cursor_methods_are_guarded() -> None:
    client = make_client()
    run_on_new_loop(find_one(client))
    cursor = client["things"].find({})

    with pytest.raises(LoopMismatchError):
        run_on_new_loop(cursor.to_list(None))


def test_async_iteration_over_a_cursor_is_guarded() -> None:
    client = make_client()
    run_on_new_loop(find_one(client))

    async def iterate() -> list[object]:
        return [doc async for doc in client["things"].find({})]

    with pytest.raises(LoopMismatchError):
        run_on_new_loop(iterate())


async def test_async_iteration_over_a_cursor_yields_its_documents() -> None:
    docs = [doc async for doc in make_client()["things"].find({})]

    assert docs == [{"_id": 1}, {"_id": 2}]


def test_awaitable_made_outside_a_loop_is_checked_when_awaited() -> None:
    client = make_client()
    pending = client["things"].find_one({})  # no loop is running: nothing to check yet
    run_on_new_loop(find_one(client))

    with pytest.raises(LoopMismatchError):
        run_on_new_loop(pending)


def test_awaitable_that_is_not_a_coroutine_is_checked_when_awaited() -> None:
    client = make_client()
    pending = client["things"].count()
    run_on_new_loop(find_one(client))

    with pytest.raises(LoopMismatchError):
        run_on_new_loop(pending)


def test_message_shows_code_outside_every_import_root_by_its_full_path() -> None:
    # Code compiled under a path outside the working directory and sys.path, as a notebook's or a REPL's is.
    namespace: dict[str, Any] = {"guard": guard, "FakeClient": FakeClient, "prefixes": (__name__,)}
    exec(  # noqa: S102 - the test's own constant source
        compile("client = guard(FakeClient(), prefixes=prefixes, strict=False)", "/elsewhere/notebook.py", "exec"),
        namespace,
    )
    run_on_new_loop(find_one(namespace["client"]))

    with pytest.raises(LoopMismatchError, match=re.escape("created at: /elsewhere/notebook.py:1 in <module>, called")):
        run_on_new_loop(find_one(namespace["client"]))


def test_message_says_unknown_when_every_caller_is_skipped() -> None:
    client = guard(FakeClient(), prefixes=(__name__,), skip=frozenset({__file__}), strict=False)
    run_on_new_loop(find_one(client))

    with pytest.raises(LoopMismatchError, match="created at: <unknown>"):
        run_on_new_loop(find_one(client))


def test_async_context_manager_is_guarded() -> None:
    client = make_client()
    run_on_new_loop(find_one(client))

    async def open_session() -> None:
        async with client.start_session():
            pass

    with pytest.raises(LoopMismatchError):
        run_on_new_loop(open_session())


async def test_async_context_manager_yields_a_guarded_object() -> None:
    async with make_client().start_session() as session:
        assert type(session).__name__ == "Guarded"


async def test_driver_receives_its_own_objects_not_proxies() -> None:
    client = make_client()

    async with client.start_session() as session:
        await client["things"].find_one({}, session=session)

    assert isinstance(client["things"].received[0], FakeSession)


def test_collection_is_wrapped() -> None:
    assert issubclass(type(make_client()["things"]), Guarded)


def test_plain_attribute_is_not_wrapped() -> None:
    name = make_client()["things"].name

    assert type(name) is str


def test_plain_result_of_a_sync_method_is_not_wrapped() -> None:
    size = make_client()["things"].estimated_size()

    assert type(size) is int


async def test_plain_result_of_an_async_method_is_not_wrapped() -> None:
    doc = await find_one(make_client())

    assert type(doc) is dict


def test_repr_shows_the_wrapped_object() -> None:
    assert repr(make_client()).startswith("Guarded(<tests.test_guard.FakeClient object")


async def test_tasks_of_the_bound_loop_share_the_client() -> None:
    client = make_client()

    results = await asyncio.gather(*(find_one(client) for _ in range(5)))

    assert results == [{"_id": 1}] * 5


def test_setting_and_deleting_an_attribute_reach_the_wrapped_object() -> None:
    client = make_client()

    client.flag = True
    assert object.__getattribute__(client, "_target").flag is True
    del client.flag
    assert not hasattr(object.__getattribute__(client, "_target"), "flag")


def test_a_deep_copy_is_guarded_and_shares_the_binding() -> None:
    client = make_client()
    run_on_new_loop(find_one(client))

    duplicate = copy.deepcopy(client)

    assert issubclass(type(duplicate), Guarded)
    with pytest.raises(LoopMismatchError):
        run_on_new_loop(find_one(duplicate))


def test_an_async_call_made_with_no_running_loop_on_a_bound_client_fails_at_once() -> None:
    client = make_client()
    run_on_new_loop(find_one(client))

    with pytest.raises(LoopMismatchError, match="used now:   with no running event loop"):
        client["things"].count()


async def test_the_loop_a_driver_object_is_given_passes_through_on_its_own_loop() -> None:
    loop = make_client().get_io_loop()

    assert loop.time() > 0
    assert not loop.create_future().done()


def test_the_loop_a_driver_object_is_given_refuses_work_from_another_loop() -> None:
    async def loop_of(client: Any) -> Any:
        return client.get_io_loop()

    client = make_client()
    with asyncio.Runner() as first:
        loop = first.run(loop_of(client))

        async def schedule() -> None:
            loop.create_future()

        with pytest.raises(LoopMismatchError):
            run_on_new_loop(schedule())
