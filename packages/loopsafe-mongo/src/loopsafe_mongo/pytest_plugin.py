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
# Why the installed versions cannot run the harness (one line), or None.
_UNSUPPORTED = pytest.StashKey[str | None]()
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
    parser.addini(
        "loopsafe_db",
        "Where the database handle is once the lifespan started: `state.KEY` (default `state.db`), an attribute"
        " path on the app (`app.state.db`, `app.mongodb`), or `package.module:name`.",
        default="",
    )
    parser.addini("loopsafe_state_key", "Same as `loopsafe_db = state.KEY` (the older spelling).", default="db")


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
    """Before any conftest is imported: strict mode on, and, in a project that configured the harness, the
    versions it needs checked (a root conftest that imports the app would otherwise make an import-time
    client before strict mode is on, or fail on an old Motor with an ImportError that names no version)."""
    # Set in the environment, so xdist workers, started later, inherit it.
    os.environ.setdefault(STRICT_ENV, "1")
    if _harness_configured(early_config):
        problem = _compat.unsupported_versions(async_plugin(early_config))
        if problem:
            raise pytest.UsageError(problem)


def _harness_configured(config: pytest.Config) -> bool:
    """Whether the project's settings name the harness (its app, or its async plugin)."""
    return bool(config.getini("loopsafe_app")) or config.getini("loopsafe_async") != "auto"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    configured = _harness_configured(config)
    if configured and _asyncio_active(config) and not config.getini("asyncio_default_fixture_loop_scope"):
        # Precise: only this one message, downgraded from error to a printed warning, and only in a project
        # that configured the harness (which sets the loop scope of its own fixtures); any other project
        # keeps pytest-asyncio's behaviour exactly. The docs tell users to set the option for theirs.
        import warnings  # noqa: PLC0415 - only needed here

        warnings.filterwarnings("default", message=_ASYNCIO_UNSET_WARNING, category=pytest.PytestDeprecationWarning)
    # Again here, for a plugin registered after the initial conftests were loaded (pytester, `-p` late).
    os.environ.setdefault(STRICT_ENV, "1")
    scope, plugin = config.stash[_SETUP] = lifespan_scope(config), async_plugin(config)
    # A project that configured the harness was stopped already (pytest_load_initial_conftests); in any other,
    # an old version fails only the tests that use the harness (pytest_runtest_setup).
    unsupported = config.stash[_UNSUPPORTED] = _compat.unsupported_versions(plugin)
    # With unsupported versions the fixtures never run (pytest_runtest_setup fails their tests first), and
    # an old pytest-asyncio could not even build them (no loop_scope): build the plain anyio ones instead.
    fixtures = _fixtures(scope, "anyio" if unsupported else plugin, db_location(config), configured=configured)
    config.pluginmanager.register(fixtures, _PLUGIN_NAME)


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


def db_location(config: pytest.Config) -> str:
    """Where the `db` fixture finds the handle: `loopsafe_db`, else `state.<loopsafe_state_key>`."""
    location: str = config.getini("loopsafe_db") or f"state.{config.getini('loopsafe_state_key')}"
    head, _, rest = location.partition(".")
    if ":" not in location and (head not in {"state", "app"} or not rest):
        raise pytest.UsageError(
            "loopsafe_db must be `state.KEY`, `app.ATTRIBUTE[.ATTRIBUTE...]` or `package.module:name`,"
            f" not {location!r}"
        )
    return location


async def find_database(location: str, running: RunningApp, app: object) -> Any:
    """The handle at `location` (see db_location), read after startup: where the app's lifespan put it."""
    head, _, path = location.partition(".")
    if ":" in location:
        module_name, _, name = location.partition(":")
        value = getattr(importlib.import_module(module_name), name, _MISSING)
        if value is _MISSING:
            raise pytest.UsageError(f"loopsafe_db: module {module_name!r} has no {name!r}")
        # A getter (`get_database()`), called on the test's loop like the app's own code would. A routine, not
        # any callable: Motor's database and collection objects are callable too (to raise a hint).
        if inspect.isroutine(value):
            value = value()
            if inspect.isawaitable(value):
                value = await value
        return value
    if head == "state":
        if path not in running.state:
            raise pytest.UsageError(
                f"the app's lifespan state has no {path!r} (it has: {sorted(running.state) or 'nothing'})."
                " Yield the database handle from the lifespan under that key, or say where it is with `loopsafe_db`."
            )
        return running.state[path]
    value = app
    for depth, attribute in enumerate(path.split(".")):
        value = getattr(value, attribute, _MISSING)
        if value is _MISSING:
            found = ".".join(["app", *path.split(".")[:depth]])
            raise pytest.UsageError(
                f"loopsafe_db = {location}: {found} has no attribute {attribute!r} after the lifespan started."
                " Set it in the lifespan (or startup handler), or point `loopsafe_db` where the handle is."
            )
    return value


_MISSING = object()
_NO_APP = (
    "loopsafe-mongo does not know which app to test: set `loopsafe_app = package.module:create_app` in your"
    " pytest configuration, or define a session-scoped `app` fixture in conftest.py."
)


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


def _asyncio_test_loop_scope(item: pytest.Item) -> tuple[str, bool] | None:
    """The loop scope pytest-asyncio runs `item` on, and whether its marker sets it; None: not its test."""
    marker = item.get_closest_marker("asyncio")
    if marker is None:
        return None
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if scope:
        return str(scope), True
    return _compat.asyncio_default_test_loop_scope(item.config), False


# `client` and `db` are the short names; `loopsafe_client` and `loopsafe_db` reach the same fixtures in a
# project whose own fixtures already use the short names.
_LOOP_BOUND_FIXTURES = frozenset({"running_app", "db", "client", "loopsafe_db", "loopsafe_client"})
_WHY = "The app's MongoDB client is bound to the lifespan's loop and cannot be used from another one."


def _wrong_runner(item: pytest.Item, scope: Scope, plugin: AsyncPlugin) -> str | None:
    """Why `item` will not run on the lifespan's loop, and the setting that fixes it; None when it will."""
    return _off_anyio(item) if plugin == "anyio" else _off_asyncio(item, scope)


def _off_anyio(item: pytest.Item) -> str | None:
    """Why a test will not run on anyio's loop, where the harness runs its fixtures; None when it will."""
    if "anyio_backend" not in getattr(item, "fixturenames", ()):
        return (
            "this test is not run by anyio, but the harness runs its fixtures on anyio. Fix: mark it"
            " `pytest.mark.anyio` (or set `anyio_mode = auto`), or set `loopsafe_async = asyncio` in your pytest"
            " configuration to run the harness on pytest-asyncio."
        )
    if item.get_closest_marker("asyncio") is not None:
        # pytest-asyncio's auto mode marks every async test, anyio's included, and then runs it on its own loop.
        return (
            "this test is claimed by anyio and by pytest-asyncio (an asyncio marker, or `asyncio_mode = auto`,"
            " which marks every async test), so it runs on pytest-asyncio's loop while the harness runs its"
            " fixtures on anyio's. Fix: set `asyncio_mode = strict` in your pytest configuration, or set"
            " `loopsafe_async = asyncio` and mark the test for pytest-asyncio instead of anyio."
        )
    return None


def _off_asyncio(item: pytest.Item, scope: Scope) -> str | None:
    """Why a test will not run on the pytest-asyncio loop the harness's fixtures run on; None when it will."""
    if item.get_closest_marker("anyio") is not None:
        return (
            "this test is run by anyio, but the harness runs its fixtures on pytest-asyncio. Fix: set"
            " `loopsafe_async = anyio` in your pytest configuration, or mark the test for pytest-asyncio."
        )
    test_loop = _asyncio_test_loop_scope(item)
    if test_loop is None:
        return (
            "this test is not run by pytest-asyncio (no asyncio marker), so it gets no event loop of the"
            " harness's. Fix: mark it `@pytest.mark.asyncio`, or set `asyncio_mode = auto` in your pytest"
            " configuration."
        )
    test_scope, from_marker = test_loop
    if test_scope == scope:
        return None
    # Only offer the harness's own scopes: it has no module or class lifespan to switch to.
    other_way = (
        f", or run the harness with `--loopsafe-scope={test_scope}`"
        if test_scope in _SCOPES
        else f" (the harness's lifespan is per test or per session: {test_scope} is not one of its scopes)"
    )
    return (
        f"this test runs on pytest-asyncio's {test_scope}-scoped loop, the app lifespan on the {scope}-scoped"
        f" one. Fix: set `asyncio_default_test_loop_scope = {scope}` and `asyncio_default_fixture_loop_scope ="
        f" {scope}` in your pytest configuration"
        + (f" (and drop loop_scope={test_scope!r} from the test's asyncio marker)" if from_marker else "")
        + f"{other_way}."
    )


def _is_ours(fixturedef: Any) -> bool:
    # The harness's fixtures are functions of this module (made in _fixtures); a project's own fixture of
    # the same name (FastAPI's documented sync TestClient fixture is called `client`) is not.
    return getattr(fixturedef.func, "__module__", None) == __name__


def _uses_the_harness(item: pytest.Item) -> bool:
    """Whether `item` will run one of the harness's loop-bound fixtures, not merely one of the same name.

    For each name, the last definition pytest found is the one that runs; it reaches the one before it only
    when it requests its own name (a project's `db` fixture that wraps the harness's `db`).
    """
    info = getattr(item, "_fixtureinfo", None)
    if info is None:  # not a test function (a doctest, a plugin's own item): it cannot use the harness
        return False
    for name in _LOOP_BOUND_FIXTURES & set(info.names_closure):
        for fixturedef in reversed(info.name2fixturedefs.get(name, ())):
            if _is_ours(fixturedef):
                return True
            if name not in fixturedef.argnames:
                break
    return False


def pytest_collection_finish(session: pytest.Session) -> None:
    """A harness with no app to run is said once, before any test, not once per test that uses it."""
    # With versions it cannot run on, each harness test fails saying so (pytest_runtest_setup) instead.
    if session.config.getini("loopsafe_app") or session.config.stash[_UNSUPPORTED]:
        return
    for item in session.items:
        info = getattr(item, "_fixtureinfo", None)
        app_definitions = info.name2fixturedefs.get("app", ()) if info is not None else ()
        if app_definitions and all(map(_is_ours, app_definitions)) and _uses_the_harness(item):
            raise pytest.UsageError(_NO_APP)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture runs: a test that uses the harness must run on the loop its lifespan runs on.

    Only the harness's own fixtures are judged: a project that installs the plugin and uses none of them
    runs exactly as before.
    """
    if not _uses_the_harness(item):
        return
    unsupported = item.config.stash[_UNSUPPORTED]
    if unsupported:
        pytest.fail(f"{item.nodeid}: {unsupported}", pytrace=False)
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


def _fixtures(scope: Scope, plugin: AsyncPlugin, location: str, *, configured: bool) -> ModuleType:
    """The harness's fixtures, made for the lifespan scope, async plugin and handle location in force.

    `configured`: the project named the harness in its settings; only then does the harness replace anyio's
    own `anyio_backend` (which runs each anyio test on every installed backend, each with its own test id).
    """

    def async_fixture(function: Callable[..., Any], fixture_scope: Scope = "function") -> Any:
        if plugin == "asyncio":
            import pytest_asyncio  # noqa: PLC0415 - only a dependency of asyncio mode

            # Every async fixture of the harness runs on the lifespan's loop, whatever its own scope.
            return pytest_asyncio.fixture(function, scope=fixture_scope, loop_scope=scope)
        return pytest.fixture(function, scope=fixture_scope)

    def app(request: pytest.FixtureRequest) -> ASGIApp:
        """The app under test, built once per session: from `loopsafe_app`, or override this fixture."""
        spec = request.config.getini("loopsafe_app")
        if not spec:  # pragma: no cover - pytest_collection_finish stops the run first; a fixture can be asked late
            raise pytest.UsageError(_NO_APP)
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

    async def loopsafe_db(
        app: ASGIApp, running_app: RunningApp, clean_database: CleanDatabase, request: pytest.FixtureRequest
    ) -> AsyncIterator[Any]:
        """The very database handle the running app uses: await queries on it between requests."""
        check_same_loop(request, running_app, scope)
        handle = await find_database(location, running_app, app)
        yield handle
        await clean_database(handle, scope)

    async def loopsafe_client(running_app: RunningApp, loopsafe_db: Any) -> AsyncIterator[httpx.AsyncClient]:
        """An httpx client that sends requests to the running app, on the test's loop."""
        import httpx  # noqa: PLC0415 - the `pytest` extra installs it; the guard alone does not need it

        transport = httpx.ASGITransport(app=running_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http

    # The short names. A project whose own `client` or `db` fixture takes one of them keeps its fixture,
    # and reaches the harness's under the long name.
    def db(loopsafe_db: Any) -> Any:
        """The same as `loopsafe_db`."""
        return loopsafe_db

    def client(loopsafe_client: httpx.AsyncClient) -> httpx.AsyncClient:
        """The same as `loopsafe_client`."""
        return loopsafe_client

    # A module, because pytest looks for fixtures on a plugin's type unless it is a module or a class.
    fixtures = ModuleType(_PLUGIN_NAME)
    fixtures.app = pytest.fixture(app, scope="session")  # type: ignore[attr-defined]
    fixtures.database_name = pytest.fixture(database_name, scope="session")  # type: ignore[attr-defined]
    fixtures.clean_database = pytest.fixture(clean_database, scope="session")  # type: ignore[attr-defined]
    fixtures.running_app = async_fixture(running_app, scope)  # type: ignore[attr-defined]
    fixtures.loopsafe_db = async_fixture(loopsafe_db)  # type: ignore[attr-defined]
    fixtures.loopsafe_client = async_fixture(loopsafe_client)  # type: ignore[attr-defined]
    fixtures.db = pytest.fixture(db)  # type: ignore[attr-defined]
    fixtures.client = pytest.fixture(client)  # type: ignore[attr-defined]
    if plugin == "anyio" and configured:

        def anyio_backend() -> str:
            """Both drivers run on asyncio only; session scope lets a session lifespan share its loop with tests."""
            return "asyncio"

        fixtures.anyio_backend = pytest.fixture(anyio_backend, scope="session")  # type: ignore[attr-defined]
    return fixtures
