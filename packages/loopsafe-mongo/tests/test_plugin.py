"""The pytest plugin, run on a tiny adopter project through pytester: both async plugins, both scopes, and a
clear failure, naming the setting to change, for each way a test can end up off the lifespan's loop."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from loopsafe_mongo import _compat

APP = """
from contextlib import asynccontextmanager

from mongomock_motor import AsyncMongoMockClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from loopsafe_mongo import guard


def create_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app):
        client = guard(AsyncMongoMockClient())  # on the running loop, inside the lifespan
        yield {"db": client["shop"]}
        client.close()

    async def count(request: Request) -> JSONResponse:
        return JSONResponse({"count": await request.state.db["items"].count_documents({})})

    async def add(request: Request) -> JSONResponse:
        await request.state.db["items"].insert_one({"name": "lamp"})
        return JSONResponse({}, status_code=201)

    return Starlette(routes=[Route("/items", count), Route("/items", add, methods=["POST"])], lifespan=lifespan)
"""

TESTS = """
import pytest

pytestmark = pytest.mark.{marker}


async def test_a_request_writes_through_the_apps_own_client(client, db):
    response = await client.post("/items")
    assert response.status_code == 201
    assert await db["items"].count_documents({{}}) == 1


async def test_each_test_starts_with_an_empty_database(client):
    response = await client.get("/items")
    assert response.json() == {{"count": 0}}
"""

# pytest-asyncio is installed here: the inner projects set its option, so that its configure-time warning
# about the option being unset is only met where a test asks for it.
ANYIO_INI = ["loopsafe_app = myapp:create_app", "asyncio_default_fixture_loop_scope = function"]


def make_project(pytester: pytest.Pytester, ini: list[str], *, marker: str = "anyio") -> None:
    pytester.makepyfile(myapp=APP, test_items=TESTS.format(marker=marker))
    pytester.makeini("\n".join(["[pytest]", "filterwarnings =", "    error", *ini, ""]))
    pytester.syspathinsert()


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


@pytest.mark.parametrize("scope", ["function", "session"])
def test_anyio_tests_pass_in_both_scopes(pytester: pytest.Pytester, scope: str) -> None:
    make_project(pytester, [*ANYIO_INI, "loopsafe_async = anyio"])

    run(pytester, f"--loopsafe-scope={scope}").assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["strict", "auto"])
@pytest.mark.parametrize("scope", ["function", "session"])
def test_pytest_asyncio_tests_pass_in_both_scopes_and_modes(pytester: pytest.Pytester, scope: str, mode: str) -> None:
    # The tests' loop scope in their marker: pytest-asyncio before 0.26 has no asyncio_default_test_loop_scope.
    make_project(
        pytester,
        ["loopsafe_app = myapp:create_app", f"asyncio_mode = {mode}", f"asyncio_default_fixture_loop_scope = {scope}"],
        marker=f"asyncio(loop_scope={scope!r})",
    )

    run(pytester, f"--loopsafe-scope={scope}").assert_outcomes(passed=2)


def test_pytest_asyncio_is_chosen_automatically_when_it_is_active(pytester: pytest.Pytester) -> None:
    make_project(pytester, ANYIO_INI, marker="asyncio")

    result = run(pytester)

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["loopsafe-mongo: lifespan scope function, fixtures on asyncio"])


def test_a_session_lifespan_with_function_loops_fails_naming_the_settings(pytester: pytest.Pytester) -> None:
    make_project(pytester, [*ANYIO_INI, "loopsafe_scope = session"])
    pytester.makepyfile(test_items=TESTS.format(marker="asyncio"))

    result = run(pytester)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*this test runs on pytest-asyncio's function-scoped loop, the app lifespan on the session-scoped one.*"
            "Fix: set `asyncio_default_test_loop_scope = session` and `asyncio_default_fixture_loop_scope = session`*"
        ]
    )


def test_a_module_loop_is_not_offered_as_a_lifespan_scope_the_harness_lacks(pytester: pytest.Pytester) -> None:
    make_project(pytester, ANYIO_INI, marker="asyncio(loop_scope='module')")

    result = run(pytester)

    if _compat.release(metadata.version("pytest-asyncio")) < (0, 26):
        # Older pytest-asyncio refuses two loop scopes for one test itself, when it collects the module.
        result.stdout.fnmatch_lines(["*MultipleEventLoopsRequestedError*"])
    else:
        result.assert_outcomes(errors=2)
        result.stdout.fnmatch_lines(
            ["*the harness's lifespan is per test or per session: module is not one of its scopes*"]
        )
    result.stdout.no_fnmatch_line("*--loopsafe-scope=module*")


def test_an_anyio_test_under_asyncio_fixtures_fails_naming_the_setting(pytester: pytest.Pytester) -> None:
    make_project(pytester, [*ANYIO_INI, "loopsafe_async = asyncio"])
    # The harness defines no anyio_backend here; anyio before 4.12 would also run each test on trio.
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n")

    result = run(pytester)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*this test is run by anyio*Fix: set `loopsafe_async = anyio`*"])


def test_an_unmarked_test_under_asyncio_strict_mode_fails_naming_the_fix(pytester: pytest.Pytester) -> None:
    make_project(pytester, [*ANYIO_INI, "loopsafe_async = asyncio"])
    pytester.makepyfile(test_items="async def test_unmarked(db):\n    pass\n")

    result = run(pytester)

    result.stdout.fnmatch_lines(["*no asyncio marker*Fix: mark it `@pytest.mark.asyncio`*"])


def test_pytest_asyncio_next_to_anyio_with_warnings_as_errors_does_not_crash(pytester: pytest.Pytester) -> None:
    # asyncio_default_fixture_loop_scope is unset: pytest-asyncio warns about it at configure time.
    make_project(pytester, ["loopsafe_app = myapp:create_app", "loopsafe_async = anyio"])

    # In a process of its own: the warning filter the plugin adds must not reach this session's.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK


def test_an_app_fixture_in_conftest_overrides_the_ini_option(pytester: pytest.Pytester) -> None:
    make_project(pytester, ["loopsafe_async = anyio", "asyncio_default_fixture_loop_scope = function"])
    pytester.makeconftest(
        "import pytest\nimport myapp\n\n@pytest.fixture(scope='session')\ndef app():\n    return myapp.create_app()\n"
    )

    run(pytester).assert_outcomes(passed=2)


def test_no_app_configured_says_how_to_configure_one(pytester: pytest.Pytester) -> None:
    make_project(pytester, ["loopsafe_async = anyio", "asyncio_default_fixture_loop_scope = function"])

    result = run(pytester)

    # Once, before any test runs: not an error per test that uses the harness.
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: loopsafe-mongo does not know which app to test: set `loopsafe_app = *"])
    assert result.parseoutcomes() == {}


def test_a_missing_state_key_names_the_keys_the_lifespan_yielded(pytester: pytest.Pytester) -> None:
    make_project(pytester, [*ANYIO_INI, "loopsafe_async = anyio", "loopsafe_state_key = database"])

    result = run(pytester)

    result.stdout.fnmatch_lines(["*the app's lifespan state has no 'database' (it has: ?'db'?)*"])


def test_a_client_made_at_import_time_fails_where_it_is_made(pytester: pytest.Pytester) -> None:
    make_project(pytester, [*ANYIO_INI, "loopsafe_async = anyio"])
    pytester.makepyfile(
        test_import_time="""
        from mongomock_motor import AsyncMongoMockClient
        from loopsafe_mongo import guard

        client = guard(AsyncMongoMockClient())

        def test_never_runs():
            pass
        """
    )

    result = run(pytester, "test_import_time.py")

    result.stdout.fnmatch_lines(["*ClientCreatedOffLoopError*", "*created at: test_import_time.py:4 in <module>*"])


def test_the_console_script_is_not_named_as_the_code_that_used_the_client(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nloopsafe_async = anyio\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_misuse="""
        import asyncio
        from mongomock_motor import AsyncMongoMockClient
        from loopsafe_mongo import guard

        async def make():
            return guard(AsyncMongoMockClient())

        def test_uses_a_client_from_a_finished_loop():
            client = asyncio.run(make())
            asyncio.run(client["shop"]["items"].find_one({}))
        """
    )
    pytest_script = Path(sys.executable).with_name("pytest")

    result = subprocess.run(  # noqa: S603 - this virtualenv's own pytest launcher
        [str(pytest_script), "-p", "no:cacheprovider", "test_misuse.py"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert "LoopMismatchError" in result.stdout, result.stdout
    assert "at test_misuse.py:10 in test_uses_a_client_from_a_finished_loop (thread" in result.stdout, result.stdout
    assert "pytest:" not in textwrap.dedent(result.stdout).split("used now:")[1].splitlines()[0]


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (["loopsafe_scope = module", "loopsafe_async = anyio"], "loopsafe_scope must be one of function, session*"),
        (["loopsafe_async = trio"], "loopsafe_async must be one of auto, anyio, asyncio, not 'trio'"),
        (["loopsafe_app = myapp.create_app", "loopsafe_async = anyio"], "loopsafe_app must look like `package*"),
    ],
)
def test_a_bad_setting_is_a_usage_error_that_names_it(pytester: pytest.Pytester, ini: list[str], message: str) -> None:
    make_project(pytester, [*ini, "asyncio_default_fixture_loop_scope = function"])

    result = run(pytester)

    pytest.LineMatcher(result.outlines + result.errlines).fnmatch_lines([f"*{message}*"])


def test_asyncio_mode_without_pytest_asyncio_is_a_usage_error(pytester: pytest.Pytester) -> None:
    make_project(pytester, [*ANYIO_INI, "loopsafe_async = asyncio"])

    result = run(pytester, "-p", "no:asyncio")

    result.stderr.fnmatch_lines(["*loopsafe_async = asyncio needs pytest-asyncio installed and enabled*"])


def test_loopsafe_app_may_name_an_app_object(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        ["loopsafe_app = myapp:app", "loopsafe_async = anyio", "asyncio_default_fixture_loop_scope = function"],
    )
    pytester.makepyfile(myapp=APP + "\n\napp = create_app()\n")

    run(pytester).assert_outcomes(passed=2)


def test_an_asyncio_test_under_anyio_fixtures_fails_naming_the_setting(pytester: pytest.Pytester) -> None:
    make_project(pytester, [*ANYIO_INI, "loopsafe_async = anyio"], marker="asyncio")

    result = run(pytester)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*this test is not run by anyio*Fix: mark it `pytest.mark.anyio`*"])


@pytest.mark.parametrize(("worker", "prefix"), [(None, "test_main_"), ("gw3", "test_gw3_")])
def test_each_session_and_xdist_worker_gets_a_database_name_of_its_own(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, worker: str | None, prefix: str
) -> None:
    if worker:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    else:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    make_project(pytester, ANYIO_INI)
    pytester.makepyfile(
        test_name=f"""
        import re

        def test_name(database_name):
            assert re.fullmatch("{prefix}[0-9a-f]{{12}}", database_name)
        """
    )

    run(pytester, "test_name.py").assert_outcomes(passed=1)
