"""The pytest plugin: every test gets the app's lifespan entered on the event loop the test runs on.

Loaded through the `pytest11` entry point. It provides the fixtures `app`, `database_name`,
`running_app`, `db`, `client` and `clean_database`, runs them on anyio or pytest-asyncio, and stops a
test whose loop is not the lifespan's with a message naming the setting to change. See the README.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import pytest

from loopsafe_mongo import _compat
from loopsafe_mongo.guard import STRICT_ENV
from loopsafe_mongo.lifespan import ASGIApp, RunningApp, run_lifespan

if TYPE_CHECKING:
    import httpx

Scope = Literal["function", "session"]
AsyncPlugin = Literal["anyio", "asyncio"]
CleanDatabase = Callable[[Any, Scope], Awaitable[None]]

_SCOPES: tuple[Scope, ...] = ("function", "session")
_PLUGIN_NAME = "loopsafe_mongo.fixtures"
# (lifespan scope, async plugin), read and checked once at configure time.
_SETUP = pytest.StashKey[tuple[Scope, AsyncPlugin]]()
# pytest-asyncio warns, at configure time, when this option is unset; with warnings as errors that is an
# INTERNALERROR before any test runs, in a project that may use anyio alone. Shown, not raised (see below).
_ASYNCIO_UNSET_WARNING = r'The configuration option "asyncio_default_fixture_loop_scope" is unset'


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("loopsafe-mongo", "loopsafe-mongo: the app's lifespan on each test's own loop")
    group.addoption(
        "--loopsafe-scope",
        choices=_SCOPES,
        default=None,
        help="How long one app lifespan (one MongoDB client) lives: per test, or one for the session."
        " Overrides the loopsafe_scope ini option.",
    )
    parser.addini("loopsafe_app", "The app to test: `module:attribute`, an ASGI app or a factory taking no arguments.")
    parser.addini("loopsafe_scope", "Lifespan scope: function (default) or session.", default="function")
    parser.addini(
        "loopsafe_async", "Which plugin runs the async fixtures: auto (default), anyio or asyncio.", default="auto"
    )
    parser.addini("loopsafe_state_key", "The lifespan-state key holding the database handle.", default="db")


def lifespan_scope(config: pytest.Config) -> Scope:
    """The lifespan scope in force: `--loopsafe-scope`, else the `loopsafe_scope` ini option."""
    value = config.getoption("--loopsafe-scope") or config.getini("loopsafe_scope")
    if value not in _SCOPES:
        raise pytest.UsageError(f"loopsafe_scope must be one of {', '.join(_SCOPES)}, not {value!r}")
    scope: Scope = value
    return scope


def _asyncio_active(config: pytest.Config) -> bool:
    # "asyncio" when loaded from its entry point, the module's name when named with `-p`.
    return any(config.pluginmanager.has_plugin(name) for name in ("asyncio", "pytest_asyncio.plugin"))


def async_plugin(config: pytest.Config) -> AsyncPlugin:
    """Which plugin runs the fixtures: `loopsafe_async`, or in auto mode pytest-asyncio when it is active."""
    value = config.getini("loopsafe_async")
    if value == "auto":
        return "asyncio" if _asyncio_active(config) else "anyio"
    if value not in {"anyio", "asyncio"}:
        raise pytest.UsageError(f"loopsafe_async must be one of auto, anyio, asyncio, not {value!r}")
    if value == "asyncio" and not _asyncio_active(config):
        raise pytest.UsageError("loopsafe_async = asyncio needs pytest-asyncio installed and enabled")
    plugin: AsyncPlugin = value
    return plugin


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before conftests import the app: an old Motor fails there with an ImportError that names no version.
    _compat.require_supported_versions(async_plugin(early_config))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if _asyncio_active(config) and not config.getini("asyncio_default_fixture_loop_scope"):
        # Precise: only this one message, downgraded from error to a printed warning. The harness sets
        # the loop scope of its own fixtures; the docs tell users to set the option for theirs.
        import warnings  # noqa: PLC0415 - only needed here

        warnings.filterwarnings("default", message=_ASYNCIO_UNSET_WARNING, category=pytest.PytestDeprecationWarning)
    # Strict guard: a client created with no running loop fails where it is made (see guard()).
    os.environ.setdefault(STRICT_ENV, "1")
    scope, plugin = config.stash[_SETUP] = lifespan_scope(config), async_plugin(config)
    config.pluginmanager.register(_fixtures(scope, plugin), _PLUGIN_NAME)


def pytest_report_header(config: pytest.Config) -> str:
    scope, plugin = config.stash[_SETUP]
    return f"loopsafe-mongo: lifespan scope {scope}, fixtures on {plugin}"


def _load_app(spec: str) -> ASGIApp:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise pytest.UsageError(f"loopsafe_app must look like `package.module:attribute`, not {spec!r}")
    target = getattr(importlib.import_module(module_name), attribute)
    # A function (of no arguments) builds the app; anything else is taken to be the app itself.
    if inspect.isfunction(target):
        app: ASGIApp = target()
        return app
    return target  # type: ignore[no-any-return]


def _worker_suffix() -> str:
    # xdist runs workers in parallel against the same server: each needs its own database.
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


async def clean_by_scope(db: Any, scope: Scope) -> None:
    """The default isolation: drop the database after a test's own lifespan; empty it after a shared one."""
    if scope == "function":
        await db.client.drop_database(db.name)
        return
    # delete_many keeps the indexes the one lifespan created at startup; dropping would lose them.
    for name in await db.list_collection_names():
        await db[name].delete_many({})


def _asyncio_test_loop_scope(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("asyncio")
    if marker is None:
        return None
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    return str(scope or _compat.asyncio_default_test_loop_scope(item.config))


_LOOP_BOUND_FIXTURES = frozenset({"running_app", "db", "client"})
_WHY = "The app's MongoDB client is bound to the lifespan's loop and cannot be used from another one."


def _wrong_runner(item: pytest.Item, scope: Scope, plugin: AsyncPlugin) -> str | None:
    """Why `item` will not run on the lifespan's loop, and the setting that fixes it; None when it will."""
    if plugin == "anyio":
        if "anyio_backend" in getattr(item, "fixturenames", ()):
            return None
        return (
            "this test is not run by anyio, but the harness runs its fixtures on anyio. Fix: mark it"
            " `pytest.mark.anyio` (or set `anyio_mode = auto`), or set `loopsafe_async = asyncio` in your pytest"
            " configuration to run the harness on pytest-asyncio."
        )
    if item.get_closest_marker("anyio") is not None:
        return (
            "this test is run by anyio, but the harness runs its fixtures on pytest-asyncio. Fix: set"
            " `loopsafe_async = anyio` in your pytest configuration, or mark the test for pytest-asyncio."
        )
    test_scope = _asyncio_test_loop_scope(item)
    if test_scope is None:
        return (
            "this test is not run by pytest-asyncio (no asyncio marker), so it gets no event loop of the"
            " harness's. Fix: mark it `@pytest.mark.asyncio`, or set `asyncio_mode = auto` in your pytest"
            " configuration."
        )
    if test_scope != scope:
        return (
            f"this test runs on pytest-asyncio's {test_scope}-scoped loop, the app lifespan on the {scope}-scoped"
            f" one. Fix: set `asyncio_default_test_loop_scope = {scope}` and `asyncio_default_fixture_loop_scope ="
            f" {scope}` in your pytest configuration (and drop loop_scope={test_scope!r} from the test's asyncio"
            f" marker), or run the harness with `--loopsafe-scope={test_scope}` if that is a scope it has."
        )
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture runs: a test that uses the harness must run on the loop its lifespan runs on."""
    if not _LOOP_BOUND_FIXTURES & set(getattr(item, "fixturenames", ())):
        return
    problem = _wrong_runner(item, *item.config.stash[_SETUP])
    if problem:
        pytest.fail(f"{item.nodeid}: {problem} {_WHY}", pytrace=False)


def check_same_loop(request: pytest.FixtureRequest, running: RunningApp, scope: Scope) -> None:
    """The last line of defence, whatever the runner: the fixture must be on the lifespan's loop."""
    if asyncio.get_running_loop() is not running.loop:
        pytest.fail(
            f"{request.node.nodeid}: this fixture runs on another event loop than the {scope}-scoped app lifespan."
            f" {_WHY} Fix: keep the `anyio_backend` fixture session-scoped (the harness defines it so), and run"
            " the test and the harness's fixtures with one async plugin.",
            pytrace=False,
        )


def _fixtures(scope: Scope, plugin: AsyncPlugin) -> ModuleType:
    """The harness's fixtures, made for the lifespan scope and async plugin in force."""

    def async_fixture(function: Callable[..., Any], fixture_scope: Scope = "function") -> Any:
        if plugin == "asyncio":
            import pytest_asyncio  # noqa: PLC0415 - only a dependency of asyncio mode

            # Every async fixture of the harness runs on the lifespan's loop, whatever its own scope.
            return pytest_asyncio.fixture(function, scope=fixture_scope, loop_scope=scope)
        return pytest.fixture(function, scope=fixture_scope)

    def app(request: pytest.FixtureRequest) -> ASGIApp:
        """The app under test, built once per session: from `loopsafe_app`, or override this fixture."""
        spec = request.config.getini("loopsafe_app")
        if not spec:
            raise pytest.UsageError(
                "loopsafe-mongo does not know which app to test: set `loopsafe_app = package.module:create_app`"
                " in your pytest configuration, or define a session-scoped `app` fixture in conftest.py."
            )
        return _load_app(spec)

    def database_name() -> str:
        """A database name of this session's (and xdist worker's) own; build the app's settings with it."""
        return f"test_{_worker_suffix()}_{uuid.uuid4().hex[:12]}"

    def clean_database() -> CleanDatabase:
        """What runs after each test: override it to isolate tests another way."""
        return clean_by_scope

    async def running_app(app: ASGIApp) -> AsyncIterator[RunningApp]:
        """The app with its lifespan running on the test's loop: the MongoDB client is created here."""
        async with run_lifespan(app) as running:
            yield running

    async def db(
        running_app: RunningApp, clean_database: CleanDatabase, request: pytest.FixtureRequest
    ) -> AsyncIterator[Any]:
        """The very database handle the running app uses: await queries on it between requests."""
        check_same_loop(request, running_app, scope)
        key = request.config.getini("loopsafe_state_key")
        if key not in running_app.state:
            raise pytest.UsageError(
                f"the app's lifespan state has no {key!r} (it has: {sorted(running_app.state) or 'nothing'})."
                " Yield the database handle from the lifespan under that key, or set `loopsafe_state_key`."
            )
        handle = running_app.state[key]
        yield handle
        await clean_database(handle, scope)

    async def client(running_app: RunningApp, db: Any) -> AsyncIterator[httpx.AsyncClient]:
        """An httpx client that sends requests to the running app, on the test's loop."""
        import httpx  # noqa: PLC0415 - the `pytest` extra installs it; the guard alone does not need it

        transport = httpx.ASGITransport(app=running_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http

    # A module, because pytest looks for fixtures on a plugin's type unless it is a module or a class.
    fixtures = ModuleType(_PLUGIN_NAME)
    fixtures.app = pytest.fixture(app, scope="session")  # type: ignore[attr-defined]
    fixtures.database_name = pytest.fixture(database_name, scope="session")  # type: ignore[attr-defined]
    fixtures.clean_database = pytest.fixture(clean_database, scope="session")  # type: ignore[attr-defined]
    fixtures.running_app = async_fixture(running_app, scope)  # type: ignore[attr-defined]
    fixtures.db = async_fixture(db)  # type: ignore[attr-defined]
    fixtures.client = async_fixture(client)  # type: ignore[attr-defined]
    if plugin == "anyio":

        def anyio_backend() -> str:
            """Both drivers run on asyncio only; session scope lets a session lifespan share its loop with tests."""
            return "asyncio"

        fixtures.anyio_backend = pytest.fixture(anyio_backend, scope="session")  # type: ignore[attr-defined]
    return fixtures
