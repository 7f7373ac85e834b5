"""The served path against the raw driver: the service under uvicorn next to a bare driver, one server.

For each driver (MONGODB_DRIVER=motor and pymongo) it starts the service as production runs it,
`uvicorn app.main:app` in a subprocess on a free loopback port (MONGODB_URL, MONGODB_DRIVER and a
fresh MONGODB_DB set; ready once /health/ready answers 200), seeds `--seed-items` items (default 100:
FerretDB 1.x sorts a find by scanning the collection, so more items make the page a figure of the
server alone) through the API (POST /items), and, in another process, the bare driver on the same
server and database: an `AsyncIOMotorClient` or `AsyncMongoClient` with the app's options, no loop
guard, no repository, no FastAPI. Both sides run the same two reads at the same concurrency
(`--concurrency`, default 32):

- `get`: GET /items/{id} (ids spread over the collection) against `find_one({"_id": ObjectId(id)})`;
- `page`: GET /items?limit=20 (the first page) against `find({}).sort("_id", 1).limit(20)`. The
  service asks the database for 21 documents, the extra one telling whether a next page exists.

On a server it also runs the floor, `uvicorn bench.served_floor:app` with the same options: the least
FastAPI app that serves the same two reads (the raw driver's queries, the documents returned as stored).
Its rate is what FastAPI and uvicorn reach on this machine at all, and "svc/floor" is what this app's
own work costs on top (there is no floor in memory, where each process has only its own data).

The load on the service comes from `wrk` (C, `-t1`, keep-alive) when it is installed, else from a
Python process of asyncio streams sending raw HTTP/1.1 keep-alive requests (`--generator`); the
output says which. The load generator competes with the service for the machine's cores, and its CPU
per request is printed too: with the Python generator the ratio is lower than the service alone
would score. In memory (no MONGODB_URL) the service runs on mongomock and the raw side is
mongomock-motor itself, in its own process with its own copy of the seeded items.

Repetitions are interleaved: in each round every driver and operation is measured on both sides
back to back, with the side that goes first and the driver order alternating from round to round,
so that drift hits both alike. Per cell it prints the median service req/s, floor req/s and raw ops/s over
the rounds, and service/raw: the median over rounds of the two figures of the same round, with the lowest
and highest round (the issue's target is >= 0.85); then CPU milliseconds per request of the uvicorn
process and per operation of the raw process (utime + stime from /proc/<pid>/stat, all threads, so
Motor's pool included) and of the load generator. A ratio whose spread over the rounds (interquartile
range / median) is above `--noise-limit` is printed with "NOISY (spread x%)": it is no finding.

A slow machine is reported, not hidden and not fatal: a 503 (the app's answer to a database timeout),
a request the generator timed out or whose connection broke, and a driver operation that timed out
(`app.database.is_unavailable`) are counted, not raised, and printed as "timeouts: N of M"; rates
count only the successes. Any other status, or a wrong answer, is an error and stops the run.

Run it (from the repository root), on FerretDB and in memory:

    scripts/ferretdb.sh start
    MONGODB_URL=$(scripts/ferretdb.sh url) .venv/bin/python -m bench.bench_served
    .venv/bin/python -m bench.bench_served

`--budget-s` bounds the whole run (default 60 s, startup and seeding included; at least
`--min-rounds` rounds are run whatever it says), `--slice-s` one measurement (wrk counts whole
seconds, so with wrk it is rounded up to one). `--uvicorn-args` adds uvicorn options, e.g.
`--uvicorn-args=--no-access-log`. `--smoke` (or BENCH_SMOKE=1) runs every code path once in a few
seconds, both generators when wrk is installed, for CI: it fails only on an error, never on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import math
import os
import re
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.common import add_common_options, finite_median, ratio, spread
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "app.main:app"
FLOOR = "bench.served_floor:app"
OPERATIONS = ("get", "page")
DRIVERS = ("motor", "pymongo")
CONCURRENCY = 32
PAGE_SIZE = 20
# FerretDB 1.x sorts a find in memory, scanning the collection: with 400 items a page ran at 26/s on both
# sides, a figure of the server alone.
SEED_ITEMS = 100
SMOKE_SEED_ITEMS = 2 * PAGE_SIZE
SEED_CONNECTIONS = 16
NOISE_LIMIT = 0.20
TARGET_RATIO = 0.85
REQUEST_TIMEOUT_S = 10.0  # a request the generator waits for longer is counted as a timeout
READY_TIMEOUT_S = 60.0
SEED_ATTEMPTS = 5
STRIDE = 7919  # a prime: k * STRIDE % n spreads consecutive requests over the whole collection
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_WRK_RESULT = re.compile(r"^WRK_RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", re.MULTILINE)


class BenchError(RuntimeError):
    """Something other than slowness went wrong: a wrong answer, a dead process, an unexpected status."""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --- HTTP/1.1 over asyncio streams: the Python load generator, and the seeding -----------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection: requests written as bytes, responses read by Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = _CONTENT_LENGTH.search(head)
        body = await self.reader.readexactly(int(length.group(1))) if length else b""
        return int(head[9:12]), body

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def http_request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@dataclass
class HttpTally:
    ok: int = 0
    unavailable: int = 0  # 503: the app's answer to a database timeout
    timeouts: int = 0  # no answer within REQUEST_TIMEOUT_S, or the connection broke
    failed: dict[int, int] = field(default_factory=dict)  # any other status: an error


async def http_load(port: int, paths: list[str], concurrency: int, duration_s: float) -> dict[str, Any]:
    """`concurrency` keep-alive connections sending GETs back to back until the deadline."""
    requests = [http_request("GET", path) for path in paths]
    counter = itertools.count()
    tally = HttpTally()
    start = time.perf_counter()
    deadline = start + duration_s

    async def connection() -> None:
        conn = await HttpConnection.open(port)
        try:
            while time.perf_counter() < deadline:
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        status, _ = await conn.send(requests[next(counter) * STRIDE % len(requests)])
                except (TimeoutError, OSError, asyncio.IncompleteReadError):
                    tally.timeouts += 1
                    await conn.close()
                    conn = await HttpConnection.open(port)
                    continue
                if status == 200:
                    tally.ok += 1
                elif status == 503:
                    tally.unavailable += 1
                else:
                    tally.failed[status] = tally.failed.get(status, 0) + 1
        finally:
            await conn.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return {
        "ok": tally.ok,
        "unavailable": tally.unavailable,
        "timeouts": tally.timeouts,
        "failed": tally.failed,
        "elapsed": time.perf_counter() - start,
    }


async def seed_service(port: int, count: int) -> list[str]:
    """`count` items through POST /items, then their ids in creation order, read back page by page."""
    numbers = iter(range(count))

    async def worker() -> None:
        conn = await HttpConnection.open(port)
        try:
            for k in numbers:
                body = json.dumps({"name": f"seed-{k}", "tags": ["bench"], "quantity": k}).encode()
                for attempt in range(1, SEED_ATTEMPTS + 1):
                    status, reply = await conn.send(http_request("POST", "/items", body))
                    # 409: an earlier attempt that answered 503 had gone through after all.
                    if status in {201, 409}:
                        break
                    if status != 503 or attempt == SEED_ATTEMPTS:
                        raise BenchError(f"POST /items answered {status}: {reply[:300]!r}")
                    await asyncio.sleep(0.5 * attempt)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(SEED_CONNECTIONS)))
    ids: list[str] = []
    conn = await HttpConnection.open(port)
    try:
        path: str | None = "/items?limit=100"
        while path is not None:
            status, reply = await conn.send(http_request("GET", path))
            if status != 200:
                raise BenchError(f"GET {path} answered {status}: {reply[:300]!r}")
            page = json.loads(reply)
            ids += [item["id"] for item in page["items"]]
            path = f"/items?limit=100&cursor={page['next_cursor']}" if page["next_cursor"] else None
    finally:
        await conn.close()
    if len(ids) != count:
        raise BenchError(f"the service holds {len(ids)} items after seeding, not {count}")
    return ids


async def check_service(port: int, item_id: str) -> None:
    """One of each request, answers checked: the figures below are of the right work."""
    conn = await HttpConnection.open(port)
    try:
        status, reply = await conn.send(http_request("GET", f"/items/{item_id}"))
        if status != 200 or json.loads(reply)["id"] != item_id:
            raise BenchError(f"GET /items/{item_id} answered {status}: {reply[:300]!r}")
        status, reply = await conn.send(http_request("GET", f"/items?limit={PAGE_SIZE}"))
        if status != 200 or len(json.loads(reply)["items"]) != PAGE_SIZE:
            raise BenchError(f"GET /items?limit={PAGE_SIZE} answered {status}: {reply[:300]!r}")
    finally:
        await conn.close()


# --- worker processes: a line of JSON in, a line of JSON out ------------------------------------------


async def serve_commands(handle: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
    """Answer each JSON line on stdin with one on stdout, until stdin closes."""
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        print(json.dumps(await handle(json.loads(line))), flush=True)


async def http_worker() -> None:
    async def handle(command: dict[str, Any]) -> dict[str, Any]:
        return await http_load(command["port"], command["paths"], command["concurrency"], command["duration"])

    await serve_commands(handle)


def raw_client(driver: str, url: str) -> Any:
    """The bare driver, with the options the app gives it; mongomock-motor in memory."""
    from app.settings import Settings  # noqa: PLC0415 - workers import the app's modules, the orchestrator not

    settings = Settings()
    if settings.in_memory:
        from mongomock_motor import AsyncMongoMockClient  # noqa: PLC0415

        return AsyncMongoMockClient(tz_aware=True)
    options: dict[str, Any] = {
        "tz_aware": True,
        "timeoutMS": settings.mongodb_timeout_ms,
        "serverSelectionTimeoutMS": settings.mongodb_server_selection_timeout_ms,
        "connectTimeoutMS": settings.mongodb_connect_timeout_ms,
    }
    if driver == "pymongo":
        from pymongo import AsyncMongoClient  # noqa: PLC0415

        return AsyncMongoClient(url, **options)
    from motor.motor_asyncio import AsyncIOMotorClient  # noqa: PLC0415

    return AsyncIOMotorClient(url, **options)


async def drive(
    op: Callable[[int], Awaitable[None]],
    concurrency: int,
    duration_s: float,
    driver_error: type[Exception],
    is_timeout: Callable[[Exception], bool],
) -> dict[str, Any]:
    """`concurrency` tasks running `op` back to back until the deadline; timeouts counted, not raised."""
    counter = itertools.count()
    done = timeouts = 0
    start = time.perf_counter()
    deadline = start + duration_s

    async def task() -> None:
        nonlocal done, timeouts
        while time.perf_counter() < deadline:
            try:
                await op(next(counter))
            except driver_error as exc:
                if not is_timeout(exc):
                    raise
                timeouts += 1
            else:
                done += 1

    await asyncio.gather(*(task() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"ok": done, "unavailable": 0, "timeouts": timeouts, "failed": {}, "elapsed": elapsed}


async def raw_worker(driver: str, seed_items: int) -> None:
    from bson import ObjectId  # noqa: PLC0415
    from pymongo.errors import PyMongoError  # noqa: PLC0415

    from app.database import is_unavailable  # noqa: PLC0415
    from app.models import ItemCreate  # noqa: PLC0415
    from app.repository import COLLECTION, ItemRepository  # noqa: PLC0415
    from app.settings import Settings  # noqa: PLC0415

    settings = Settings()
    client = raw_client(driver, settings.mongodb_url.get_secret_value())
    db = client[settings.mongodb_db]
    items = db[COLLECTION]
    if settings.in_memory:  # a process of its own, so a copy of its own: the same documents as the service's
        repository = ItemRepository(db)
        for k in range(seed_items):
            await repository.create(ItemCreate(name=f"seed-{k}", tags=["bench"], quantity=k))
    ids = [doc["_id"] for doc in await items.find({}, {"_id": 1}).sort("_id", 1).to_list(None)]
    if len(ids) != seed_items:
        raise BenchError(f"the raw driver sees {len(ids)} items, not {seed_items}")
    hex_ids = [str(i) for i in ids]

    async def get(k: int) -> None:
        if await items.find_one({"_id": ObjectId(hex_ids[k * STRIDE % len(hex_ids)])}) is None:
            raise BenchError("find_one found no seeded item")

    async def page(_: int) -> None:
        docs = await items.find({}).sort("_id", 1).limit(PAGE_SIZE).to_list(None)
        if len(docs) != PAGE_SIZE:
            raise BenchError(f"a page had {len(docs)} documents, not {PAGE_SIZE}")

    operations: dict[str, Callable[[int], Awaitable[None]]] = {"get": get, "page": page}

    async def handle(command: dict[str, Any]) -> dict[str, Any]:
        if command.get("drop"):
            await client.drop_database(settings.mongodb_db)
            return {}
        op = operations[command["op"]]
        return await drive(op, command["concurrency"], command["duration"], PyMongoError, is_unavailable)

    print(json.dumps({"ready": len(ids)}), flush=True)
    try:
        await serve_commands(handle)
    finally:
        closed = client.close()
        if asyncio.iscoroutine(closed):
            await closed


class Worker:
    """A worker process of this module, driven by JSON lines; its stderr goes to a file, read on failure."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter and module, fixed arguments
            [sys.executable, "-m", "bench.bench_served", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(10)
            raise BenchError(f"the {self.name} worker died:\n{self.log_path.read_text()[-3000:]}")
        return cast(dict[str, Any], json.loads(line))

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        stop_process(self.process)
        self._log.close()


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Wait for `process` to exit (it was asked to), and kill it after 15 s."""
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the service under uvicorn ---------------------------------------------------------------------


class Service:
    """`uvicorn <target>` (this app, or the floor) on a free loopback port, its output in a log file."""

    def __init__(
        self, driver: str, env: dict[str, str], uvicorn_args: list[str], logs: Path, target: str = SERVICE
    ) -> None:
        self.driver = driver
        self.name = f"{target} ({driver})"
        self.port = free_port()
        self.log_path = logs / f"uvicorn-{target.replace(':', '-')}-{driver}.log"
        self._log = self.log_path.open("w")
        command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1"]
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [*command, "--port", str(self.port), *uvicorn_args],
            cwd=ROOT,
            env={**env, "MONGODB_DRIVER": driver},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.ids: list[str] = []

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(http_request("GET", "/health/ready"))
                if sock.recv(12).startswith(b"HTTP/1.1 200"):
                    return
            time.sleep(0.1)
        raise BenchError(f"uvicorn {self.name} not ready after {READY_TIMEOUT_S} s:\n{self.log_path.read_text()}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"uvicorn {self.name} exited:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            stop_process(self.process)
        self._log.close()


# --- load generators ---------------------------------------------------------------------------------

WRK_SCRIPT = """
local paths = {%s}
local n = #paths
local k = 0
unavailable = 0
failed = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function request()
  k = k + 1
  return wrk.format("GET", paths[(k * %d) %% n + 1])
end
function response(status, headers, body)
  if status == 503 then unavailable = unavailable + 1 elseif status ~= 200 then failed = failed + 1 end
end
function done(summary, latency, requests)
  local u, f = 0, 0
  for _, t in ipairs(threads) do u = u + t:get("unavailable"); f = f + t:get("failed") end
  local e = summary.errors
  io.write(string.format("WRK_RESULT %%d %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.timeout, u, f))
end
"""


@dataclass(frozen=True)
class Run:
    """One measurement of one side: what succeeded, what timed out, how long, and CPU per process."""

    ok: int
    timeouts: int
    elapsed_s: float
    cpu_s: float  # of the process under test (uvicorn, or the raw driver's)
    generator_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else math.nan

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s / self.ok * 1e3 if self.ok else math.nan

    @property
    def generator_cpu_ms(self) -> float:
        return self.generator_cpu_s / self.ok * 1e3 if self.ok else math.nan


def checked(name: str, result: dict[str, Any]) -> tuple[int, int, float]:
    """(successes, timeouts, elapsed) of a worker's answer; any status but 200 and 503 is an error."""
    if result["failed"]:
        raise BenchError(f"{name}: unexpected statuses {result['failed']}")
    return result["ok"], result["unavailable"] + result["timeouts"], result["elapsed"]


class Generator:
    name = ""

    def run(self, service: Service, op: str, concurrency: int, duration_s: float) -> Run:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


class PythonGenerator(Generator):
    name = "python (asyncio streams, raw HTTP/1.1 keep-alive, own process)"

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.worker = Worker("http-generator", ["--worker", "http"], env, logs)

    def run(self, service: Service, op: str, concurrency: int, duration_s: float) -> Run:
        paths = [f"/items/{i}" for i in service.ids] if op == "get" else [f"/items?limit={PAGE_SIZE}"]
        pids = (service.process.pid, self.worker.process.pid)
        before = [cpu_seconds(pid) for pid in pids]
        command = {"port": service.port, "paths": paths, "concurrency": concurrency, "duration": duration_s}
        result = self.worker.call(command)
        after = [cpu_seconds(pid) for pid in pids]
        ok, timeouts, elapsed = checked(f"GET {paths[0]}", result)
        return Run(ok, timeouts, elapsed, after[0] - before[0], after[1] - before[1])

    def close(self) -> None:
        self.worker.close()


class WrkGenerator(Generator):
    name = "wrk (-t1, keep-alive)"

    def __init__(self, wrk: str, logs: Path) -> None:
        self.wrk = wrk
        self.logs = logs

    def script(self, service: Service, op: str) -> Path:
        path = self.logs / f"wrk-{service.driver}-{op}.lua"
        if not path.exists():
            paths = [f"/items/{i}" for i in service.ids] if op == "get" else [f"/items?limit={PAGE_SIZE}"]
            path.write_text(WRK_SCRIPT % (", ".join(f'"{p}"' for p in paths), STRIDE))
        return path

    def run(self, service: Service, op: str, concurrency: int, duration_s: float) -> Run:
        seconds = max(1, math.ceil(duration_s))  # wrk counts whole seconds
        command = [self.wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", f"--timeout={REQUEST_TIMEOUT_S:.0f}s"]
        command += ["-s", str(self.script(service, op)), f"http://127.0.0.1:{service.port}"]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        before = cpu_seconds(service.process.pid)
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        after = cpu_seconds(service.process.pid)
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        found = _WRK_RESULT.search(done.stdout)
        if done.returncode != 0 or found is None:
            raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        requests, duration_us, connect, read, write, timeout, unavailable, failed = map(int, found.groups())
        if failed:
            raise BenchError(f"GET ({op}): {failed} responses with a status other than 200 and 503")
        generator_cpu = (children_after.ru_utime + children_after.ru_stime) - (children.ru_utime + children.ru_stime)
        timeouts = unavailable + connect + read + write + timeout
        return Run(requests - unavailable, timeouts, duration_us / 1e6, after - before, generator_cpu)


# --- measuring and reporting -----------------------------------------------------------------------------


@dataclass
class Cell:
    driver: str
    op: str
    service: list[Run] = field(default_factory=list)
    raw: list[Run] = field(default_factory=list)
    floor: list[Run] = field(default_factory=list)  # empty in memory: the floor has no data of its own


def raw_run(worker: Worker, op: str, concurrency: int, duration_s: float) -> Run:
    before = cpu_seconds(worker.process.pid)
    result = worker.call({"op": op, "concurrency": concurrency, "duration": duration_s})
    after = cpu_seconds(worker.process.pid)
    ok, timeouts, elapsed = checked(f"raw {op}", result)
    return Run(ok, timeouts, elapsed, after - before)


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _median_ratio(tops: list[Run], bottoms: list[Run]) -> float:
    """The median over rounds of one side's rate over another's in the same round (nan with no floor)."""
    if not tops or not bottoms:
        return math.nan
    return finite_median([ratio(top.rate, bottom.rate) for top, bottom in zip(tops, bottoms, strict=True)])


def _figure(value: float, width: int, digits: int) -> str:
    return f"{value:{width}.{digits}f}" if math.isfinite(value) else f"{'-':>{width}}"


def report(cells: list[Cell], rounds: int, noise_limit: float) -> None:
    print(f"\n{rounds} rounds; every figure is a median over the rounds")
    print(
        f"  {'driver':<8} {'op':<5} {'service/s':>9} {'floor/s':>8} {'raw/s':>7} {'service/raw':>11} {'range':>10}"
        f" {'spread':>7} {'floor/raw':>9} {'svc/floor':>9} {'CPU ms: service':>15} {'floor':>6} {'raw':>5}"
        f" {'generator':>9}  notes"
    )
    noisy = timed_out = 0
    for cell in cells:
        ratios = [ratio(s.rate, r.rate) for s, r in zip(cell.service, cell.raw, strict=True)]
        finite = [r for r in ratios if math.isfinite(r)]
        low_high = f"{min(finite):.2f}-{max(finite):.2f}" if finite else "-"
        median_ratio = finite_median(ratios)
        notes = []
        if math.isfinite(median_ratio):
            notes.append(f"{'meets' if median_ratio >= TARGET_RATIO else 'below'} the {TARGET_RATIO} target")
        ratio_spread = spread(ratios)
        if ratio_spread > noise_limit:
            noisy += 1
            notes.append(f"NOISY (spread {ratio_spread:.0%})")
        service_timeouts, raw_timeouts = sum(s.timeouts for s in cell.service), sum(r.timeouts for r in cell.raw)
        floor_timeouts = sum(f.timeouts for f in cell.floor)
        if service_timeouts or raw_timeouts or floor_timeouts:
            timed_out += 1
            service_total = sum(s.ok + s.timeouts for s in cell.service)
            raw_total = sum(r.ok + r.timeouts for r in cell.raw)
            notes.append(
                f"timeouts: service {service_timeouts} of {service_total}, raw {raw_timeouts} of {raw_total},"
                f" floor {floor_timeouts}"
            )
        if len(finite) < len(ratios):
            notes.append(f"{len(ratios) - len(finite)} round(s) with no success on one side")
        floor_rate = finite_median([f.rate for f in cell.floor])
        print(
            f"  {cell.driver:<8} {cell.op:<5} {finite_median([s.rate for s in cell.service]):9.0f}"
            f" {_figure(floor_rate, 8, 0)} {finite_median([r.rate for r in cell.raw]):7.0f}"
            f" {median_ratio:11.2f} {low_high:>10} {ratio_spread:7.0%}"
            f" {_figure(_median_ratio(cell.floor, cell.raw), 9, 2)}"
            f" {_figure(_median_ratio(cell.service, cell.floor), 9, 2)}"
            f" {finite_median([s.cpu_ms for s in cell.service]):15.2f}"
            f" {_figure(finite_median([f.cpu_ms for f in cell.floor]), 6, 2)}"
            f" {finite_median([r.cpu_ms for r in cell.raw]):5.2f}"
            f" {finite_median([s.generator_cpu_ms for s in cell.service]):9.2f}  {'; '.join(notes)}"
        )
    print(
        "\nservice/raw: the median over rounds of this app's req/s over the raw driver's ops/s in the same"
        f" round;\n  the target is >= {TARGET_RATIO}. range: the lowest and highest round. spread: interquartile"
        " range over median.\n  floor: bench/served_floor.py, the least FastAPI app serving the same reads"
        " under the same uvicorn\n  (on a server only); floor/raw and svc/floor: medians of the same rounds."
        " CPU ms: utime + stime per\n  successful request of each uvicorn process, per operation of the raw"
        " driver's process (all threads).\n  generator: the load generator's CPU per request (it shares the"
        " machine with the service, not with the raw driver)."
    )
    if noisy:
        print(
            f"NOISY: {noisy} of {len(cells)} cells spread more than {noise_limit:.0%} (--noise-limit) over the"
            " rounds; their ratios are no finding. Run on a quieter machine or with more rounds (--budget-s)."
        )
    if timed_out:
        print(
            f"TIMEOUTS: {timed_out} of {len(cells)} cells had requests or operations that timed out (503, no"
            " answer, a broken connection); rates count only the successes. The machine or the server was"
            " overloaded: lower --concurrency or raise MONGODB_TIMEOUT_MS to measure the code."
        )


def measure_round(
    cells: list[Cell],
    services: dict[str, Service],
    floors: dict[str, Service],
    raws: dict[str, Worker],
    generator: Generator,
    *,
    concurrency: int,
    duration_s: float,
    flip: bool,
) -> None:
    sides = ("service", "floor", "raw") if floors else ("service", "raw")
    for cell in cells[::-1] if flip else cells:
        service, raw = services[cell.driver], raws[cell.driver]
        for side in sides[::-1] if flip else sides:
            if side == "service":
                cell.service.append(generator.run(service, cell.op, concurrency, duration_s))
            elif side == "floor":
                cell.floor.append(generator.run(floors[cell.driver], cell.op, concurrency, duration_s))
            else:
                cell.raw.append(raw_run(raw, cell.op, concurrency, duration_s))
        service.check_alive()
        if floors:
            floors[cell.driver].check_alive()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget-s", type=float, default=60.0, help="the whole run, seconds (default 60)")
    parser.add_argument("--slice-s", type=float, default=1.0, help="one measurement, seconds (default 1)")
    parser.add_argument("--min-rounds", type=int, default=3, help="rounds at least (default 3)")
    parser.add_argument("--max-rounds", type=int, default=30, help="rounds at most (default 30)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help=f"default {CONCURRENCY}")
    parser.add_argument("--seed-items", type=int, default=SEED_ITEMS, help=f"default {SEED_ITEMS}")
    parser.add_argument("--drivers", default=",".join(DRIVERS), help="comma-separated (default motor,pymongo)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto", help="auto: wrk if found")
    parser.add_argument("--uvicorn-args", default="", help="more uvicorn options, e.g. --uvicorn-args=--no-access-log")
    add_common_options(parser, noise_limit=NOISE_LIMIT, noisy="a ratio")
    parser.add_argument("--worker", choices=("raw", "http"), help=argparse.SUPPRESS)
    parser.add_argument("--driver", default="motor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.drivers = [d.strip() for d in args.drivers.split(",") if d.strip()]
    if not args.drivers or set(args.drivers) - set(DRIVERS):
        parser.error(f"--drivers takes some of {', '.join(DRIVERS)}")
    args.wrk = shutil.which("wrk") if args.generator != "python" else None
    if args.generator == "wrk" and args.wrk is None:
        parser.error("--generator=wrk: wrk is not installed (Debian: apt-get install wrk)")
    if args.smoke:
        args.seed_items, args.budget_s, args.slice_s = SMOKE_SEED_ITEMS, 0.0, 0.1
    return args


@dataclass
class Started:
    services: dict[str, Service]
    floors: dict[str, Service]  # empty in memory
    raws: dict[str, Worker]
    generators: list[Generator]


def start(args: argparse.Namespace, env: dict[str, str], logs: Path, stack: contextlib.ExitStack) -> Started:
    """The services and, on a server, the floors (started, seeded, checked), the raw driver processes, and
    the load generators."""
    in_memory = not env.get("MONGODB_URL") or env["MONGODB_URL"].startswith("mongomock://")
    uvicorn_args = shlex.split(args.uvicorn_args)
    services: dict[str, Service] = {}
    floors: dict[str, Service] = {}
    for driver in args.drivers:  # started together, so that they boot in parallel
        services[driver] = Service(driver, env, uvicorn_args, logs)
        stack.callback(services[driver].stop)
        if not in_memory:  # in memory the floor would have no data: it seeds nothing
            floors[driver] = Service(driver, env, uvicorn_args, logs, target=FLOOR)
            stack.callback(floors[driver].stop)
    for service in services.values():
        service.wait_ready()
        # On a server the services share one database, seeded once; in memory each has its own.
        shared = None if in_memory else next((s.ids for s in services.values() if s.ids), None)
        service.ids = shared or asyncio.run(seed_service(service.port, args.seed_items))
        asyncio.run(check_service(service.port, service.ids[0]))
    for driver, floor in floors.items():
        floor.wait_ready()
        floor.ids = services[driver].ids
        asyncio.run(check_service(floor.port, floor.ids[0]))
    raws: dict[str, Worker] = {}
    for driver in args.drivers:
        worker_args = ["--worker", "raw", "--driver", driver, "--seed-items", str(args.seed_items)]
        raws[driver] = Worker(f"raw-{driver}", worker_args, {**env, "MONGODB_DRIVER": driver}, logs)
        stack.callback(raws[driver].close)
        raws[driver].read()  # {"ready": n}: connected, seeded (in memory), ids read
    if not in_memory:
        stack.callback(raws[args.drivers[0]].call, {"drop": True})  # runs before the workers close
    generators: list[Generator] = []
    if args.wrk is not None:
        generators.append(WrkGenerator(args.wrk, logs))
    if args.wrk is None or args.smoke:  # the smoke run goes through both generators
        generators.append(PythonGenerator(env, logs))
    for generator in generators:
        stack.callback(generator.close)
    return Started(services, floors, raws, generators)


def main() -> None:
    args = parse_args()
    if args.worker == "http":
        asyncio.run(http_worker())
        return
    if args.worker == "raw":
        asyncio.run(raw_worker(args.driver, args.seed_items))
        return
    started = time.perf_counter()
    url = os.environ.get("MONGODB_URL", "")
    in_memory = not url or url.startswith("mongomock://")
    env = {**os.environ, "MONGODB_DB": f"bench_served_{uuid.uuid4().hex[:12]}"}
    print("bench_served: the service under uvicorn against the raw driver (GET by id, a page of 20)")
    print(
        f"backend: {'in memory (mongomock; raw side: mongomock-motor)' if in_memory else url.split('@')[-1]};"
        f" drivers {', '.join(args.drivers)}; concurrency {args.concurrency}; {args.seed_items} items;"
        f" {os.cpu_count()} CPUs; load average {load_average()}"
    )
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    print(f"uvicorn {SERVICE} {args.uvicorn_args or f'(default options: access log on, {http}, asyncio)'}")
    if not in_memory:
        print(f"floor: uvicorn {FLOOR} with the same options (bench/served_floor.py)")
    if args.smoke:
        print("SMOKE RUN: every path once, with tiny slices; the figures below are not measurements.")
    cells = [Cell(driver, op) for driver in args.drivers for op in OPERATIONS]
    with tempfile.TemporaryDirectory(prefix="bench_served_") as tmp, contextlib.ExitStack() as stack:
        started_processes = start(args, env, Path(tmp), stack)
        generators = started_processes.generators
        print("load generator: " + "; then ".join(g.name for g in generators))
        # With wrk both sides run whole seconds, so that they measure over the same length of time.
        slice_s = max(1.0, math.ceil(args.slice_s)) if args.wrk and not args.smoke else args.slice_s

        def run_round(round_cells: list[Cell], generator: Generator, duration_s: float, flip: bool) -> None:
            measure_round(
                round_cells,
                started_processes.services,
                started_processes.floors,
                started_processes.raws,
                generator,
                concurrency=args.concurrency,
                duration_s=duration_s,
                flip=flip,
            )

        if args.smoke:  # one round per generator
            args.min_rounds = args.max_rounds = len(generators)
        else:  # warm-up, not counted: connections, pools, caches, FastAPI's first-request paths
            run_round([Cell(cell.driver, cell.op) for cell in cells], generators[0], slice_s / 2, flip=False)
        rounds, round_s, deadline = 0, 0.0, started + args.budget_s
        while rounds < args.max_rounds and (rounds < args.min_rounds or time.perf_counter() + round_s < deadline):
            round_start = time.perf_counter()
            run_round(cells, generators[rounds % len(generators)], slice_s, flip=rounds % 2 == 1)
            rounds += 1
            round_s = time.perf_counter() - round_start
    report(cells, rounds, args.noise_limit)
    print(f"\nload average at the end: {load_average()}; total run time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
