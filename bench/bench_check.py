"""How fast the static checker (`python -m loopsafe_mongo check`) reads a project: lines per second, in process
and as the command a pre-commit hook or CI runs, on a synthetic FastAPI + MongoDB project of about 10,000 lines.

Run with `.venv/bin/python -m bench.bench_check [lines] [repeats]`. The project is generated in a temporary
directory: app modules (a lifespan, routes, dependencies), test modules (fixtures, async tests) and, in one
module in ten, a bad pattern, so that every rule's code path runs. A rate whose spread over the repeats is
above --noise-limit is flagged NOISY.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from loopsafe_mongo.check import check_paths

from bench.common import add_common_options, spread

NOISE_LIMIT = 0.15

APP_MODULE = '''\
"""Items service, part {n}."""
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from motor.motor_asyncio import AsyncIOMotorClient

router = APIRouter()


@asynccontextmanager
async def lifespan(app: FastAPI):
    client = AsyncIOMotorClient("mongodb://localhost")
    yield {{"db": client["items_{n}"]}}
    client.close()


def create_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    return app


def get_db(request: Request):
    return request.state.db


@router.get("/items_{n}")
async def list_items(db=Depends(get_db)) -> list[dict]:
    return [item async for item in db["items"].find({{}}, limit=100)]


@router.post("/items_{n}", status_code=201)
async def create_item(item: dict, db=Depends(get_db)) -> dict:
    result = await db["items"].insert_one(item)
    return {{"id": str(result.inserted_id), **item}}


@router.get("/items_{n}/{{item_id}}")
async def read_item(item_id: str, db=Depends(get_db)) -> dict | None:
    found = await db["items"].find_one({{"_id": item_id}})
    if found is None:
        return None
    found["id"] = str(found.pop("_id"))
    return found
'''

TEST_MODULE = '''\
"""Tests of part {n}."""
import httpx
import pytest
from loopsafe_mongo import run_lifespan

from project.app_{n} import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
async def running():
    async with run_lifespan(create_app()) as running:
        yield running


@pytest.fixture
async def http(running):
    transport = httpx.ASGITransport(app=running.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_items_start_empty(http):
    response = await http.get("/items_{n}")
    assert response.json() == []


async def test_created_item_is_stored(http, running):
    await http.post("/items_{n}", json={{"name": "lamp"}})
    assert await running.state["db"]["items"].find_one({{"name": "lamp"}}) is not None
'''

BAD_MODULE = '''\
"""A bad pattern or two, as a project that needs the checker has."""
import asyncio
import functools

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

client = AsyncIOMotorClient()


@functools.lru_cache
def get_client():
    return AsyncIOMotorClient()


@pytest.fixture
def seeded():
    asyncio.run(get_client()["db"]["items"].insert_one({{"n": {n}}}))
'''


def generate(directory: Path, lines: int) -> int:
    """Write a project of about `lines` lines into `directory`; return how many it has."""
    package = directory / "project"
    package.mkdir()
    (package / "__init__.py").write_text("")
    written, n = 0, 0
    while written < lines:
        sources = {f"app_{n}.py": APP_MODULE, f"test_{n}.py": TEST_MODULE}
        if n % 10 == 0:
            sources[f"bad_{n}.py"] = BAD_MODULE
        for name, template in sources.items():
            text = template.format(n=n)
            (package / name).write_text(text)
            written += text.count("\n")
        n += 1
    return written


@dataclass(frozen=True)
class Rate:
    how: str
    wall_s: list[float]  # one per repeat
    cpu_s: list[float]  # CPU time of the same runs: what the checker costs, whatever else the machine runs
    lines: int

    @property
    def lines_per_cpu_s(self) -> list[float]:
        return [self.lines / s for s in self.cpu_s]


def _in_process(directory: Path) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    findings, errors, _ = check_paths([directory])
    timing = time.perf_counter() - wall, time.process_time() - cpu
    assert findings, "the synthetic project's bad patterns were not found"
    assert not errors, errors
    return timing


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _command(directory: Path) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), _children_cpu_s()
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "loopsafe_mongo", "check", "--format", "json", str(directory)],
        capture_output=True,
        check=False,
    )
    timing = time.perf_counter() - wall, _children_cpu_s() - cpu
    assert result.returncode == 1, f"expected findings (exit 1), got {result.returncode}: {result.stderr!r}"
    return timing


def measure(lines: int = 10_000, repeats: int = 7) -> list[Rate]:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        total = generate(directory, lines)
        _in_process(directory)  # warm the file cache and the imports alike for both sides
        runs = [(_in_process(directory), _command(directory)) for _ in range(repeats)]
    return [
        Rate("in process (check_paths)", [r[0][0] for r in runs], [r[0][1] for r in runs], total),
        Rate("command (python -m loopsafe_mongo check)", [r[1][0] for r in runs], [r[1][1] for r in runs], total),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", type=int, nargs="?", default=10_000, help="project size (default 10000)")
    parser.add_argument("repeats", type=int, nargs="?", default=7, help="runs of each side (default 7)")
    add_common_options(parser, noise_limit=NOISE_LIMIT, noisy="a rate")
    args = parser.parse_args()
    lines, repeats = (1_000, 1) if args.smoke else (args.lines, args.repeats)
    rates = measure(lines, repeats)
    print(f"Static checker speed: a synthetic project of {rates[0].lines} lines, median of {repeats} runs,")
    print(f"Python {platform.python_version()} on {platform.machine()}.")
    print()
    print(f"{'how':<44}{'wall':>9}{'CPU':>9}{'lines per CPU s':>17}{'spread':>8}  note")
    for rate in rates:
        rate_spread = spread(rate.lines_per_cpu_s)
        note = f"NOISY (spread {rate_spread:.0%})" if rate_spread > args.noise_limit else ""
        print(
            f"{rate.how:<44}{statistics.median(rate.wall_s):>7.2f} s{statistics.median(rate.cpu_s):>7.2f} s"
            f"{statistics.median(rate.lines_per_cpu_s):>17,.0f}{rate_spread:>8.0%}  {note}"
        )
    startup = [c / p for p, c in zip(rates[0].cpu_s, rates[1].cpu_s, strict=True)]
    print(f"\ncommand / in process, CPU: {statistics.median(startup):.2f}x (spread {spread(startup):.0%})")
    print("wall, CPU: medians of the runs; spread: IQR / median of the per-run rates; the command adds")
    print("the interpreter's start and the imports")


if __name__ == "__main__":
    main()
