"""What a 422 costs: a body built to be expensive to validate against an ordinary invalid body.

Each body is POSTed to the app (in memory, over ASGI, so the time is the app's own CPU on the event loop)
and the best time of the repeats is printed with its ratio to an ordinary 422 and the size of the reply.
The hostile body is the one of issue 10, finding 1: 1 MiB of distinct unknown keys beside a valid name.

Run with `.venv/bin/python -m bench.bench_validation` (or `--smoke` for a quick check that it still works).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import string
import sys
import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.json_body import parse_json
from app.main import create_app
from app.settings import Settings

MIB = 1_048_576
JSON = {"content-type": "application/json"}


def _keys(count: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits
    return ["".join(chars) for chars in itertools.islice(itertools.product(alphabet, repeat=3), count)]


def _dump(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def bodies(size: int) -> dict[str, bytes]:
    """The bodies measured, each at most `size` bytes; the first is the baseline."""
    keys = _keys((size - 32) // 8)  # `"abc":0,` is 8 bytes; 32 for the rest of the body
    return {
        "ordinary 422 ({'name': 5})": _dump({"name": 5}),
        "unknown keys (finding 1)": _dump({"name": "ek", **dict.fromkeys(keys, 0)}),
        "unknown keys inside a field": _dump({"name": dict.fromkeys(keys, 0)}),
        "fractions in a list": _dump({"name": "x", "tags": [0.5] * ((size - 32) // 4)}),
        "one long string": _dump({"name": "x" * (size - 20)}),
    }


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[ASGIApp]:
    """The app with its lifespan entered on this loop; what it yields is copied into every request."""
    async with app.router.lifespan_context(app) as state:
        lifespan_state: MutableMapping[str, Any] = dict(state or {})

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            await app({**scope, "state": dict(lifespan_state)}, receive, send)

        yield with_state


@dataclass(frozen=True)
class Row:
    body: str
    request_bytes: int
    status: int
    reply_bytes: int
    best_s: float


async def _measure(http: httpx.AsyncClient, name: str, content: bytes, repeats: int) -> Row:
    times = []
    response = None
    for _ in range(repeats):
        start = time.perf_counter()
        response = await http.post("/items", content=content, headers=JSON)
        times.append(time.perf_counter() - start)
    assert response is not None
    return Row(name, len(content), response.status_code, len(response.content), min(times))


def _parse_s(content: bytes, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        parse_json(content)
        best = min(best, time.perf_counter() - start)
    return best


async def main(size: int, repeats: int) -> None:
    measured = bodies(size)
    app = create_app(Settings(max_body_bytes=max(size, MIB)))
    async with (
        running(app) as asgi,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://b") as http,
    ):
        await http.post("/items", content=b'{"name": 5}', headers=JSON)  # warm-up: schemas are built lazily
        rows = [await _measure(http, name, content, repeats) for name, content in measured.items()]
    baseline = rows[0].best_s
    print(f"Python {platform.python_version()} on {platform.machine()}; best of {repeats}; body size limit {size} B")
    print(
        f"{'body':34} {'request B':>10} {'status':>6} {'reply B':>9} {'best ms':>9} {'x ordinary':>11} {'parse ms':>9}"
    )
    for row in rows:
        parse_ms = _parse_s(measured[row.body], repeats) * 1000
        print(
            f"{row.body:34} {row.request_bytes:>10} {row.status:>6} {row.reply_bytes:>9}"
            f" {row.best_s * 1000:>9.2f} {row.best_s / baseline:>11.1f} {parse_ms:>9.2f}"
        )
    worst = max(rows[1:], key=lambda row: row.best_s)
    print(f"worst hostile body: {worst.body!r}, {worst.best_s / baseline:.1f}x an ordinary 422")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="one pass over 64 KiB bodies: does it still run?")
    parser.add_argument("--size", type=int, default=MIB, help="bytes per hostile body (default 1 MiB)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.smoke:
        args.size, args.repeats = 65_536, 1
    asyncio.run(main(args.size, args.repeats))
    sys.exit(0)
