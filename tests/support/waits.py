"""Bounded waits that fail saying what did not happen in time, instead of a bare TimeoutError or cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio
import pytest

T = TypeVar("T")


@contextmanager
def within(seconds: float, what: str) -> Iterator[None]:
    """Run the block for at most `seconds`; if it has not finished by then, fail with "<what> did not
    happen within <seconds> s".

    For waits that do not depend on the database (see `answered_within` for those). The block is
    cancelled (anyio cancel scope) rather than left running, and the failure is raised only
    after the cancellation has unwound, so a test never reports `CancelledError` or a fixture's teardown
    error in place of the reason.
    """
    with anyio.move_on_after(seconds) as scope:
        yield
    if scope.cancelled_caught:
        pytest.fail(f"{what} did not happen within {seconds:g} s", pytrace=False)


async def answered_within(seconds: float, what: str, awaitable: Awaitable[T]) -> T:
    """Await `awaitable` for at most `seconds` without ever cancelling it; if it has not finished by
    then, fail with "<what> did not happen within <seconds> s" (it is left to end on its own).

    For waits on the database. With PyMongo async on Python 3.11, a cancellation that meets one of the
    driver's internal `asyncio.wait_for` timeouts can be swallowed; anyio then delivers it again later,
    outside any scope, and the test dies of a bare `CancelledError` instead of saying what was late.
    """
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        pytest.fail(f"{what} did not happen within {seconds:g} s", pytrace=False)
    return task.result()
