"""What the loop guard costs per operation: guarded vs unguarded in-memory queries, and the bare proxy on its own.

Run with `.venv/bin/python -m bench.bench_loop_guard [iterations] [repeats]`; both sides are measured in one run,
back to back per repeat, and a ratio whose spread over the repeats is above --noise-limit is flagged NOISY.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loopsafe_mongo.guard import guard

from app.database import close_client, create_client
from app.settings import IN_MEMORY_URL, Settings
from bench.common import add_common_options, spread

NOISE_LIMIT = 0.15

Operation = Callable[[Any], Awaitable[object]]


async def _find_one(collection: Any) -> object:
    # As the app does it: one query on the collection handle its repository holds.
    result: object = await collection.find_one({"name": "seed"})
    return result


async def _insert_one(collection: Any) -> object:
    result: object = await collection.insert_one({"name": "another"})
    return result


class _Target:
    """A do-nothing stand-in for a driver object: what is left to measure is the proxy itself."""

    def __getitem__(self, name: str) -> _Target:
        return self

    async def noop(self) -> None:
        return None


async def _await_noop(target: Any) -> object:
    result: object = await target.noop()
    return result


async def _getitem(target: Any) -> object:
    item: object = target["items"]
    return item


OPERATIONS: dict[str, tuple[Operation, bool]] = {
    # name: (operation, whether it runs on an in-memory collection rather than on a bare _Target)
    "find_one, in memory": (_find_one, True),
    "insert_one, in memory": (_insert_one, True),
    "proxy only: await target.noop()": (_await_noop, False),
    "proxy only: target['items']": (_getitem, False),
}


@dataclass(frozen=True)
class Row:
    operation: str
    unguarded_s: float  # per operation, best of the repeats
    guarded_s: float
    ratios: list[float]  # guarded / unguarded, one per repeat (the two sides measured back to back)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def overhead_s(self) -> float:
        return self.guarded_s - self.unguarded_s


async def _time_per_op(operation: Operation, target: object, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        await operation(target)
    return (time.perf_counter() - start) / iterations


async def _measure(iterations: int, repeats: int) -> list[Row]:
    unguarded = create_client(Settings(mongodb_url=IN_MEMORY_URL, loop_guard=False))
    guarded = create_client(Settings(mongodb_url=IN_MEMORY_URL, loop_guard=True))
    bare_target = _Target()
    collections = (unguarded["bench"]["items"], guarded["bench"]["items"])
    sides = {False: (bare_target, guard(bare_target, prefixes=(__name__,))), True: collections}
    try:
        for collection in collections:
            await collection.insert_one({"name": "seed"})
        rows = []
        for name, (operation, in_memory) in OPERATIONS.items():
            plain, proxied = sides[in_memory]
            await _time_per_op(operation, plain, iterations // 10 or 1)  # warm up both sides alike
            await _time_per_op(operation, proxied, iterations // 10 or 1)
            # Alternate the two sides so that drift in machine load hits both equally.
            timings = [
                (await _time_per_op(operation, plain, iterations), await _time_per_op(operation, proxied, iterations))
                for _ in range(repeats)
            ]
            ratios = [proxied_s / plain_s for plain_s, proxied_s in timings]
            rows.append(Row(name, min(t[0] for t in timings), min(t[1] for t in timings), ratios))
        return rows
    finally:
        await close_client(unguarded)
        await close_client(guarded)


def measure(iterations: int = 2_000, repeats: int = 5) -> list[Row]:
    """Time every operation with and without the guard, in this process, on one loop."""
    return asyncio.run(_measure(iterations, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("iterations", type=int, nargs="?", default=2_000, help="per measurement (default 2000)")
    parser.add_argument("repeats", type=int, nargs="?", default=5, help="pairs of measurements (default 5)")
    add_common_options(parser, noise_limit=NOISE_LIMIT, noisy="a ratio")
    args = parser.parse_args()
    iterations, repeats = (20, 1) if args.smoke else (args.iterations, args.repeats)
    rows = measure(iterations, repeats)
    print(f"Loop guard cost per operation: best of {repeats} x {iterations} iterations, one process,")
    print(f"Python {platform.python_version()} on {platform.machine()}.")
    print()
    print(f"{'operation':<34}{'unguarded':>12}{'guarded':>12}{'overhead':>12}{'ratio':>9}{'spread':>8}  note")
    for row in rows:
        ratio_spread = spread(row.ratios)
        note = f"NOISY (spread {ratio_spread:.0%})" if ratio_spread > args.noise_limit else ""
        print(
            f"{row.operation:<34}{row.unguarded_s * 1e6:>9.2f} µs{row.guarded_s * 1e6:>9.2f} µs"
            f"{row.overhead_s * 1e6:>+9.2f} µs{row.ratio:>8.2f}x{ratio_spread:>8.0%}  {note}"
        )
    print("\ntimes: the best of the repeats; ratio: the median of the per-repeat ratios; spread: their IQR / median")


if __name__ == "__main__":
    main()
