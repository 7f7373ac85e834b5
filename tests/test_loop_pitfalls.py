"""Each loop pitfall in tests/pitfalls/scenarios, run as a pytest session of its own per backend and guard setting.

They are ways teams really set up an async MongoDB client in tests; docs/loops-and-clients.md explains each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.pitfalls import runner
from tests.pitfalls.forkserver import ForkServer
from tests.pitfalls.runner import CATALOGUE, Backend, Cell, Kind, LoopState, Outcome, Run, Scenario
from tests.support.wire_server import wire_server

RunScenario = Callable[[Scenario, Cell], Run]

# One xdist worker runs them all (with `--dist loadgroup`, as configured), so one fork server is started
# per run rather than one per worker, each importing pytest, FastAPI and both drivers.
pytestmark = pytest.mark.xdist_group("loop-pitfalls")

LOOP_PITFALLS = [s for s in CATALOGUE if s.kind is Kind.LOOP]
CORRECT_PATTERNS = [s for s in CATALOGUE if s.kind is Kind.CORRECT]
REAL_DRIVERS = [Backend.MOTOR, Backend.PYMONGO]

# The drivers' own texts, as Motor 3.7 and PyMongo 4.20 word them.
MOTOR_CLOSED_LOOP = "Event loop is closed"
# asyncio's text when a task awaits a future of another, still open, loop: Motor runs each operation on its loop.
MOTOR_OTHER_LOOP = re.compile(r"Task <.+> got Future <.+> attached to a different loop", re.DOTALL)
PYMONGO_OTHER_LOOP = (
    "Cannot use AsyncMongoClient in different event loop. AsyncMongoClient uses low-level asyncio APIs"
    " that bind it to the event loop it was created on."
)
GUARD_HEADLINE = "MongoDB client used from an event loop it does not belong to."


@pytest.fixture(scope="module")
def forkserver() -> Iterator[ForkServer]:
    """One fork server per module (per xdist worker): each scenario runs in a process of its own, forked from it."""
    server = ForkServer(runner.ROOT)
    yield server
    server.close()


@pytest.fixture(scope="module")
def driver_server() -> Iterator[str]:
    """Where the real drivers connect: the suite's server (MONGODB_URL), or else a wire server of our own."""
    if url := runner.server_url():
        yield url
        return
    with wire_server() as url:
        yield url


@pytest.fixture
def run_scenario(forkserver: ForkServer, driver_server: str, tmp_path: Path) -> RunScenario:
    """Runs a scenario as a pytest session of its own, in a fresh directory, with the cell's settings."""
    return lambda scenario, cell: runner.run(scenario, cell, tmp_path, driver_server, forkserver)


def only_error(outcome: Outcome) -> runner.Error:
    assert len(outcome.errors) == 1, outcome
    return outcome.errors[0]


def assert_failing_tests_fail(run: Run) -> list[runner.Error]:
    """The scenario's failing tests fail where it says, and every other test passes; returns their errors."""
    scenario = run.scenario
    assert set(run.tests) == set(scenario.tests), run.tests
    expected = "failed" if scenario.phase == "call" else "error"
    for name in scenario.failing:
        assert (run.tests[name].outcome, run.tests[name].phase) == (expected, scenario.phase), run.tests[name]
    assert_pass(run, [name for name in scenario.tests if name not in scenario.failing])
    return [only_error(run.tests[name]) for name in scenario.failing]


def assert_pass(run: Run, names: Sequence[str]) -> None:
    """These tests pass, real drivers included: they reach a server, so nothing may fail for want of one."""
    for name in names:
        assert run.tests[name].outcome == "passed", run.tests[name]


def assert_guard_message(message: str, scenario: Scenario, failing_test: str) -> None:
    """Every part of the guard's message: who created the client, which loop it is bound to, who used it, the fix."""
    headline, created, bound, used, fix = message.splitlines()
    file, function = scenario.created_in
    assert headline == GUARD_HEADLINE
    assert re.match(rf"  created at: {re.escape(file)}:\d+ in {re.escape(function)}[ ,]", created), created
    bound_loop = re.match(r"  bound to:   loop (0x[0-9a-f]+) since its (creation|first use, at .+)", bound)
    assert bound_loop, bound
    assert f"; that loop {scenario.bound_loop}" in bound
    used_loop = re.match(r"  used now:   loop (0x[0-9a-f]+), task '[^']+', at ", used)
    assert used_loop, used
    assert used_loop[1] != bound_loop[1]
    user = scenario.used_in or failing_test
    assert re.search(rf"{re.escape(scenario.file)}:\d+ in {user} \(thread ", used), used
    assert fix.startswith("  fix: create the client in the app's lifespan")
    assert fix.endswith("Run `python -m loopsafe_mongo` for each bad pattern and its fix.")


@pytest.mark.parametrize("backend", REAL_DRIVERS, ids=str)
@pytest.mark.parametrize("scenario", LOOP_PITFALLS, ids=lambda s: s.name)
def test_real_driver_without_guard_raises_its_own_loop_error(
    scenario: Scenario, backend: Backend, run_scenario: RunScenario
) -> None:
    run = run_scenario(scenario, Cell(backend, guard=False))

    for error in assert_failing_tests_fail(run):
        assert error.type == "builtins.RuntimeError"
        if backend is Backend.PYMONGO:
            assert error.message == PYMONGO_OTHER_LOOP
        elif scenario.bound_loop is LoopState.CLOSED:
            assert error.message == MOTOR_CLOSED_LOOP
        else:
            assert MOTOR_OTHER_LOOP.fullmatch(error.message), error.message


@pytest.mark.parametrize("backend", list(Backend), ids=str)
@pytest.mark.parametrize("scenario", LOOP_PITFALLS, ids=lambda s: s.name)
def test_guard_raises_loop_mismatch_error_on_every_backend(
    scenario: Scenario, backend: Backend, run_scenario: RunScenario
) -> None:
    run = run_scenario(scenario, Cell(backend, guard=True))

    for name, error in zip(scenario.failing, assert_failing_tests_fail(run), strict=True):
        assert error.type == "loopsafe_mongo.guard.LoopMismatchError"
        assert_guard_message(error.message, scenario, name)


@pytest.mark.parametrize("scenario", LOOP_PITFALLS, ids=lambda s: s.name)
def test_in_memory_backend_without_guard_hides_the_bug(scenario: Scenario, run_scenario: RunScenario) -> None:
    run = run_scenario(scenario, Cell(Backend.IN_MEMORY, guard=False))

    assert {name: outcome.outcome for name, outcome in run.tests.items()} == dict.fromkeys(scenario.tests, "passed")


# get_items raises before any client call, so the guard cannot matter: one run per backend, with the default guard.
@pytest.mark.parametrize("backend", list(Backend), ids=str)
def test_transport_without_lifespan_raises_lifespan_not_run_error(backend: Backend, run_scenario: RunScenario) -> None:
    run = run_scenario(runner.scenario("transport-without-lifespan"), Cell(backend, guard=True))

    for error in assert_failing_tests_fail(run):
        assert error.type == "app.deps.LifespanNotRunError"
        assert error.message.startswith("request.state has no 'items': the app's lifespan has not run for this app.")


# With the guard on, the guard checks every call before the driver does, and binds sooner (at creation):
# a pattern that passes with it passes without it. So: every backend, guard on.
@pytest.mark.parametrize("backend", list(Backend), ids=str)
@pytest.mark.parametrize("scenario", CORRECT_PATTERNS, ids=lambda s: s.name)
def test_correct_pattern_passes(scenario: Scenario, backend: Backend, run_scenario: RunScenario) -> None:
    run = run_scenario(scenario, Cell(backend, guard=True))

    assert set(run.tests) == set(scenario.tests)
    assert_pass(run, scenario.tests)


def test_harness_stops_a_test_on_another_loop_than_its_lifespan(run_scenario: RunScenario) -> None:
    # In memory and unguarded, where nothing else would notice: the harness's own check must.
    run = run_scenario(runner.scenario("harness-check"), Cell(Backend.IN_MEMORY, guard=False))

    [error] = assert_failing_tests_fail(run)
    assert error.type == "builtins.Failed"
    assert "this test runs on pytest-asyncio's function-scoped loop, the app lifespan on the session-scoped one." in (
        error.message
    )
    assert "Fix: set `asyncio_default_test_loop_scope = session`" in error.message


def test_every_scenario_file_is_catalogued() -> None:
    on_disk = {path.name for path in runner.SCENARIOS.glob("scenario_*.py")}

    assert on_disk == runner.SCENARIO_FILES


def test_docs_link_every_scenario_file() -> None:
    docs = (runner.ROOT / "docs" / "loops-and-clients.md").read_text()

    assert {file for file in runner.SCENARIO_FILES if f"../tests/pitfalls/scenarios/{file}" not in docs} == set()
