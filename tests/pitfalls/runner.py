"""Runs one loop-pitfall scenario as a pytest session of its own and reads back what each of its tests did.

The one piece of code behind tests/test_loop_pitfalls.py and scripts/pitfalls.py; each session is forked from a
ForkServer (tests/pitfalls/forkserver.py), so it runs in a process of its own.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tests.pitfalls.forkserver import ForkServer

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
INNER_TIMEOUT_S = 120
REPORT = "pitfalls-report.json"
# The plugins an inner run loads, by module (autoloading is off, so each run sees exactly these).
ANYIO_PLUGIN = "anyio.pytest_plugin"
ASYNCIO_PLUGIN = "pytest_asyncio.plugin"
HARNESS_PLUGIN = "loopsafe_mongo.pytest_plugin"
# Starlette 1.x warns when its TestClient is imported while only httpx (not httpx2) is installed.
TESTCLIENT_WARNING = "ignore:Using `httpx` with `starlette.testclient` is deprecated:UserWarning"


class Backend(StrEnum):
    """What the inner run's client talks to: a real driver (to a real server, or to the wire server in
    tests/support/wire_server.py when none is configured), or mongomock in memory."""

    MOTOR = "motor"
    PYMONGO = "pymongo"
    IN_MEMORY = "in-memory"


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a backend, with the loop guard on or off."""

    backend: Backend
    guard: bool

    def __str__(self) -> str:
        return f"{self.backend}-guard-{'on' if self.guard else 'off'}"


class Kind(StrEnum):
    LOOP = "loop"  # the client is used on a loop it is not bound to
    NO_LIFESPAN = "no-lifespan"  # requests reach an app without the state its lifespan yields
    CORRECT = "correct"  # a pattern that must pass with every backend
    HARNESS_CHECK = "harness-check"  # our conftest.py must stop the test itself


class LoopState(StrEnum):
    """How the guard describes the loop a client is bound to, when another loop uses it."""

    CLOSED = "is closed"
    IDLE = "is idle"
    OTHER_THREAD = "is running in another thread"


@dataclass(frozen=True)
class Scenario:
    """One scenario file, what it shows, and what the guard will say about it."""

    name: str
    file: str
    kind: Kind
    pattern: str
    fix: str
    failing: tuple[str, ...] = ()  # the inner tests that show the problem
    phase: str = "call"  # where they fail: in the test ("call") or in a fixture ("setup")
    bound_loop: LoopState | None = None
    created_in: tuple[str, str] = ("", "")  # the file and function the guard names as the client's creator
    used_in: str = ""  # the function the guard names as the wrong-loop user; the failing test if empty
    asyncio: bool = False  # loads pytest-asyncio
    harness: bool = False  # loads the loopsafe-mongo plugin and copies our conftest.py next to the scenario
    warnings: tuple[str, ...] = ()  # exceptions to "warnings are errors", each for a warning the pattern causes
    ini: tuple[str, ...] = ()
    args: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return SCENARIOS / self.file

    @property
    def tests(self) -> tuple[str, ...]:
        """The scenario's test functions, in file order."""
        tree = ast.parse(self.path.read_text())
        return tuple(
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
        )


_LIFESPAN = ("app/main.py", "lifespan")
CATALOGUE = (
    Scenario(
        name="import-time-client",
        file="scenario_import_time_client.py",
        kind=Kind.LOOP,
        pattern="A client created at import time, as a module global, and used by the app in two async tests.",
        fix="Create the client in the app's lifespan and enter the lifespan in each test's loop (our conftest.py).",
        failing=("test_unknown_item_is_not_found",),
        bound_loop=LoopState.CLOSED,
        created_in=("scenario_import_time_client.py", "<module>"),
    ),
    Scenario(
        name="sync-fixture-client",
        file="scenario_sync_fixture_client.py",
        kind=Kind.LOOP,
        pattern="A client made in a module-scoped sync fixture, used by async tests that each run on their own loop.",
        fix="Make the client in an async fixture whose scope matches the loop's: the lifespan there (db, client).",
        failing=("test_created_item_is_stored",),
        bound_loop=LoopState.CLOSED,
        created_in=("scenario_sync_fixture_client.py", "db"),
    ),
    Scenario(
        name="session-fixture-per-test-loops",
        file="scenario_session_fixture_per_test_loops.py",
        kind=Kind.LOOP,
        pattern="A pytest-asyncio session fixture runs the lifespan on the session loop; tests, pytest-asyncio's or"
        " anyio's, run on per-test loops.",
        fix="One loop for the fixture and the tests: anyio alone (--loopsafe-scope session), or loop_scope='session' on"
        " both.",
        failing=("test_items_start_empty", "test_unknown_item_is_not_found"),
        bound_loop=LoopState.IDLE,
        created_in=_LIFESPAN,
        asyncio=True,
    ),
    Scenario(
        name="testclient-lifespan",
        file="scenario_testclient_lifespan.py",
        kind=Kind.LOOP,
        pattern="The sync TestClient runs the lifespan on its own loop in a thread; an async test then awaits the"
        " app's database.",
        fix="In async tests use httpx.AsyncClient over the app, with the lifespan entered in the test's loop"
        " (our client fixture).",
        failing=("test_created_item_is_stored",),
        bound_loop=LoopState.OTHER_THREAD,
        created_in=_LIFESPAN,
        warnings=(TESTCLIENT_WARNING,),
    ),
    Scenario(
        name="cached-client",
        file="scenario_cached_client.py",
        kind=Kind.LOOP,
        pattern="A client created lazily on the first request and cached for good with functools.lru_cache.",
        fix="Keep the client in the lifespan state that requests see (request.state), not in a cache or global.",
        failing=("test_unknown_item_is_not_found",),
        bound_loop=LoopState.CLOSED,
        created_in=("scenario_cached_client.py", "get_client"),
    ),
    Scenario(
        name="asyncio-run-seeding",
        file="scenario_asyncio_run_seeding.py",
        kind=Kind.LOOP,
        pattern="A sync fixture seeds data through the app's client with asyncio.run(), which runs a loop of its own.",
        fix="Seed in an async fixture, on the test's loop: await the repository there.",
        failing=("test_lists_seeded_item",),
        phase="setup",
        bound_loop=LoopState.IDLE,
        created_in=_LIFESPAN,
        used_in="seeded",
    ),
    Scenario(
        name="one-test-off-the-session-loop",
        file="scenario_one_test_off_the_session_loop.py",
        kind=Kind.LOOP,
        pattern="A suite on one session loop, where one test's own @pytest.mark.asyncio gives it a loop of its own.",
        fix="Make the session loop the default for tests (asyncio_default_test_loop_scope = session) rather than"
        " per marker.",
        failing=("test_unknown_item_is_not_found",),
        bound_loop=LoopState.IDLE,
        created_in=_LIFESPAN,
        asyncio=True,
    ),
    Scenario(
        name="transport-without-lifespan",
        file="scenario_transport_without_lifespan.py",
        kind=Kind.NO_LIFESPAN,
        pattern="httpx.ASGITransport without the lifespan, or with the lifespan run but the raw app passed to it.",
        fix="Enter the lifespan in the test's loop and send requests to the app it yields (run_lifespan(app).app).",
        failing=("test_list_items_without_lifespan", "test_list_items_through_the_raw_app"),
    ),
    Scenario(
        name="lifespan-per-test",
        file="scenario_correct_harness.py",
        kind=Kind.CORRECT,
        pattern="Our harness as is: every test enters its own lifespan, so its own client, on its own loop.",
        fix="Nothing to fix.",
        harness=True,
        args=("--loopsafe-scope=function",),
    ),
    Scenario(
        name="session-lifespan",
        file="scenario_correct_harness.py",
        kind=Kind.CORRECT,
        pattern="The harness with --loopsafe-scope session: one lifespan and one client on anyio's loop for all tests.",
        fix="Nothing to fix.",
        harness=True,
        args=("--loopsafe-scope=session",),
    ),
    Scenario(
        name="harness-check",
        file="scenario_harness_check.py",
        kind=Kind.HARNESS_CHECK,
        pattern="The harness on pytest-asyncio with one session lifespan, while tests keep per-test loops.",
        fix="Give the tests the lifespan's loop (asyncio_default_test_loop_scope = session); the `db` fixture says so.",
        failing=("test_items_start_empty",),
        phase="setup",
        asyncio=True,
        harness=True,
        ini=("asyncio_mode = auto", "loopsafe_async = asyncio"),
        args=("--loopsafe-scope=session",),
    ),
)
SCENARIO_FILES = frozenset(scenario.file for scenario in CATALOGUE)


def scenario(name: str) -> Scenario:
    """The catalogued scenario called `name`."""
    return next(s for s in CATALOGUE if s.name == name)


@dataclass(frozen=True)
class Error:
    type: str  # module and name, e.g. "builtins.RuntimeError"
    message: str

    @property
    def is_loop_error(self) -> bool:
        """The guard's error, or a driver's RuntimeError about loops (Motor's and PyMongo's texts all name one)."""
        return self.type == "loopsafe_mongo.guard.LoopMismatchError" or (
            self.type == "builtins.RuntimeError" and "loop" in self.message
        )


@dataclass(frozen=True)
class Outcome:
    """What one inner test did: "passed", "failed" (in the test), "error" (in a fixture) or "skipped"."""

    outcome: str
    phase: str | None
    errors: tuple[Error, ...]


@dataclass(frozen=True)
class Run:
    scenario: Scenario
    cell: Cell
    server: str | None  # the URL the real drivers used; None in memory
    exit_code: int
    tests: Mapping[str, Outcome]


class InnerRunError(RuntimeError):
    """The inner pytest run ended without a report: it could not start, or could not collect the scenario."""


def server_url() -> str | None:
    """The real server the suite runs against (MONGODB_URL), if any; None: give the drivers the wire server."""
    url = os.environ.get("MONGODB_URL", "")
    return url if url and not url.startswith("mongomock://") else None


def environment(cell: Cell, server: str, database: str, *, harness: bool = False) -> dict[str, str]:
    env = {
        # Plugins are named on the command line instead: the run does not depend on what else is installed.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        # Before the ini's `pythonpath` applies, so that `-p tests.pitfalls.report` imports.
        "PYTHONPATH": str(ROOT),
        "LOOP_GUARD": "true" if cell.guard else "false",
        # Strict mode comes with the plugin; without it a project sees each pattern fail where it is used.
        "LOOPSAFE_MONGO_STRICT": "1" if harness else "0",
        "MONGODB_DB": database,
    }
    if cell.backend is Backend.IN_MEMORY:
        return env | {"MONGODB_URL": "mongomock://localhost", "MONGODB_DRIVER": "motor"}
    return env | {"MONGODB_URL": server, "MONGODB_DRIVER": cell.backend.value}


def ini_text(scenario: Scenario) -> str:
    lines = [
        "[pytest]",
        f"pythonpath = {ROOT}",
        "addopts = --strict-markers --strict-config",
        "xfail_strict = true",
        "filterwarnings =",
        "    error",
        *(f"    {warning}" for warning in scenario.warnings),
    ]
    if scenario.asyncio:
        lines.append("asyncio_default_fixture_loop_scope = function")
    elif scenario.harness:
        # As docs/adopting.md has anyio adopters say: the harness then brings its session-scoped asyncio backend.
        lines.append("loopsafe_async = anyio")
    return "\n".join([*lines, *scenario.ini, ""])


def pytest_args(scenario: Scenario) -> list[str]:
    plugins = [
        ANYIO_PLUGIN,
        *([ASYNCIO_PLUGIN] if scenario.asyncio else []),
        *([HARNESS_PLUGIN] if scenario.harness else []),
    ]
    return [
        *("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist"),
        *("-p", "tests.pitfalls.report", f"--pitfalls-report={REPORT}"),
        *(arg for plugin in plugins for arg in ("-p", plugin)),
        # Native tracebacks: what each test raised is read from the report, so the text output only serves a
        # run that wrote none; pytest's own tracebacks would parse the source of every frame (the drivers'
        # too), more than half of a failing session's CPU time.
        *("-q", "--tb=native", *scenario.args, scenario.file),
    ]


def prepare(scenario: Scenario, directory: Path) -> None:
    """Lay out an empty directory as a project holding just this scenario (and our harness, if it uses it)."""
    shutil.copyfile(scenario.path, directory / scenario.file)
    if scenario.harness:
        shutil.copyfile(ROOT / "conftest.py", directory / "conftest.py")
    (directory / "pytest.ini").write_text(ini_text(scenario))


def read_report(path: Path) -> tuple[int, dict[str, Outcome]]:
    data = json.loads(path.read_text())
    tests = {
        name: Outcome(
            outcome=entry["outcome"],
            phase=entry["when"],
            errors=tuple(Error(type=e["type"], message=e["message"]) for e in entry["errors"]),
        )
        for name, entry in data["tests"].items()
    }
    return int(data["exitstatus"]), tests


def run(scenario: Scenario, cell: Cell, directory: Path, server: str, forkserver: ForkServer) -> Run:
    """Run `scenario` in the empty `directory` with `cell`'s backend and guard; real drivers talk to `server`."""
    prepare(scenario, directory)
    server_used = server if cell.backend is not Backend.IN_MEMORY else None
    database = f"pitfalls_{uuid.uuid4().hex[:12]}"
    env = environment(cell, server, database, harness=scenario.harness)
    exit_code, output = forkserver.run(directory, pytest_args(scenario), env, INNER_TIMEOUT_S)
    if server_used:
        _drop_database(server_used, database)
    if not (directory / REPORT).exists():
        raise InnerRunError(f"{scenario.file} [{cell}] wrote no report (exit code {exit_code}):\n{output}")
    status, tests = read_report(directory / REPORT)
    return Run(scenario=scenario, cell=cell, server=server_used, exit_code=status, tests=tests)


def _drop_database(url: str, name: str) -> None:
    from pymongo import MongoClient  # noqa: PLC0415 - only runs against a real server need it

    client: MongoClient[dict[str, object]]
    with MongoClient(url, serverSelectionTimeoutMS=5_000) as client:
        client.drop_database(name)
