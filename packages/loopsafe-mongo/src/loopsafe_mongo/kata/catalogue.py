"""The kata's one list of bad patterns: each exercise, what it shows, the error it must raise, its hint, and its
picture. The exercise files, the referee's verdicts, the terminal lanes and the SVG diagrams all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable

__all__ = ["EXERCISES", "Exercise", "Lane", "Mark", "MarkKind", "Timeline", "exercise"]


class MarkKind(StrEnum):
    CREATED = "created"  # the client is made
    BOUND = "bound"  # the client binds to this loop (at creation on a running loop, or at first use)
    USED = "used"  # a use that works
    FAILS = "fails"  # a use from the wrong loop: the guard's LoopMismatchError
    REFUSED = "refused"  # strict mode: a client made with no running loop is refused where it is made
    CLOSED = "closed"  # the loop ends


@dataclass(frozen=True)
class Mark:
    lane: int
    at: int  # the time slot, left to right
    kind: MarkKind
    text: str


@dataclass(frozen=True)
class Lane:
    """One event loop (or no loop at all) over time: it runs from slot `start` to `end`."""

    label: str
    start: int
    end: int
    loop: bool = True  # False: code that runs with no event loop (import time, a sync fixture)


@dataclass(frozen=True)
class Timeline:
    title: str
    lanes: tuple[Lane, ...]
    marks: tuple[Mark, ...]


@dataclass(frozen=True)
class Exercise:
    number: int
    name: str  # the folder name's tail and the diagram's file name
    title: str
    pattern: str  # what the exercise's code does wrong, in a sentence or two
    task: str  # what the learner must do, without giving the answer away
    hint: str
    error: str  # the guard's exception the unfixed exercise raises
    failing: tuple[str, ...]  # the tests that fail with it
    tests: tuple[str, ...]  # every test that must pass, using the app's client, once fixed
    real_error: str  # what Motor or PyMongo would say without the guard
    bad: Timeline
    good: Timeline
    bound: str = ""  # how the guard describes the bound loop ("is closed", ...); empty for ClientCreatedOffLoopError
    asyncio: bool = False  # runs on pytest-asyncio rather than anyio
    ini: tuple[str, ...] = ()  # extra pytest.ini lines

    @property
    def folder(self) -> str:
        return f"{self.number:02d}-{self.name}"

    @property
    def files(self) -> Traversable:
        """The exercise as the learner gets it, and its reference solution beside it (`solution/`)."""
        return resources.files("loopsafe_mongo.kata") / "exercises" / self.folder


_CLOSED = "Event loop is closed"
_OTHER = "RuntimeError: Task <...> got Future <...> attached to a different loop"
_PYMONGO = "Cannot use AsyncMongoClient in different event loop"
_MISMATCH = "LoopMismatchError"


def _per_test_lifespans(first: str = "test 1: loop A", second: str = "test 2: loop B") -> Timeline:
    """The right way, for most patterns: each test's loop runs its own lifespan, so its own client."""
    return Timeline(
        title="The fix: each test's loop runs the lifespan, which makes (and closes) its own client",
        lanes=(Lane(first, 0, 3), Lane(second, 3, 6)),
        marks=(
            Mark(0, 0, MarkKind.CREATED, "lifespan: client"),
            Mark(0, 1, MarkKind.USED, "used on loop A"),
            Mark(0, 2, MarkKind.CLOSED, "client closed"),
            Mark(1, 3, MarkKind.CREATED, "lifespan: client"),
            Mark(1, 4, MarkKind.USED, "used on loop B"),
            Mark(1, 5, MarkKind.CLOSED, "client closed"),
        ),
    )


def _one_session_loop(title: str) -> Timeline:
    return Timeline(
        title=title,
        lanes=(Lane("session loop", 0, 6),),
        marks=(
            Mark(0, 0, MarkKind.CREATED, "lifespan: client"),
            Mark(0, 2, MarkKind.USED, "test 1 uses it"),
            Mark(0, 4, MarkKind.USED, "test 2 uses it"),
            Mark(0, 5, MarkKind.CLOSED, "client closed"),
        ),
    )


EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        number=1,
        name="import-time-client",
        title="A client created at import time",
        pattern="app.py makes its MongoDB client when the module is imported, before any event loop runs. The"
        " lifespan only hands that one client out, to every test.",
        task="Make the client belong to the loop that uses it: create it (and close it) inside the lifespan.",
        hint="Move `client = guard(AsyncMongoMockClient(), strict=False)` into `lifespan()`, before the `yield`, and"
        " close it after: `client.close()`. Each test's loop then runs its own lifespan, so it gets its own client."
        " (You may drop `strict=False` there: a client made on a running loop is what strict mode wants.)",
        error=_MISMATCH,
        bound="is closed",
        failing=("test_list_starts_empty",),
        tests=("test_added_item_is_listed", "test_list_starts_empty"),
        real_error=f"Motor: `{_CLOSED}`; PyMongo: `{_PYMONGO}`",
        bad=Timeline(
            title="The pitfall: made at import time, bound by test 1, used again by test 2",
            lanes=(
                Lane("import time (no loop)", 0, 1, loop=False),
                Lane("test 1: loop A", 1, 3),
                Lane("test 2: loop B", 3, 6),
            ),
            marks=(
                Mark(0, 0, MarkKind.CREATED, "client = guard(...)"),
                Mark(1, 1, MarkKind.BOUND, "first use binds it"),
                Mark(1, 2, MarkKind.CLOSED, "loop A closes"),
                Mark(2, 4, MarkKind.FAILS, "bound loop is closed"),
            ),
        ),
        good=_per_test_lifespans(),
    ),
    Exercise(
        number=2,
        name="sync-fixture-client",
        title="A client made in a module-scoped sync fixture",
        pattern="test_app.py makes its own client in a sync fixture with module scope: no loop runs there, and the"
        " client outlives the loop of the first test that uses it. Strict mode (on under the loopsafe-mongo"
        " plugin) refuses such a client where it is made.",
        task="Give the tests a database handle made on each test's own loop, and drop the sync fixture. (The"
        " loopsafe-mongo plugin's `db` fixture is one: the app's own handle, made by its lifespan on the test's loop.)",
        hint="The loopsafe-mongo plugin's `db` fixture is the app's own database handle, made in the app's lifespan on"
        " the test's loop. Turn the `items` fixture into `async def items(db: Any) -> Any: return db['items']` with"
        " the default (function) scope, or use `db['items']` in the tests.",
        error="ClientCreatedOffLoopError",
        failing=("test_insert_is_counted", "test_name_is_stored"),
        tests=("test_insert_is_counted", "test_name_is_stored"),
        real_error=f"no error where it is made; the second test then fails with Motor's `{_CLOSED}` or PyMongo's"
        f" `{_PYMONGO}`",
        bad=Timeline(
            title="The pitfall: made in a sync module fixture, with no loop (strict mode refuses it there)",
            lanes=(
                Lane("sync fixture (no loop)", 0, 1, loop=False),
                Lane("test 1: loop A", 1, 3),
                Lane("test 2: loop B", 3, 6),
            ),
            marks=(
                Mark(0, 0, MarkKind.REFUSED, "refused: no loop"),
                Mark(1, 1, MarkKind.BOUND, "non-strict: binds"),
                Mark(1, 2, MarkKind.CLOSED, "loop A closes"),
                Mark(2, 4, MarkKind.FAILS, "bound loop is closed"),
            ),
        ),
        good=_per_test_lifespans(),
    ),
    Exercise(
        number=3,
        name="testclient-then-async-db",
        title="A sync TestClient's lifespan, then an async test awaits the database",
        pattern="`with TestClient(app)` runs the lifespan, as it should, but on a loop of its own in another thread."
        " The async test then awaits the database handle that lifespan made, from the test's loop.",
        task="Keep the sync test as it is. Make the async test send its requests and await the database on its own"
        " loop. (The plugin's `client` and `db` fixtures run the app's lifespan on the test's loop.)",
        hint="In the async test, use the plugin's `client` fixture (an httpx.AsyncClient whose app's lifespan runs on"
        " the test's loop) and its `db` fixture (that app's database handle) instead of `api` and `api.app_state`:"
        " `await client.post(...)`, then `await db['items'].find_one(...)`.",
        error=_MISMATCH,
        bound="is running in another thread",
        failing=("test_added_item_is_stored",),
        tests=("test_add_item", "test_added_item_is_stored"),
        real_error=f"Motor: `{_OTHER}`; PyMongo: `{_PYMONGO}`",
        bad=Timeline(
            title="The pitfall: TestClient's thread loop makes the client; the test's loop awaits it",
            lanes=(Lane("TestClient's thread loop", 0, 6), Lane("async test: loop A", 2, 6)),
            marks=(
                Mark(0, 0, MarkKind.CREATED, "lifespan: client"),
                Mark(0, 1, MarkKind.USED, "api.post(...)"),
                Mark(1, 3, MarkKind.FAILS, "await db...: other thread"),
            ),
        ),
        good=Timeline(
            title="The fix: in async tests, the lifespan runs on the test's loop (the plugin's client and db)",
            lanes=(Lane("TestClient's thread loop", 0, 3), Lane("async test: loop A", 3, 6)),
            marks=(
                Mark(0, 0, MarkKind.CREATED, "sync test: client"),
                Mark(0, 1, MarkKind.USED, "api.post(...)"),
                Mark(0, 2, MarkKind.CLOSED, "client closed"),
                Mark(1, 3, MarkKind.CREATED, "lifespan: client"),
                Mark(1, 4, MarkKind.USED, "await db..."),
                Mark(1, 5, MarkKind.CLOSED, "client closed"),
            ),
        ),
    ),
    Exercise(
        number=4,
        name="cached-client",
        title="A lazily created, cached client",
        pattern="app.py makes its client on the first request and keeps it for good with `functools.lru_cache`:"
        " the first test's loop owns it, and every later test gets it from the cache.",
        task="Make the client in the app's lifespan and read it from the request, with no cache; then let the tests"
        " run that lifespan (ASGITransport alone never runs it; the plugin's `client` fixture does).",
        hint="Give `create_app()` a lifespan that makes the client, yields `{'db': client['kata']}` and closes it; have"
        " `get_db(request: Request)` return `request.state.db`; delete `get_client`. In test_app.py, drop the `http`"
        " fixture (ASGITransport never runs a lifespan) and use the plugin's `client` fixture instead.",
        error=_MISMATCH,
        bound="is closed",
        failing=("test_list_starts_empty",),
        tests=("test_added_item_is_listed", "test_list_starts_empty"),
        real_error=f"Motor: `{_CLOSED}`; PyMongo: `{_PYMONGO}`",
        bad=Timeline(
            title="The pitfall: test 1's first request makes and caches the client; test 2 gets it from the cache",
            lanes=(Lane("test 1: loop A", 0, 3), Lane("lru_cache", 0, 6, loop=False), Lane("test 2: loop B", 3, 6)),
            marks=(
                Mark(0, 0, MarkKind.CREATED, "1st request: client"),
                Mark(1, 1, MarkKind.USED, "cached for good"),
                Mark(0, 2, MarkKind.CLOSED, "loop A closes"),
                Mark(2, 4, MarkKind.FAILS, "bound loop is closed"),
            ),
        ),
        good=_per_test_lifespans(),
    ),
    Exercise(
        number=5,
        name="asyncio-run-seeding",
        title="Seeding data with asyncio.run() in a sync fixture",
        pattern="The app's lifespan runs on the test's loop, as it should. A sync fixture then seeds data through the"
        " app's client with `asyncio.run(...)`, which runs a second loop while the test's loop waits.",
        task="Seed the data on the test's own loop.",
        hint="Make `seeded` an async fixture (`async def seeded(db: Any) -> None:`) and `await` the insert there,"
        " with no asyncio.run().",
        error=_MISMATCH,
        bound="is idle",
        failing=("test_lists_seeded_item",),
        tests=("test_lists_seeded_item",),
        real_error=f"Motor: `{_OTHER}`; PyMongo: `{_PYMONGO}`",
        bad=Timeline(
            title="The pitfall: asyncio.run() starts a second loop while the test's loop waits",
            lanes=(Lane("test: loop A", 0, 6), Lane("asyncio.run(): loop B", 2, 4)),
            marks=(
                Mark(0, 0, MarkKind.CREATED, "lifespan: client"),
                Mark(1, 2, MarkKind.FAILS, "insert: loop A is idle"),
                Mark(1, 3, MarkKind.CLOSED, "loop B closes"),
            ),
        ),
        good=Timeline(
            title="The fix: an async fixture seeds on the test's loop",
            lanes=(Lane("test: loop A", 0, 6),),
            marks=(
                Mark(0, 0, MarkKind.CREATED, "lifespan: client"),
                Mark(0, 2, MarkKind.USED, "await insert_one"),
                Mark(0, 4, MarkKind.USED, "GET /items"),
                Mark(0, 5, MarkKind.CLOSED, "client closed"),
            ),
        ),
    ),
    Exercise(
        number=6,
        name="session-lifespan-function-loops",
        title="A session-scoped lifespan, tests on pytest-asyncio's per-test loops",
        pattern="A pytest-asyncio fixture with session scope runs the lifespan once, on the session loop. The tests"
        " are marked `@pytest.mark.asyncio`, which gives each a loop of its own.",
        task="Put the tests on the loop the lifespan (and so the client) lives on, keeping the one session lifespan:"
        " pytest-asyncio's marker, and its settings, say which loop a test runs on. (The guard's general fix, a"
        " lifespan per test, would work too, but is not this exercise.)",
        hint="Run the tests on the session loop: `@pytest.mark.asyncio(loop_scope='session')` on each test (or one"
        " `pytestmark = pytest.mark.asyncio(loop_scope='session')`), or set `asyncio_default_test_loop_scope ="
        " session` in pytest.ini.",
        error=_MISMATCH,
        bound="is idle",
        failing=("test_list_starts_empty", "test_added_item_is_listed"),
        tests=("test_list_starts_empty", "test_added_item_is_listed"),
        real_error=f"Motor: `{_OTHER}`; PyMongo: `{_PYMONGO}`",
        asyncio=True,
        bad=Timeline(
            title="The pitfall: the lifespan lives on the session loop, each test on a loop of its own",
            lanes=(Lane("session loop", 0, 6), Lane("test 1: loop A", 1, 3), Lane("test 2: loop B", 3, 6)),
            marks=(
                Mark(0, 0, MarkKind.CREATED, "lifespan: client"),
                Mark(1, 1, MarkKind.FAILS, "session loop is idle"),
                Mark(2, 4, MarkKind.FAILS, "session loop is idle"),
            ),
        ),
        good=_one_session_loop("The fix: the tests run on the session loop, beside the lifespan"),
    ),
    Exercise(
        number=7,
        name="one-test-off-the-session-loop",
        title="A session-loop suite where one test runs on a loop of its own",
        pattern="The module's marker puts every test on pytest-asyncio's session loop, beside the session lifespan."
        " One test carries its own bare `@pytest.mark.asyncio`, copied from a per-test-loop suite, and that"
        " marker wins.",
        task="Make that one test run on the session loop too.",
        hint="Delete the test's own `@pytest.mark.asyncio` line so that the module's `pytestmark` applies. To keep it"
        " from happening again, set `asyncio_default_test_loop_scope = session` in pytest.ini.",
        error=_MISMATCH,
        bound="is idle",
        failing=("test_added_item_is_listed",),
        tests=("test_list_starts_empty", "test_added_item_is_listed"),
        real_error=f"Motor: `{_OTHER}`; PyMongo: `{_PYMONGO}`",
        asyncio=True,
        bad=Timeline(
            title="The pitfall: test 2's own marker gives it a loop of its own",
            lanes=(Lane("session loop", 0, 6), Lane("test 2: loop B", 3, 5)),
            marks=(
                Mark(0, 0, MarkKind.CREATED, "lifespan: client"),
                Mark(0, 2, MarkKind.USED, "test 1 uses it"),
                Mark(1, 3, MarkKind.FAILS, "session loop is idle"),
            ),
        ),
        good=_one_session_loop("The fix: every test on the session loop"),
    ),
    Exercise(
        number=8,
        name="move-client-into-lifespan",
        title="Final: move a module-level client into a lifespan, by hand",
        pattern="app.py is written the way many services start: a module-level client, and routes that use the"
        " module's `db`. The tests already use the loopsafe-mongo plugin's `client` and `db` fixtures, which run"
        " the app's lifespan on each test's loop, and strict mode refuses the client at import.",
        task="Rewrite app.py so that the client is made in a lifespan, closed after it, and reached by the routes"
        " through the request. Leave test_app.py as it is.",
        hint="You have done this in exercises 1 and 4. The plugin's `db` fixture reads the lifespan's state under the"
        " key 'db', so the lifespan must `yield {'db': ...}`; a route reads it as `request.state.db`.",
        error="ClientCreatedOffLoopError",
        failing=("test_added_item_is_listed", "test_added_item_is_stored", "test_unknown_item_is_not_found"),
        tests=("test_added_item_is_listed", "test_added_item_is_stored", "test_unknown_item_is_not_found"),
        real_error=f"no error at import; the second test then fails with Motor's `{_CLOSED}` or PyMongo's `{_PYMONGO}`",
        bad=Timeline(
            title="The pitfall: a module-level client (strict mode refuses it where it is made)",
            lanes=(
                Lane("import time (no loop)", 0, 1, loop=False),
                Lane("test 1: loop A", 1, 3),
                Lane("test 2: loop B", 3, 6),
            ),
            marks=(
                Mark(0, 0, MarkKind.REFUSED, "refused: no loop"),
                Mark(1, 1, MarkKind.BOUND, "non-strict: binds"),
                Mark(1, 2, MarkKind.CLOSED, "loop A closes"),
                Mark(2, 4, MarkKind.FAILS, "bound loop is closed"),
            ),
        ),
        good=_per_test_lifespans(),
    ),
)


def exercise(number: int) -> Exercise:
    """The exercise numbered `number`; KeyError if there is none."""
    for candidate in EXERCISES:
        if candidate.number == number:
            return candidate
    raise KeyError(number)
