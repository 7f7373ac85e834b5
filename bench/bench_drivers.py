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

Run it (from the repository root):

    MONGODB_URL=mongodb://127.0.0.1:27018/ .venv/bin/python -m bench.bench_drivers

Without MONGODB_URL it runs on the in-memory backend, where both "drivers" are mongomock and the
comparison means nothing. `--budget-s` bounds the measuring time, `--slice-s` the length of one
measurement. Motor runs each operation on a thread pool of 5 x CPU threads (MOTOR_MAX_WORKERS).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import anyio

from app.database import Database
from app.main import create_app
from app.models import ItemCreate
from app.repository import COLLECTION, ItemRepository, encode_cursor
from app.settings import Driver, Settings
from tests.support.lifespan import run_lifespan

OPERATIONS = ("get", "page", "create")
CONCURRENCY = (1, 32)
PAGE_SIZE = 20
SEED_ITEMS = 400
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
            await self.db[COLLECTION].delete_many({"tags": NEW_TAG})
        return sample


async def seed(target: Target) -> None:
    """SEED_ITEMS items, created by 16 concurrent tasks; then the ids in creation order, and the cursors."""
    numbers = iter(range(SEED_ITEMS))

    async def worker() -> None:
        for k in numbers:
            item = await target.repo.create(ItemCreate(name=f"seed-{k}", tags=["bench"], quantity=k))
            target.ids.append(item.id)

    async with anyio.create_task_group() as group:
        for _ in range(16):
            group.start_soon(worker)
    target.ids.sort()  # ObjectIds sort by creation time, as pages do
    # Every seeded item but the last PAGE_SIZE ones, so that each page after it is full.
    target.cursors = [encode_cursor(item_id) for item_id in target.ids[:-PAGE_SIZE]]


@dataclass(frozen=True)
class Sample:
    ops_per_s: float
    # CPU time of this whole process (event loop and Motor's threads) per operation: the client's own
    # cost, which the server's speed hides from ops/s when the server is the bottleneck.
    cpu_us_per_op: float


async def throughput(op: Operation, concurrency: int, duration_s: float) -> Sample:
    """Ops/s of `concurrency` tasks each running `op` back to back until the deadline, and CPU per op."""
    counter = itertools.count()
    done = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    deadline = start + duration_s

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await op(next(counter))
            done += 1

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    elapsed = time.perf_counter() - start
    return Sample(done / elapsed, (time.process_time() - cpu_start) / done * 1e6)


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


def report(results: dict[Key, dict[Driver, list[Sample]]], rounds: int) -> None:
    print(f"\n{rounds} rounds; every figure is a median over the rounds")
    print(
        f"  {'operation':<9} {'tasks':>5} {'motor ops/s':>12} {'pymongo ops/s':>14} {'pymongo/motor':>14}"
        f" {'range':>10} {'CPU us/op motor':>16} {'pymongo':>8} {'ratio':>6}"
    )
    for (name, concurrency), per_driver in results.items():
        motor, pymongo = per_driver[Driver.MOTOR], per_driver[Driver.PYMONGO]
        ratios = [p.ops_per_s / m.ops_per_s for p, m in zip(pymongo, motor, strict=True)]
        cpu_ratios = [p.cpu_us_per_op / m.cpu_us_per_op for p, m in zip(pymongo, motor, strict=True)]
        motor_cpu = statistics.median(m.cpu_us_per_op for m in motor)
        pymongo_cpu = statistics.median(p.cpu_us_per_op for p in pymongo)
        print(
            f"  {name:<9} {concurrency:>5} {statistics.median(m.ops_per_s for m in motor):12.0f}"
            f" {statistics.median(p.ops_per_s for p in pymongo):14.0f} {statistics.median(ratios):14.2f}"
            f" {f'{min(ratios):.2f}-{max(ratios):.2f}':>10} {motor_cpu:16.0f} {pymongo_cpu:8.0f}"
            f" {statistics.median(cpu_ratios):6.2f}"
        )
    print(
        "\npymongo/motor: the median over rounds of the two drivers' ops/s in the same round; > 1 means PyMongo"
        " async\n  did more operations per second. range: the lowest and highest round's ratio. CPU us/op: CPU"
        " time of this\n  process (event loop and Motor's threads) per operation, the client's own cost; ratio ="
        " pymongo/motor, < 1\n  means PyMongo async spent less CPU per operation."
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget-s", type=float, default=35.0, help="measuring time (default 35)")
    parser.add_argument("--slice-s", type=float, default=0.25, help="one measurement, seconds (default 0.25)")
    parser.add_argument("--min-rounds", type=int, default=3, help="rounds at least (default 3)")
    parser.add_argument("--max-rounds", type=int, default=30, help="rounds at most (default 30)")
    args = parser.parse_args()

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
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        targets: list[Target] = []
        for driver in Driver:
            app = create_app(Settings(mongodb_driver=driver, mongodb_db=f"bench_drivers_{uuid.uuid4().hex[:12]}"))
            running = await stack.enter_async_context(run_lifespan(app))
            db: Database = running.state["db"]
            if not settings.in_memory:
                stack.push_async_callback(db.command, "dropDatabase")
            target = Target(driver, db, ItemRepository(db))
            await seed(target)
            targets.append(target)
        results, rounds = await measure(
            targets,
            slice_s=args.slice_s,
            budget_s=args.budget_s,
            min_rounds=args.min_rounds,
            max_rounds=args.max_rounds,
        )
    report(results, rounds)
    print(f"\ntotal run time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
