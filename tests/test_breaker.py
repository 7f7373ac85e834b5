"""The breaker in front of the database (app.breaker): after a call fails as unavailable, one call at a time
tries the database and the others are refused at once, until the database answers one.

The scenario it exists for, a real uvicorn under retrying writers while FerretDB is killed again and
again, is tests/test_flapping_database.py; these tests pin each rule on its own.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from loopsafe_mongo import RunningApp
from pymongo.errors import AutoReconnect, OperationFailure

from app.breaker import WARM_CALLS, Breaker, DatabaseRecoveringError
from app.repository import DeadlineExceededError, ItemNotFoundError, ItemRepository
from tests.support.api import assert_problem


def _fail(breaker: Breaker, error: BaseException) -> None:
    with pytest.raises(type(error)), breaker.call():
        raise error


def test_calls_go_through_while_the_database_answers() -> None:
    breaker = Breaker()
    with breaker.call(), breaker.call():  # two at once: no limit while closed
        pass
    assert not breaker.is_open


@pytest.mark.parametrize(
    "error", [AutoReconnect("connection closed"), DeadlineExceededError("too slow")], ids=["unavailable", "deadline"]
)
def test_a_call_that_finds_the_database_unavailable_opens_it(error: Exception) -> None:
    breaker = Breaker()
    _fail(breaker, error)
    assert breaker.is_open


def test_while_open_a_second_call_is_refused_while_the_first_tries_the_database() -> None:
    breaker = Breaker()
    _fail(breaker, AutoReconnect("connection closed"))

    with breaker.call(), pytest.raises(DatabaseRecoveringError):
        breaker.call()


def test_each_call_the_database_answers_doubles_the_calls_allowed_at_once() -> None:
    breaker = Breaker()
    _fail(breaker, AutoReconnect("connection closed"))
    with breaker.call():
        pass

    with breaker.call(), breaker.call(), pytest.raises(DatabaseRecoveringError):
        breaker.call()


def test_an_error_the_database_answered_with_counts_as_an_answer() -> None:
    # A 404, or a write the server refused, still proves that the database answers.
    breaker = Breaker()
    _fail(breaker, AutoReconnect("connection closed"))

    _fail(breaker, ItemNotFoundError("id"))

    with breaker.call(), breaker.call():
        pass


def test_enough_answers_close_it() -> None:
    breaker = Breaker()
    _fail(breaker, AutoReconnect("connection closed"))
    while breaker.is_open:
        with breaker.call():
            pass

    calls = [breaker.call() for _ in range(2 * WARM_CALLS)]  # no limit any more

    assert len(calls) == 2 * WARM_CALLS


def test_a_server_side_error_does_not_open_it() -> None:
    breaker = Breaker()
    _fail(breaker, OperationFailure("disk full", code=14031))
    assert not breaker.is_open


def test_a_trial_that_fails_again_lets_the_next_call_try() -> None:
    breaker = Breaker()
    _fail(breaker, AutoReconnect("connection closed"))
    _fail(breaker, AutoReconnect("connection refused"))

    assert breaker.is_open
    with breaker.call():  # the next trial, not refused
        pass


def test_a_cancelled_trial_leaves_it_open_and_lets_the_next_call_try() -> None:
    # A cancellation says nothing about the database: it neither opens nor closes the breaker.
    breaker = Breaker()
    _fail(breaker, AutoReconnect("connection closed"))
    _fail(breaker, asyncio.CancelledError())

    assert breaker.is_open
    with breaker.call():
        pass


@pytest.mark.anyio
async def test_readiness_and_writes_answer_503_while_another_call_tries_the_database(
    client: httpx.AsyncClient, running_app: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Readiness goes through the same breaker as the item routes: it never says 200 while they are refused.
    items: ItemRepository = running_app.state["items"]
    # A breaker of this test's own: with --loopsafe-scope=session the app, and its breaker, outlive the test.
    monkeypatch.setattr(items, "breaker", Breaker())
    _fail(items.breaker, AutoReconnect("connection closed"))

    with items.breaker.call():  # the trial, in flight
        ready = await client.get("/health/ready")
        write = await client.post("/items", json={"name": "bolt"})

    assert_problem(ready, 503)
    assert_problem(write, 503)
    assert ready.headers["retry-after"].isdigit()
    assert (await client.get("/health/ready")).status_code == 200


def test_after_a_trial_timed_out_the_next_waits_until_the_abandoned_call_has_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Motor goes on running an operation in a thread after the app stops waiting for it: trials one after
    # another would pile up there as the requests did.
    now = 100.0
    monkeypatch.setattr("app.breaker.time.monotonic", lambda: now)
    breaker = Breaker(abandoned_call_s=5)
    _fail(breaker, AutoReconnect("connection closed"))
    _fail(breaker, DeadlineExceededError("too slow"))

    with pytest.raises(DatabaseRecoveringError):
        breaker.call()
    now += 5
    with breaker.call():
        pass
