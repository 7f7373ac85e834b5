"""A deliberately bad test, run in a pytest of its own: a client made on a loop of asyncio.run(), then
used from the test's loop. The guard must stop it with LoopMismatchError, on any backend."""

import pytest

pytest_plugins = ["pytester"]

BAD_TEST = """
import asyncio

import pytest
from mongomock_motor import AsyncMongoMockClient

from loopsafe_mongo import guard


async def make_client():
    return guard(AsyncMongoMockClient())


@pytest.fixture
def notes():
    return asyncio.run(make_client())["notes"]["notes"]


@pytest.mark.{marker}
async def test_reads_through_a_client_of_a_finished_loop(notes):
    await notes.find_one({{}})
"""


def test_a_client_from_another_loop_fails_with_the_guards_error(pytester: pytest.Pytester) -> None:
    # As in this example's own settings: the harness's anyio_backend runs anyio tests on asyncio alone, and
    # no pytest-asyncio option (with pytest-asyncio installed, the plugin shows its warning about that).
    pytester.makeini("[pytest]\nfilterwarnings = error\nloopsafe_async = anyio\n")
    pytester.makepyfile(test_bad=BAD_TEST.format(marker="anyio"))

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*LoopMismatchError: MongoDB client used from an event loop it does not belong to.*"])
