"""Motor against PyMongo's async client, for the service's own operations, on one server.

Each driver runs in the app's own lifespan (`create_app` + `run_lifespan`, so the client is built
exactly as in production, loop guard included) and is driven through the data-access layer,
`app.repository.ItemRepository`, over the lifespan's `db`. The operations:

- `get`: `ItemRepository.get` of an existing item by id;
- `page`: `ItemRepository.page(limit=20, cursor=...)`, a full page of 20 after a cursor;
- `create`: `ItemRepository.create` of a new item (unique name, so the unique index is checked);
  the items it added are deleted after each measurement, untimed, so that every measurement
  sees the same 400 seeded items (on FerretDB 1.x a sorted page scans the whole collection).

Each runs at 1 task and at 32 concurrent tasks (an anyio task group); every task loops until the
slice's deadline. Both drivers are open side by side, warmed up (32 concurrent tasks fill the
pools), then measured in rounds: each round runs every operation and concurrency once per driver,
the two drivers back to back in an order that alternates from round to round, so that drift hits
both alike. It prints the median ops/s over the rounds per driver, and the pymongo/motor ratio: the
median over rounds of the two drivers' figures in that round (with the lowest and highest round).
The figures are of one machine at one moment: compare the ratios, not absolute values across machines.

A slow machine is reported, not hidden and not fatal. An operation that times out or loses its
connection (`app.database.is_unavailable`: `timeoutMS` is MONGODB_TIMEOUT_MS) is counted, not raised:
a cell with any prints "timeouts: N of M" per driver, and its ops/s count only the operations that
succeeded. A ratio whose spread over the rounds (interquartile range / median) is above
`--noise-limit` is printed with "NOISY (spread x%)": it is no finding, whatever its value.

Run it (from the repository root), on FerretDB:

    scripts/ferretdb.sh start
    MONGODB_URL=$(scripts/ferretdb.sh url) .venv/bin/python -m bench.bench_drivers

Without MONGODB_URL it runs on the in-memory backend, where both "drivers" are mongomock and the
comparison means nothing. `--budget-s` bounds the measuring time, `--slice-s` the length of one
measurement. Motor runs each operation on a thread pool of 5 x CPU threads (MOTOR_MAX_WORKERS).
`--smoke` (or BENCH_SMOKE=1) runs every code path once, in a few seconds, for CI: it fails only on an
error, never on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import math
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import anyio
from loopsafe_mongo import run_lifespan
from pymongo.errors import PyMongoError

from app.database import Database, is_unavailable
from app.main import create_app
from app.models import ItemCreate
from app.repository import COLLECTION, DuplicateNameError, ItemRepository, encode_cursor
from app.settings import Driver, Settings
from bench.common import add_common_options, finite_median, ratio, retry_while_unavailable, spread

OPERATIONS = ("get", "page", "create")
CONCURRENCY = (1, 32)
PAGE_SIZE = 20
SEED_ITEMS = 400
SMOKE_SEED_ITEMS = 2 * PAGE_SIZE
NOISE_LIMIT = 0.20
NEW_TAG = "created-by-bench"  # marks the items `create` adds, to delete them after each slice

Operation = Callable[[int], Awaitable[object]]


@dataclass
class Target:
    """One driver's running app, and its operations bound to its repository."""

    driver: Driver
    db: Database
    repo: ItemRepository
    ids: list[str] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)
    created: itertools.count[int] = field(default_factory=itertools.count)
    seed_items: int = SEED_ITEMS

    def operation(self, name: str) -> Operation:
        run_id = uuid.uuid4().hex[:8]

        async def get(k: int) -> object:
            # A stride that is prime to the count spreads the reads over the whole collection.
            return await self.repo.get(self.ids[k * 7919 % len(self.ids)])

        async def page(k: int) -> object:
            items, _ = await self.repo.page(limit=PAGE_SIZE, cursor=self.cursors[k * 7919 % len(self.cursors)])
            if len(items) != PAGE_SIZE:
                raise RuntimeError(f"a page after a seeded cursor had {len(items)} items, not {PAGE_SIZE}")
            return items

        async def create(_: int) -> object:
            data = ItemCreate(name=f"{run_id}-{next(self.created)}", tags=["bench", NEW_TAG], quantity=1)
            return await self.repo.create(data)

        operations: dict[str, Operation] = {"get": get, "page": page, "create": create}
        return operations[name]

    async def measure(self, name: str, concurrency: int, duration_s: float) -> Sample:
        """One slice of one operation; then (untimed) delete what `create` added, so the data stays the same."""
        sample = await throughput(self.operation(name), concurrency, duration_s)
        if name == "create":
            # Pages cost more as the collection grows (FerretDB 1.x scans it for a sorted find).
            await retry_while_unavailable(lambda: self.db[COLLECTION].delete_many({"tags": NEW_TAG}))
        return sample


async def seed(target: Target) -> None:
    """`seed_items` items, created by 16 concurrent tasks; then the ids in creation order, and the cursors."""
    numbers = iter(range(target.seed_items))

    async def create(data: ItemCreate) -> None:
        # A duplicate means that an earlier attempt which timed out had gone through after all.
        with contextlib.suppress(DuplicateNameError):
            await target.repo.create(data)

    async def worker() -> None:
        for k in numbers:
            data = ItemCreate(name=f"seed-{k}", tags=["bench"], quantity=k)
            await retry_while_unavailable(functools.partial(create, data))

    async with anyio.create_task_group() as group:
        for _ in range(16):
            group.start_soon(worker)
    # Read back rather than collected from the creates: a create that timed out may still have happened.
    docs = await target.db[COLLECTION].find({}, sort=[("_id", 1)], limit=target.seed_items).to_list(None)
    target.ids = [str(doc["_id"]) for doc in docs]  # ObjectIds sort by creation time, as pages do
    if len(target.ids) != target.seed_items:
        raise RuntimeError(f"seeded {len(target.ids)} items, not {target.seed_items}")
    # Every seeded item but the last PAGE_SIZE ones, so that each page after it is full.
    target.cursors = [encode_cursor(item_id) for item_id in target.ids[:-PAGE_SIZE]]


@dataclass(frozen=True)
class Sample:
    ops_per_s: float  # operations that succeeded, per second
    # CPU time of this whole process (event loop and Motor's threads) per operation: the client's own
    # cost, which the server's speed hides from ops/s when the server is the bottleneck. NaN when no
    # operation succeeded.
    cpu_us_per_op: float
    attempts: int = 0
    timeouts: int = 0


async def throughput(op: Operation, concurrency: int, duration_s: float) -> Sample:
    """Ops/s of `concurrency` tasks each running `op` back to back until the deadline, and CPU per op."""
    counter = itertools.count()
    done = timeouts = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    deadline = start + duration_s

    async def worker() -> None:
        nonlocal done, timeouts
        while time.perf_counter() < deadline:
            # Caught here, in the task: raised, one timeout would cancel the other tasks and end the
            # whole run in an ExceptionGroup, and a slow machine is a result to report, not an error.
            try:
                await op(next(counter))
            except PyMongoError as exc:
                if not is_unavailable(exc):
                    raise
                timeouts += 1
            else:
                done += 1

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    elapsed = time.perf_counter() - start
    cpu_us_per_op = (time.process_time() - cpu_start) / done * 1e6 if done else math.nan
    return Sample(done / elapsed, cpu_us_per_op, done + timeouts, timeouts)


Key = tuple[str, int]


async def measure(
    targets: list[Target], *, slice_s: float, budget_s: float, min_rounds: int, max_rounds: int
) -> tuple[dict[Key, dict[Driver, list[Sample]]], int]:
    results: dict[Key, dict[Driver, list[Sample]]] = {
        (name, c): {t.driver: [] for t in targets} for name in OPERATIONS for c in CONCURRENCY
    }
    for target in targets:  # warm-up: connections, pools, caches, the first-call paths
        for name, concurrency in results:
            await target.measure(name, concurrency, slice_s / 2)
    rounds = 0
    deadline = time.perf_counter() + budget_s
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() < deadline):
        order = targets if rounds % 2 == 0 else targets[::-1]
        for (name, concurrency), per_driver in results.items():
            for target in order:
                per_driver[target.driver].append(await target.measure(name, concurrency, slice_s))
        rounds += 1
    return results, rounds


def report(results: dict[Key, dict[Driver, list[Sample]]], rounds: int, noise_limit: float) -> None:
    print(f"\n{rounds} rounds; every figure is a median over the rounds")
    print(
        f"  {'operation':<9} {'tasks':>5} {'motor ops/s':>12} {'pymongo ops/s':>14} {'pymongo/motor':>14}"
        f" {'range':>10} {'spread':>7} {'CPU us/op motor':>16} {'pymongo':>8} {'ratio':>6}  notes"
    )
    noisy = timed_out = 0
    for (name, concurrency), per_driver in results.items():
        motor, pymongo = per_driver[Driver.MOTOR], per_driver[Driver.PYMONGO]
        ratios = [ratio(p.ops_per_s, m.ops_per_s) for p, m in zip(pymongo, motor, strict=True)]
        cpu_ratios = [ratio(p.cpu_us_per_op, m.cpu_us_per_op) for p, m in zip(pymongo, motor, strict=True)]
        finite = [r for r in ratios if math.isfinite(r)]
        low_high = f"{min(finite):.2f}-{max(finite):.2f}" if finite else "-"
        notes = []
        ratio_spread, cpu_spread = spread(ratios), spread(cpu_ratios)
        if max(ratio_spread, cpu_spread) > noise_limit:
            noisy += 1
            notes.append(f"NOISY (spread {ratio_spread:.0%} ops/s, {cpu_spread:.0%} CPU)")
        timeouts = {driver: sum(s.timeouts for s in samples) for driver, samples in per_driver.items()}
        if any(timeouts.values()):
            timed_out += 1
            notes.append(
                "timeouts: "
                + ", ".join(
                    f"{driver.value} {timeouts[driver]} of {sum(s.attempts for s in samples)}"
                    for driver, samples in per_driver.items()
                )
            )
        if len(finite) < len(ratios):
            notes.append(f"{len(ratios) - len(finite)} round(s) with no successful operation")
        print(
            f"  {name:<9} {concurrency:>5} {statistics.median(m.ops_per_s for m in motor):12.0f}"
            f" {statistics.median(p.ops_per_s for p in pymongo):14.0f} {finite_median(ratios):14.2f}"
            f" {low_high:>10} {ratio_spread:7.0%} {finite_median([m.cpu_us_per_op for m in motor]):16.0f}"
            f" {finite_median([p.cpu_us_per_op for p in pymongo]):8.0f} {finite_median(cpu_ratios):6.2f}"
            f"  {'; '.join(notes)}"
        )
    print(
        "\npymongo/motor: the median over rounds of the two drivers' ops/s in the same round; > 1 means PyMongo"
        " async\n  did more operations per second. range: the lowest and highest round's ratio. spread: the"
        " ratio's\n  interquartile range over its median. CPU us/op: CPU time of this process (event loop and"
        " Motor's\n  threads) per operation, the client's own cost; ratio = pymongo/motor, < 1 means PyMongo"
        " async spent\n  less CPU per operation."
    )
    if noisy:
        print(
            f"NOISY: {noisy} of {len(results)} cells spread more than {noise_limit:.0%} (--noise-limit) over the"
            " rounds; their ratios are no finding. Run on a quieter machine or with more rounds (--budget-s)."
        )
    if timed_out:
        print(
            f"TIMEOUTS: {timed_out} of {len(results)} cells had operations that timed out or lost their"
            " connection; their ops/s count only the ones that succeeded. The server (or this machine) was"
            " overloaded: raise MONGODB_TIMEOUT_MS or lower the load to measure the drivers."
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget-s", type=float, default=35.0, help="measuring time (default 35)")
    parser.add_argument("--slice-s", type=float, default=0.25, help="one measurement, seconds (default 0.25)")
    parser.add_argument("--min-rounds", type=int, default=3, help="rounds at least (default 3)")
    parser.add_argument("--max-rounds", type=int, default=30, help="rounds at most (default 30)")
    add_common_options(parser, noise_limit=NOISE_LIMIT, noisy="a ratio")
    args = parser.parse_args()
    seed_items = SEED_ITEMS
    if args.smoke:
        args.slice_s, args.budget_s, args.min_rounds, args.max_rounds = 0.05, 0.0, 2, 2
        seed_items = SMOKE_SEED_ITEMS

    settings = Settings()
    print("bench_drivers: Motor vs PyMongo async through ItemRepository (get, page of 20, create)")
    print(
        f"backend: {settings.redacted_url}; loop guard {'on' if settings.loop_guard else 'off'};"
        f" {os.cpu_count()} CPUs; tasks {' and '.join(map(str, CONCURRENCY))}"
    )
    if settings.in_memory:
        print(
            "NOTE: in-memory backend (mongomock): both drivers are the same mongomock code, so these figures"
            " compare nothing real; set MONGODB_URL=mongodb://host:port/ to measure a server."
        )
    if os.environ.get("MONGODB_DRIVER"):
        print("NOTE: MONGODB_DRIVER is ignored here: both drivers are measured.")
    if args.smoke:
        print("SMOKE RUN: every path once, with tiny slices; the figures below are not measurements.")
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        targets: list[Target] = []
        for driver in Driver:
            app = create_app(Settings(mongodb_driver=driver, mongodb_db=f"bench_drivers_{uuid.uuid4().hex[:12]}"))
            running = await stack.enter_async_context(run_lifespan(app))
            db: Database = running.state["db"]
            if not settings.in_memory:
                stack.push_async_callback(retry_while_unavailable, functools.partial(db.command, "dropDatabase"))
            target = Target(driver, db, ItemRepository(db), seed_items=seed_items)
            await seed(target)
            targets.append(target)
        results, rounds = await measure(
            targets,
            slice_s=args.slice_s,
            budget_s=args.budget_s,
            min_rounds=args.min_rounds,
            max_rounds=args.max_rounds,
        )
    report(results, rounds, args.noise_limit)
    print(f"\ntotal run time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
