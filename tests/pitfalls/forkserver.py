"""A fork server for the inner pytest sessions: import pytest, the drivers and the app once, then fork a child
per session.

Each scenario must run in a process of its own (an import-time client, a module global, a closed loop must
not leak into the next), but starting a new interpreter that imports pytest, FastAPI and both drivers costs
about 2 s of CPU each time. A child forked from a process that has already imported them starts in
milliseconds and is just as isolated. The server process starts no threads, so forking it is safe.

Protocol: one JSON line per request on stdin (`{"cwd", "args", "env", "timeout"}`), one JSON line per
answer on stdout (`{"exit_code", "output"}`). Run as `python -m tests.pitfalls.forkserver`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

# What every inner session imports: loaded here once, shared by every child. Not the plugins the sessions
# name with -p (pytest must import those itself, to rewrite their asserts, or it warns).
PRELOAD = (
    "pytest",
    "anyio",
    "loopsafe_mongo.guard",
    "httpx",
    "fastapi",
    "motor.motor_asyncio",
    "pymongo",
    "mongomock_motor",
    "app.main",
)


def _run_child(request: Mapping[str, Any], output: IO[str]) -> None:
    """In the forked child: become the inner pytest session, then exit with its status."""
    import pytest  # noqa: PLC0415 - already imported by the server; here for the name

    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.update(request["env"])
        fd = output.fileno()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = sys.stderr = os.fdopen(os.dup(fd), "w", buffering=1)
        code = int(pytest.main(list(request["args"])))
    except BaseException:  # noqa: BLE001 - the child must always exit, and say why it failed
        import traceback  # noqa: PLC0415

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -int(signal.SIGKILL)
        time.sleep(0.005)


def serve() -> None:
    for module in PRELOAD:
        __import__(module)
    # What is imported now lives as long as the server: out of the garbage collector's sight, each child's
    # collections (pytest runs several as a session ends) walk only what the child made itself.
    gc.freeze()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        with tempfile.TemporaryFile("w+") as output:
            pid = os.fork()
            if pid == 0:
                _run_child(request, output)
            exit_code = _wait(pid, float(request["timeout"]))
            output.seek(0)
            text = output.read()
        if exit_code < 0:
            text += f"\n[forkserver] the session did not finish within {request['timeout']} s and was killed"
        print(json.dumps({"exit_code": exit_code, "output": text}), flush=True)


class ForkServer:
    """The parent's handle: starts the server, sends it sessions one at a time, stops it."""

    def __init__(self, root: Path) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.pitfalls.forkserver"],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"the fork server did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fork server exited (code {self._process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, directory: Path, args: Sequence[str], env: Mapping[str, str], timeout: float) -> tuple[int, str]:
        """Run pytest with `args` in `directory`, with `env` added to the environment."""
        assert self._process.stdin is not None
        request = {"cwd": str(directory), "args": list(args), "env": dict(env), "timeout": timeout}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = self._read()
        return int(answer["exit_code"]), str(answer["output"])

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


if __name__ == "__main__":
    serve()
