"""What the test harness costs: per request against the bare FastAPI floor, and per test by lifespan scope.

Two measurements, each interleaved round by round so that a machine's drift hits every side alike:

1. One request, GET /items/{id}, three ways, in memory (mongomock-motor):
   - `harness`: this app, its lifespan run by `loopsafe_mongo.run_lifespan`, through `httpx.AsyncClient`
     over `httpx.ASGITransport`, as the plugin's `client` fixture does;
   - `floor`: a minimal FastAPI app whose one route does the same `find_one` on a mongomock-motor
     collection, through the same transport: what any FastAPI + Mongo test pays at least;
   - `TestClient`: this app through Starlette's sync `TestClient`, which users often pick.
   Printed as microseconds per request and as ratios to the floor (issue 11's target: harness <= 1.4x).

2. One test (3 POSTs and 1 GET of a page, then the cleanup) three ways:
   - `function`: the plugin's default: the app built once, a lifespan (so a client) per test, the
     database dropped after the test;
   - `function, app per test`: what the harness did before the plugin: `create_app` for every test too,
     so FastAPI's per-app warm-up (the first request builds each route's state) lands in every test;
   - `session`: one lifespan; after each test `delete_many` on every collection.
   Printed as milliseconds per test and as ratios to `session` (target: function <= 1.2x session).

Every figure comes with its spread (min, median, max of the per-round medians) and a NOISY flag when the
spread is wider than --noise-limit. Run it from the repository root:

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

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from loopsafe_mongo import RunningApp, run_lifespan
from mongomock_motor import AsyncMongoMockClient

from app.main import create_app
from app.settings import Settings

Side = Callable[[], Awaitable[float]]


@dataclass
class Figure:
    """Per-round medians of one side, in seconds."""

    name: str
    rounds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    def spread(self) -> float:
        return (max(self.rounds) - min(self.rounds)) / self.median if len(self.rounds) > 1 else 0.0


def report(title: str, unit: str, scale: float, figures: list[Figure], *, noise_limit: float) -> None:
    base = figures[0]
    print(f"\n{title}")
    print(f"  {'':<26}{unit + ' min':>12}{'median':>10}{'max':>10}{'ratio':>9}  note")
    for figure in figures:
        low, mid, high = (value * scale for value in (min(figure.rounds), figure.median, max(figure.rounds)))
        ratios = [own / other for own, other in zip(figure.rounds, base.rounds, strict=True)]
        spread = figure.spread()
        note = f"NOISY (spread {spread:.0%})" if spread > noise_limit else ""
        ratio = f"{statistics.median(ratios):.2f}x"
        print(f"  {figure.name:<26}{low:>12.1f}{mid:>10.1f}{high:>10.1f}{ratio:>9}  {note}")
    print(f"  (ratios: median of the per-round ratios to `{base.name}`)")


async def interleave(sides: dict[str, Side], rounds: int, per_round: int) -> list[Figure]:
    figures = {name: Figure(name) for name in sides}
    for _ in range(rounds):
        for name, side in sides.items():
            figures[name].rounds.append(statistics.median([await side() for _ in range(per_round)]))
    return list(figures.values())


def floor_app() -> FastAPI:
    """The least a FastAPI + Mongo test can pay for one GET: one route, one find_one, nothing else."""
    client: AsyncMongoMockClient = AsyncMongoMockClient()  # type: ignore[type-arg]
    collection = client["floor"]["items"]
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read(item_id: str) -> dict[str, str]:
        document = await collection.find_one({"_id": item_id})
        return {"id": str(document["_id"]) if document else ""}

    @app.post("/seed/{item_id}", status_code=201)
    async def seed(item_id: str) -> dict[str, str]:
        await collection.insert_one({"_id": item_id, "name": item_id})
        return {"id": item_id}

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
        httpx.AsyncClient(transport=httpx.ASGITransport(app=floor_app()), base_url="http://test") as floor,
    ):
        item = (await harness.post("/items", json={"name": "lamp"})).json()["id"]
        (await floor.post(f"/seed/{item}")).raise_for_status()
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
    parser.add_argument("--noise-limit", type=float, default=0.25, help="spread that flags NOISY (default 0.25)")
    parser.add_argument("--smoke", action="store_true", help="every path once, for CI; no figure is judged")
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
