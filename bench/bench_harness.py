"""What the test harness costs: per request against the bare FastAPI floor, and per test by lifespan scope.

Two measurements, each interleaved round by round so that a machine's drift hits every side alike:

1. One request, GET /items/{id}, three ways, in memory (mongomock-motor):
   - `harness`: this app, its lifespan run by `loopsafe_mongo.run_lifespan`, through `httpx.AsyncClient`
     over `httpx.ASGITransport`, as the plugin's `client` fixture does;
   - `floor`: a minimal FastAPI app whose one route does the app's `find_one` on the same document in a
     mongomock-motor collection and returns it as stored, through the same transport: what any FastAPI +
     Mongo test pays at least;
   - `TestClient`: this app through Starlette's sync `TestClient`, which users often pick.
   Printed as microseconds per request and as ratios to the floor (issue 11's target: harness <= 1.4x).

2. One test (3 POSTs and 1 GET of a page, then the cleanup) three ways:
   - `function`: the plugin's default: the app built once, a lifespan (so a client) per test, the
     database dropped after the test;
   - `function, app per test`: what the harness did before the plugin: `create_app` for every test too,
     so FastAPI's per-app warm-up (the first request builds each route's state) lands in every test;
   - `session`: one lifespan; after each test `delete_many` on every collection.
   Printed as milliseconds per test and as ratios to `session` (target: function <= 1.2x session).

Every side shows the lowest, median and highest of its per-round medians; every ratio is the median of
the per-round ratios, with their interquartile range and a NOISY flag when that range is wider than
--noise-limit times the median. Run it from the repository root:

    .venv/bin/python -m bench.bench_harness                       # in memory
    MONGODB_URL=$(scripts/ferretdb.sh url) .venv/bin/python -m bench.bench_harness   # part 2 on a server

`--smoke` runs every path once, in a few seconds, for CI: it fails on an error, never on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from bson import ObjectId
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from loopsafe_mongo import RunningApp, run_lifespan
from mongomock_motor import AsyncMongoMockClient

from app.main import create_app
from app.settings import Settings
from bench.common import add_common_options, spread

Side = Callable[[], Awaitable[float]]


@dataclass
class Figure:
    """Per-round medians of one side, in seconds."""

    name: str
    rounds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)


def report(title: str, unit: str, scale: float, figures: list[Figure], *, noise_limit: float) -> None:
    """One line per side: its per-round medians (lowest, median, highest) and its ratio to the first side.

    The ratio is taken round by round, so that drift in the machine's speed cancels; its spread is the
    interquartile range of those per-round ratios over their median, and NOISY flags one above the limit.
    """
    base = figures[0]
    print(f"\n{title}")
    print(f"  {'':<26}{unit + ' min':>12}{'median':>10}{'max':>10}{'ratio':>9}{'IQR of ratio':>16}  note")
    for figure in figures:
        low, mid, high = (value * scale for value in (min(figure.rounds), figure.median, max(figure.rounds)))
        ratios = [own / other for own, other in zip(figure.rounds, base.rounds, strict=True)]
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else (ratios * 3)
        ratio_spread = spread(ratios)
        note = f"NOISY (spread {ratio_spread:.0%})" if ratio_spread > noise_limit else ""
        iqr, middle = f"{q1:.2f}-{q3:.2f}x", statistics.median(ratios)
        print(f"  {figure.name:<26}{low:>12.1f}{mid:>10.1f}{high:>10.1f}{middle:>8.2f}x{iqr:>16}  {note}")
    print(f"  (ratio: median of the per-round ratios to `{base.name}`; spread: their IQR / median)")


async def interleave(sides: dict[str, Side], rounds: int, per_round: int) -> list[Figure]:
    figures = {name: Figure(name) for name in sides}
    for _ in range(rounds):
        for name, side in sides.items():
            figures[name].rounds.append(statistics.median([await side() for _ in range(per_round)]))
    return list(figures.values())


def floor_app(collection: Any) -> FastAPI:
    """The least a FastAPI + Mongo test can pay for one GET: one route, the app's own find_one on the same
    document, returned as it is stored; no dependencies, no response model, no middleware of its own."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read(item_id: str) -> dict[str, Any]:
        document = await collection.find_one({"_id": ObjectId(item_id)})
        if document is None:
            raise HTTPException(404)
        return {**document, "_id": str(document["_id"])}

    return app


async def timed(client: httpx.AsyncClient, path: str) -> float:
    start = time.perf_counter()
    response = await client.get(path)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


async def request_costs(rounds: int, per_round: int) -> list[Figure]:
    settings = Settings(mongodb_url="mongomock://localhost", mongodb_db="bench")
    async with (
        run_lifespan(create_app(settings)) as running,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=running.app), base_url="http://test") as harness,
    ):
        item = (await harness.post("/items", json={"name": "lamp"})).json()["id"]
        # The floor reads the very document the app stored, with the app's client options (tz_aware).
        stored = await running.state["db"]["items"].find_one({"_id": ObjectId(item)})
        floor_collection: Any = AsyncMongoMockClient(tz_aware=True)["floor"]["items"]
        await floor_collection.insert_one(stored)
        floor_transport = httpx.ASGITransport(app=floor_app(floor_collection))
        async with httpx.AsyncClient(transport=floor_transport, base_url="http://test") as floor:
            # A TestClient runs its app on a loop of its own, in another thread: it gets an app of its own.
            with TestClient(create_app(settings)) as sync_client:
                sync_item = sync_client.post("/items", json={"name": "lamp"}).json()["id"]

                async def through_testclient() -> float:
                    start = time.perf_counter()
                    sync_client.get(f"/items/{sync_item}").raise_for_status()
                    return time.perf_counter() - start

                sides: dict[str, Side] = {
                    "floor (bare FastAPI)": lambda: timed(floor, f"/items/{item}"),
                    "harness": lambda: timed(harness, f"/items/{item}"),
                    "TestClient": through_testclient,
                }
                for side in sides.values():  # warm every route before measuring
                    await side()
                return await interleave(sides, rounds, per_round)


async def four_requests(running: RunningApp) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=running.app), base_url="http://test") as client:
        listed = await client.get("/items")
        assert listed.json()["items"] == [], "a test did not start empty: isolation is broken"
        for name in ("lamp", "desk", "chair"):
            (await client.post("/items", json={"name": name})).raise_for_status()


async def drop(running: RunningApp) -> None:
    db = running.state["db"]
    await db.client.drop_database(db.name)


async def empty(running: RunningApp) -> None:
    db = running.state["db"]
    for name in await db.list_collection_names():
        await db[name].delete_many({})


@asynccontextmanager
async def session_lifespan(settings: Settings) -> AsyncIterator[RunningApp]:
    async with run_lifespan(create_app(settings)) as running:
        yield running
        await drop(running)


async def test_costs(rounds: int, per_round: int) -> list[Figure]:
    settings = Settings(mongodb_db=f"bench_{uuid.uuid4().hex[:12]}")
    shared_app = create_app(settings)

    async def function_scope() -> float:
        start = time.perf_counter()
        async with run_lifespan(shared_app) as running:
            await four_requests(running)
            await drop(running)
        return time.perf_counter() - start

    async def app_per_test() -> float:
        start = time.perf_counter()
        async with run_lifespan(create_app(settings)) as running:
            await four_requests(running)
            await drop(running)
        return time.perf_counter() - start

    async with session_lifespan(settings) as shared:

        async def session_scope() -> float:
            start = time.perf_counter()
            await four_requests(shared)
            await empty(shared)
            return time.perf_counter() - start

        sides: dict[str, Side] = {
            "session": session_scope,
            "function (the plugin)": function_scope,
            "function, app per test": app_per_test,
        }
        return await interleave(sides, rounds, per_round)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--per-round", type=int, default=20, help="samples per side per round (default 20)")
    add_common_options(parser, noise_limit=0.15, noisy="a ratio")
    args = parser.parse_args()
    rounds, per_round = (2, 2) if args.smoke else (args.rounds, args.per_round)
    backend = Settings().redacted_url
    print(f"bench_harness: {rounds} rounds x {per_round} samples per side; part 2 on {backend}")
    requests = asyncio.run(request_costs(rounds, per_round))
    report("1. One GET /items/{id}, in memory", "us", 1e6, requests, noise_limit=args.noise_limit)
    tests = asyncio.run(test_costs(rounds, max(1, per_round // 4)))
    report("2. One test: 3 POSTs + 1 GET + cleanup", "ms", 1e3, tests, noise_limit=args.noise_limit)


if __name__ == "__main__":
    main()
