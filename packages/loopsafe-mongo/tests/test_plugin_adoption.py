"""The plugin meets projects written before it: suites that do not use its fixtures run exactly as they did
without it, the handle is found where such apps keep it, and an import-time client is reported where it is
made, even when the root conftest imports the app."""

from __future__ import annotations

import os

import pytest

# A project's own app: its lifespan makes the client, like the harness expects, but its tests do not use
# the harness at all.
OWN_APP = """
from contextlib import asynccontextmanager

from mongomock_motor import AsyncMongoMockClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@asynccontextmanager
async def lifespan(app):
    client = AsyncMongoMockClient()
    app.state.db = client["shop"]
    yield
    client.close()


async def count(request: Request) -> JSONResponse:
    return JSONResponse({"count": await request.app.state.db["items"].count_documents({})})


app = Starlette(routes=[Route("/items", count)], lifespan=lifespan)
"""

# FastAPI's documented layout: a sync TestClient in a fixture called `client`, and a `db` of the project's.
SYNC_TESTCLIENT_SUITE = """
import mongomock
import pytest
from starlette.testclient import TestClient

from ownapp import app


@pytest.fixture
def client():
    with TestClient(app) as client:
        yield client


@pytest.fixture
def db():
    return mongomock.MongoClient()["shop"]


def test_items_start_empty(client):
    assert client.get("/items").json() == {"count": 0}


def test_the_projects_own_db_fixture(db):
    db["items"].insert_one({"name": "lamp"})
    assert db["items"].count_documents({}) == 1
"""

# An anyio suite that runs the lifespan itself, with pytest-asyncio installed beside it (the harness then
# runs on pytest-asyncio in auto mode, but these tests never ask for it).
ANYIO_OWN_LIFESPAN_SUITE = """
import httpx
import pytest

from ownapp import app

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="{scope}")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="{scope}")
async def client():
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_items_start_empty(client):
    response = await client.get("/items")
    assert response.json() == {{"count": 0}}


async def test_the_database_is_the_apps(client):
    await app.state.db["items"].insert_one({{"name": "lamp"}})
    response = await client.get("/items")
    assert response.json() == {{"count": 1}}
"""

# A pytest-asyncio suite on one session loop, with its own `client` fixture.
ASYNCIO_SESSION_LOOP_SUITE = """
import httpx
import pytest
import pytest_asyncio

from ownapp import app

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client():
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_items_start_empty(client):
    response = await client.get("/items")
    assert response.json() == {"count": 0}


async def test_a_second_test_on_the_same_loop(client):
    response = await client.get("/items")
    assert response.status_code == 200
"""

# Starlette 1.x warns when its TestClient is imported while only httpx (not httpx2) is installed.
TESTCLIENT_WARNING = "ignore:Using `httpx` with `starlette.testclient` is deprecated:UserWarning"


def write_ini(pytester: pytest.Pytester, *options: str, ignore: tuple[str, ...] = ()) -> None:
    """A project's pytest.ini: warnings are errors (but `ignore`), pytest-asyncio's option set, and `options`."""
    filters = ["error", TESTCLIENT_WARNING, *ignore]
    lines = [
        "[pytest]",
        "filterwarnings =",
        *(f"    {f}" for f in filters),
        "asyncio_default_fixture_loop_scope = function",
    ]
    pytester.makeini("\n".join([*lines, *options, ""]))


def outcomes_with_and_without_the_plugin(pytester: pytest.Pytester, suite: str) -> tuple[dict[str, int], ...]:
    pytester.makepyfile(ownapp=OWN_APP, test_own=suite)
    write_ini(pytester)
    pytester.syspathinsert()
    with_plugin = pytester.runpytest_inprocess("-p", "no:cacheprovider").parseoutcomes()
    without = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:loopsafe_mongo").parseoutcomes()
    return with_plugin, without


def test_a_sync_testclient_suite_with_its_own_client_fixture_runs_as_without_the_plugin(
    pytester: pytest.Pytester,
) -> None:
    with_plugin, without = outcomes_with_and_without_the_plugin(pytester, SYNC_TESTCLIENT_SUITE)

    assert with_plugin == without == {"passed": 2}


@pytest.mark.parametrize("scope", ["function", "session"])
def test_an_anyio_suite_beside_pytest_asyncio_runs_as_without_the_plugin(pytester: pytest.Pytester, scope: str) -> None:
    with_plugin, without = outcomes_with_and_without_the_plugin(pytester, ANYIO_OWN_LIFESPAN_SUITE.format(scope=scope))

    assert with_plugin == without == {"passed": 2}


def test_a_pytest_asyncio_suite_on_a_session_loop_runs_as_without_the_plugin(pytester: pytest.Pytester) -> None:
    with_plugin, without = outcomes_with_and_without_the_plugin(pytester, ASYNCIO_SESSION_LOOP_SUITE)

    assert with_plugin == without == {"passed": 2}


def test_a_projects_fixture_that_wraps_the_harness_db_is_still_checked(pytester: pytest.Pytester) -> None:
    # The project's `db` asks for the harness's `db`, so the harness's loop rules apply to the test.
    pytester.makepyfile(
        ownapp=OWN_APP,
        conftest="""
        import pytest
        from ownapp import app as own_app

        @pytest.fixture(scope="session")
        def app():
            return own_app

        @pytest.fixture
        def db(db):
            return db
        """,
        test_own="def test_sync_test_on_the_harness_db(db):\n    pass\n",
    )
    write_ini(pytester, "loopsafe_async = anyio", "loopsafe_db = app.state.db")
    pytester.syspathinsert()

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*this test is not run by anyio, but the harness runs its fixtures on anyio*"])


# Where legacy apps keep the handle: an attribute the startup sets on the app or its state, or a module global.
# (The startup is a lifespan: Starlette 1.x has no on_event; FastAPI's on_event handlers run the same way.)
LEGACY_APP = """
from contextlib import asynccontextmanager

from mongomock_motor import AsyncMongoMockClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from loopsafe_mongo import guard

database = None


@asynccontextmanager
async def lifespan(app):
    global database
    app.mongodb_client = guard(AsyncMongoMockClient())
    app.mongodb = app.state.db = database = app.mongodb_client["shop"]
    yield
    app.mongodb_client.close()


async def count(request: Request) -> JSONResponse:
    return JSONResponse({"count": await request.app.mongodb["items"].count_documents({})})


app = Starlette(routes=[Route("/items", count)], lifespan=lifespan)


def get_database():
    return database
"""

LEGACY_TESTS = """
import pytest

pytestmark = pytest.mark.anyio


async def test_the_db_fixture_is_the_handle_the_routes_use(client, db):
    await db["items"].insert_one({"name": "lamp"})
    response = await client.get("/items")
    assert response.json() == {"count": 1}


async def test_each_test_starts_empty(client):
    response = await client.get("/items")
    assert response.json() == {"count": 0}
"""


@pytest.mark.parametrize(
    "location", ["app.mongodb", "app.state.db", "app.mongodb_client.shop", "legacy:database", "legacy:get_database"]
)
def test_loopsafe_db_finds_the_handle_where_a_legacy_app_keeps_it(pytester: pytest.Pytester, location: str) -> None:
    pytester.makepyfile(legacy=LEGACY_APP, test_legacy=LEGACY_TESTS)
    write_ini(pytester, "loopsafe_app = legacy:app", "loopsafe_async = anyio", f"loopsafe_db = {location}")
    pytester.syspathinsert()

    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_loopsafe_db_names_what_is_missing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(legacy=LEGACY_APP, test_legacy=LEGACY_TESTS)
    write_ini(pytester, "loopsafe_app = legacy:app", "loopsafe_async = anyio", "loopsafe_db = app.mongo.shop")
    pytester.syspathinsert()

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    result.stdout.fnmatch_lines(["*loopsafe_db = app.mongo.shop: app has no attribute 'mongo' after the lifespan*"])


@pytest.mark.parametrize("location", ["db", "state.", "request.state.db"])
def test_a_malformed_loopsafe_db_is_a_usage_error(pytester: pytest.Pytester, location: str) -> None:
    write_ini(pytester, f"loopsafe_db = {location}")

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    result.stderr.fnmatch_lines(["*loopsafe_db must be `state.KEY`, `app.ATTRIBUTE*` or `package.module:name`*"])


IMPORT_TIME_APP = """
from mongomock_motor import AsyncMongoMockClient
from loopsafe_mongo import guard

client = guard(AsyncMongoMockClient())
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_a_root_conftest_importing_an_import_time_client_is_stopped_where_it_is_made(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    # A new process with strict mode unset, as a user's shell has it: the plugin must turn it on before
    # the root conftest imports the app.
    monkeypatch.delenv("LOOPSAFE_MONGO_STRICT", raising=False)
    pytester.makepyfile(
        importtime=IMPORT_TIME_APP,
        conftest="import importtime\n",
        test_a="import pytest\n\npytestmark = pytest.mark.anyio\n\nasync def test_one():\n    pass\n",
    )
    write_ini(pytester, "loopsafe_async = anyio")

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers)

    output = "\n".join(result.outlines + result.errlines)
    assert result.ret != pytest.ExitCode.OK
    assert output.count("ClientCreatedOffLoopError: MongoDB client created with no running event loop") == 1, output
    assert "created at: importtime.py:4 in <module>, called from conftest.py:1" in output, output
    assert "crashed" not in output, output
    assert os.environ.get("LOOPSAFE_MONGO_STRICT") is None  # the subprocess's environment, not ours


def test_the_harness_fixtures_have_long_names_beside_a_projects_own_client_and_db(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        ownapp=OWN_APP,
        legacy=LEGACY_APP,
        conftest="""
        import pytest
        from starlette.testclient import TestClient
        from ownapp import app

        @pytest.fixture
        def client():
            with TestClient(app) as client:
                yield client
        """,
        test_both="""
        import pytest

        def test_the_projects_own_client(client):
            assert client.get("/items").json() == {"count": 0}

        @pytest.mark.anyio
        async def test_the_harness_under_its_long_names(loopsafe_client, loopsafe_db):
            await loopsafe_db["items"].insert_one({"name": "lamp"})
            assert (await loopsafe_client.get("/items")).json() == {"count": 1}
        """,
    )
    write_ini(pytester, "loopsafe_app = legacy:app", "loopsafe_async = anyio", "loopsafe_db = app.mongodb")
    pytester.syspathinsert()

    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


ANYIO_DEFAULT_BACKEND_SUITE = """
import pytest

@pytest.mark.anyio
async def test_sleep():
    pass
"""


def test_an_anyio_suite_keeps_anyios_own_backend_fixture_and_test_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own=ANYIO_DEFAULT_BACKEND_SUITE)
    write_ini(pytester)

    ids = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q").outlines
    ids_without = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:loopsafe_mongo", "--collect-only", "-q"
    ).outlines

    assert "test_own.py::test_sleep[asyncio]" in ids
    assert [line for line in ids if "::" in line] == [line for line in ids_without if "::" in line]


def test_a_project_that_configured_the_harness_gets_its_session_scoped_asyncio_backend(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_own=ANYIO_DEFAULT_BACKEND_SUITE)
    write_ini(pytester, "loopsafe_async = anyio")

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q")

    result.stdout.fnmatch_lines(["test_own.py::test_sleep"])


def test_an_anyio_test_also_claimed_by_pytest_asyncio_auto_mode_is_stopped_naming_strict_mode(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(legacy=LEGACY_APP, test_legacy=LEGACY_TESTS)
    write_ini(pytester, "loopsafe_app = legacy:app", "loopsafe_async = anyio", "asyncio_mode = auto")
    pytester.syspathinsert()

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*claimed by anyio and by pytest-asyncio*Fix: set `asyncio_mode = strict`*"])
