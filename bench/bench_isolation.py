"""What test isolation costs per test, for each way the harness could isolate tests, on each driver.

A "test" here is what a typical API test does: 3 POSTs and 1 GET (a page of the items) through an
`httpx.AsyncClient` over `httpx.ASGITransport`, so every strategy has real data to clean up. Each
simulated test also checks that it started from an empty collection, so a strategy that failed to
isolate would stop the run instead of producing a figure. The strategies:

- `a per-test lifespan`: what `--loopsafe-scope=function` does. `create_app` + `run_lifespan` with a fresh
  database name (new client, first handshake, index creation), then drop the collections and close
  the client.
- `b delete_many`: what `--loopsafe-scope=session` does. One lifespan for the session; after each test,
  `delete_many({})` on every collection (indexes stay).
- `c drop + indexes`: one lifespan for the session; after each test drop every collection, then
  create the indexes again (`app.repository.ensure_indexes`).
- `d db per test`: one session client (`app.database.create_client`); each test gets a new database
  name on it, with its indexes created first, and the database is dropped after the test. The app's
  lifespan runs once and its state's `db` is pointed at the test's database, which is what a fixture
  would do.

Per strategy and driver it prints the median milliseconds per test (setup + test + cleanup), the
median of the isolation overhead alone (everything but the 4 requests), the 25th-75th percentiles,
and the ratio to the cheapest strategy, all measured in the same run with the strategies interleaved
test by test. Session strategies also pay a one-time setup and teardown, printed separately. The
figures are timings of one machine at one moment: compare the ratios, not the absolute values
across machines.

A slow machine is reported, not hidden and not fatal. A test in which the database timed out or
lost its connection (a 503 from the app, or `app.database.is_unavailable` from the strategy's own
setup or cleanup, also inside an ExceptionGroup) is counted, not raised, and left out of the
timings: a strategy with any prints "timeouts: N of M", and the database is cleaned before the next
test. A strategy whose per-test times spread too widely (interquartile range over median above
`--noise-limit`) is printed with "NOISY (spread x%)": its ratio to the others is no finding.

Run it (from the repository root), on FerretDB:

    scripts/ferretdb.sh start
    MONGODB_URL=$(scripts/ferretdb.sh url) .venv/bin/python -m bench.bench_isolation

Without MONGODB_URL it runs on the in-memory backend, whose figures say nothing about a real server.
`--budget-s` bounds the measuring time per driver, `--max-rounds` the number of tests per strategy.
`--smoke` (or BENCH_SMOKE=1) runs every strategy twice per driver, in a few seconds, for CI: it fails
only on an error (isolation broken included), never on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import math
import os
import statistics
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
from loopsafe_mongo import RunningApp, run_lifespan

from app.database import Client, Database, close_client, create_client
from app.main import create_app
from app.repository import ItemRepository, ensure_indexes
from app.settings import Driver, Settings
from bench.common import DatabaseUnavailableError, add_common_options, is_timeout, retry_while_unavailable

ITEMS_PER_TEST = 3
WARMUP_TESTS = 3
NOISE_LIMIT = 0.5


class IsolationBrokenError(RuntimeError):
    """A simulated test saw data another test left behind: the strategy under test does not isolate."""


@dataclass(frozen=True)
class Timing:
    total_s: float
    body_s: float

    @property
    def overhead_s(self) -> float:
        return self.total_s - self.body_s


# Every database name this run made, so that they can all be dropped at the end: dropping collections
# (strategies a, b and c) leaves an empty database behind on FerretDB, one SQLite file each.
CREATED_DBS: list[str] = []


def fresh_db_name(tag: str) -> str:
    name = f"bench_{tag}_{uuid.uuid4().hex[:12]}"
    CREATED_DBS.append(name)
    return name


def settings_for(driver: Driver, db_name: str) -> Settings:
    """Settings from the environment, with this driver and database, as the conftest builds them."""
    return Settings(mongodb_driver=driver, mongodb_db=db_name)


async def simulated_test(running: RunningApp) -> float:
    """3 POSTs and 1 GET through the app; returns their duration. Raises if the database was not clean."""
    start = time.perf_counter()
    transport = httpx.ASGITransport(app=running.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for i in range(ITEMS_PER_TEST):
            created = await http.post("/items", json={"name": f"item-{i}", "tags": ["bench"], "quantity": i})
            if created.status_code == 503:
                raise DatabaseUnavailableError(f"POST /items answered 503: {created.text}")
            if created.status_code != 201:
                raise IsolationBrokenError(f"POST /items answered {created.status_code}: {created.text}")
        page = await http.get("/items", params={"limit": 20})
        if page.status_code == 503:
            raise DatabaseUnavailableError(f"GET /items answered 503: {page.text}")
        count = len(page.json()["items"]) if page.status_code == 200 else -1
        if count != ITEMS_PER_TEST:
            raise IsolationBrokenError(f"GET /items answered {page.status_code} with {count} items")
    return time.perf_counter() - start


async def drop_collections(db: Database) -> None:
    """The teardown of conftest's `running_app`: drop every collection of the database."""
    for name in await db.list_collection_names():
        await db.drop_collection(name)


class Strategy(ABC):
    """One isolation strategy: an optional session around many tests, and the cost of one test in it."""

    label: str

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.timings: list[Timing] = []
        self.attempts = 0
        self.timeouts = 0

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """What the strategy sets up once for all tests (nothing by default)."""
        yield

    @abstractmethod
    async def one_test(self) -> Timing:
        """Run one simulated test with this strategy's setup and cleanup; return its timing."""

    @abstractmethod
    async def recover(self) -> None:
        """After a test that timed out: leave the database as the next test expects it."""


class PerTestLifespan(Strategy):
    label = "a per-test lifespan"

    async def one_test(self) -> Timing:
        start = time.perf_counter()
        app = create_app(settings_for(self.driver, fresh_db_name("a")))
        async with run_lifespan(app) as running:
            body = await simulated_test(running)
            await drop_collections(running.state["db"])
        return Timing(time.perf_counter() - start, body)

    async def recover(self) -> None:
        """Nothing to undo: every test has a database of its own, dropped at the end of the run."""


class SessionStrategy(Strategy):
    """The strategies that share one app lifespan (and so one client) across tests."""

    running: RunningApp
    db: Database

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        app = create_app(settings_for(self.driver, fresh_db_name(self.label[0])))
        async with run_lifespan(app) as running:
            self.running = running
            self.db = running.state["db"]
            try:
                yield
            finally:
                await retry_while_unavailable(functools.partial(drop_collections, self.db))

    async def recover(self) -> None:
        """Empty the shared database and make sure its indexes exist, whatever step the test stopped at."""

        async def clean() -> None:
            for name in await self.db.list_collection_names():
                await self.db[name].delete_many({})
            await ensure_indexes(self.db)

        await retry_while_unavailable(clean)


class SessionDeleteMany(SessionStrategy):
    label = "b delete_many"

    async def one_test(self) -> Timing:
        start = time.perf_counter()
        body = await simulated_test(self.running)
        for name in await self.db.list_collection_names():
            await self.db[name].delete_many({})
        return Timing(time.perf_counter() - start, body)


class SessionDropRecreate(SessionStrategy):
    label = "c drop + indexes"

    async def one_test(self) -> Timing:
        start = time.perf_counter()
        body = await simulated_test(self.running)
        await drop_collections(self.db)
        await ensure_indexes(self.db)
        return Timing(time.perf_counter() - start, body)


class SessionClientDbPerTest(SessionStrategy):
    label = "d db per test"

    client: Client
    in_memory: bool

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        async with super().session():
            settings: Settings = self.running.state["settings"]
            self.in_memory = settings.in_memory
            self.client = create_client(settings)
            try:
                yield
            finally:
                await close_client(self.client)

    async def one_test(self) -> Timing:
        start = time.perf_counter()
        db = self.client[fresh_db_name("d")]
        await ensure_indexes(db)
        # The app's requests now use this test's database, through a repository over it.
        self.running.state["db"] = db
        self.running.state["items"] = ItemRepository(db, deadline_s=self.running.state["items"].deadline_s)
        body = await simulated_test(self.running)
        if self.in_memory:
            await drop_collections(db)  # mongomock has no dropDatabase command
        else:
            await db.command("dropDatabase")
        return Timing(time.perf_counter() - start, body)


STRATEGIES: tuple[type[Strategy], ...] = (
    PerTestLifespan,
    SessionDeleteMany,
    SessionDropRecreate,
    SessionClientDbPerTest,
)


@dataclass
class DriverResult:
    driver: Driver
    strategies: list[Strategy]
    setup_s: dict[str, float] = field(default_factory=dict)
    teardown_s: dict[str, float] = field(default_factory=dict)
    rounds: int = 0


async def measure_driver(
    driver: Driver, *, budget_s: float, min_rounds: int, max_rounds: int, warmup_tests: int = WARMUP_TESTS
) -> DriverResult:
    strategies = [cls(driver) for cls in STRATEGIES]
    result = DriverResult(driver, strategies)
    async with AsyncExitStack() as stack:
        for strategy in strategies:
            # The stack unwinds last-in first-out: the "start" mark runs just before this session's exit
            # and the "end" mark just after it, which times each teardown on its own.
            stack.callback(mark_teardown, result, strategy.label, "end")
            start = time.perf_counter()
            await stack.enter_async_context(strategy.session())
            result.setup_s[strategy.label] = time.perf_counter() - start
            stack.callback(mark_teardown, result, strategy.label, "start")
        for _ in range(warmup_tests):
            for strategy in strategies:
                await attempt(strategy, measured=False)
        deadline = time.perf_counter() + budget_s
        while result.rounds < max_rounds and (result.rounds < min_rounds or time.perf_counter() < deadline):
            # Interleave test by test, rotating who goes first, so that drift hits every strategy alike.
            shift = result.rounds % len(strategies)
            for strategy in strategies[shift:] + strategies[:shift]:
                await attempt(strategy, measured=True)
            result.rounds += 1
    return result


async def attempt(strategy: Strategy, *, measured: bool) -> None:
    """One test: its timing, or, if the database timed out, one more timeout and a clean database."""
    try:
        timing = await strategy.one_test()
    except Exception as exc:
        if not is_timeout(exc):
            raise
        await strategy.recover()
        if measured:
            strategy.attempts += 1
            strategy.timeouts += 1
        return
    if measured:
        strategy.attempts += 1
        strategy.timings.append(timing)


async def drop_created_databases(settings: Settings) -> None:
    """Leave nothing behind on a real server (not timed): drop every database this run named."""
    if settings.in_memory:
        return
    client = create_client(settings)
    try:
        for name in CREATED_DBS:
            await retry_while_unavailable(functools.partial(client[name].command, "dropDatabase"))
    finally:
        await close_client(client)
    CREATED_DBS.clear()


def mark_teardown(result: DriverResult, label: str, point: str) -> None:
    now = time.perf_counter()
    if point == "start":
        result.teardown_s[label] = now
    else:
        result.teardown_s[label] = now - result.teardown_s[label]


def quantiles_ms(values: list[float]) -> tuple[float, float, float]:
    """25th, 50th and 75th percentiles, in milliseconds (all three the one value when there is one)."""
    if len(values) < 2:
        return values[0] * 1e3, values[0] * 1e3, values[0] * 1e3
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1 * 1e3, median * 1e3, q3 * 1e3


def report(result: DriverResult, noise_limit: float) -> None:
    measured = [s for s in result.strategies if s.timings]
    medians = {s.label: statistics.median(t.total_s for t in s.timings) for s in measured}
    cheapest = min(medians, key=medians.__getitem__) if medians else None
    print(f"\ndriver={result.driver.value}: {result.rounds} tests per strategy, interleaved")
    print(
        f"  {'strategy':<20} {'ms/test':>8} {'p25-p75':>15} {'spread':>7} {'x cheapest':>10} {'+ms':>7}"
        f" {'requests ms':>11} {'setup+cleanup ms':>16}  notes"
    )
    for strategy in result.strategies:
        notes = []
        if strategy.timeouts:
            notes.append(f"timeouts: {strategy.timeouts} of {strategy.attempts}")
        if not strategy.timings or cheapest is None:
            print(f"  {strategy.label:<20} {'-':>8}  no test finished without a timeout; " + "; ".join(notes))
            continue
        q1, median, q3 = quantiles_ms([t.total_s for t in strategy.timings])
        spread = (q3 - q1) / median if median else math.inf
        if spread > noise_limit:
            notes.insert(0, f"NOISY (spread {spread:.0%})")
        body = statistics.median(t.body_s for t in strategy.timings) * 1e3
        overhead = statistics.median(t.overhead_s for t in strategy.timings) * 1e3
        print(
            f"  {strategy.label:<20} {median:8.2f} {f'{q1:.2f}-{q3:.2f}':>15} {spread:7.0%}"
            f" {medians[strategy.label] / medians[cheapest]:10.2f}"
            f" {(medians[strategy.label] - medians[cheapest]) * 1e3:7.2f} {body:11.2f} {overhead:16.2f}"
            f"  {'; '.join(notes)}"
        )
    if cheapest is not None:
        print(f"  cheapest: {cheapest}")
    once = ", ".join(
        f"{s.label[0]}={result.setup_s[s.label] * 1e3:.1f}+{result.teardown_s[s.label] * 1e3:.1f}"
        for s in result.strategies
        if isinstance(s, SessionStrategy)
    )
    print(f"  one-time session setup+teardown ms (not in ms/test): {once}")
    noisy = [s.label for s in measured if spread_of(s) > noise_limit]
    if noisy:
        print(
            f"  NOISY: {', '.join(noisy)}: per-test times spread more than {noise_limit:.0%} (--noise-limit);"
            " ratios involving them are no finding."
        )
    timed_out = sum(s.timeouts for s in result.strategies)
    if timed_out:
        print(
            f"  TIMEOUTS: {timed_out} of {sum(s.attempts for s in result.strategies)} tests timed out or lost"
            " the connection, and are not in the figures: the server (or this machine) was overloaded."
        )


def spread_of(strategy: Strategy) -> float:
    q1, median, q3 = quantiles_ms([t.total_s for t in strategy.timings])
    return (q3 - q1) / median if median else math.inf


def explain() -> None:
    print(
        "\ncolumns: ms/test = median of one whole test (setup + 4 requests + cleanup); p25-p75 = its"
        " quartiles;\n  x cheapest / +ms = its median against the cheapest strategy's median; requests ms ="
        " median of the 4\n  requests alone (a fresh app also pays FastAPI's lazy per-route setup on its first"
        " requests there);\n  setup+cleanup ms = median of the rest."
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget-s", type=float, default=12.0, help="measuring time per driver (default 12)")
    parser.add_argument("--min-rounds", type=int, default=10, help="tests per strategy at least (default 10)")
    parser.add_argument("--max-rounds", type=int, default=150, help="tests per strategy at most (default 150)")
    add_common_options(parser, noise_limit=NOISE_LIMIT, noisy="a strategy's per-test times")
    args = parser.parse_args()
    warmup_tests = WARMUP_TESTS
    if args.smoke:
        args.budget_s, args.min_rounds, args.max_rounds, warmup_tests = 0.0, 2, 2, 1

    settings = Settings()
    print("bench_isolation: cost per test of each isolation strategy (3 POSTs + 1 GET per test)")
    print(f"backend: {settings.redacted_url}; loop guard {'on' if settings.loop_guard else 'off'}")
    if settings.in_memory:
        print(
            "NOTE: in-memory backend (mongomock). These figures say nothing about a real server;"
            " set MONGODB_URL=mongodb://host:port/ to measure one."
        )
    if os.environ.get("MONGODB_DRIVER"):
        print("NOTE: MONGODB_DRIVER is ignored here: both drivers are measured.")
    if args.smoke:
        print("SMOKE RUN: every strategy twice; the figures below are not measurements.")
    started = time.perf_counter()
    for driver in Driver:
        try:
            result = await measure_driver(
                driver,
                budget_s=args.budget_s,
                min_rounds=args.min_rounds,
                max_rounds=args.max_rounds,
                warmup_tests=warmup_tests,
            )
        finally:
            await drop_created_databases(settings)
        report(result, args.noise_limit)
    explain()
    print(f"\ntotal run time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
