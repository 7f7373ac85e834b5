"""The loop guard: a thin proxy that pins a MongoDB client to one event loop and fails loudly elsewhere.

Motor and PyMongo's AsyncMongoClient bind to the first loop that runs an operation on them and later
fail on any other loop with a cryptic error; mongomock binds to nothing and never fails. Wrapping every
backend in this guard makes all of them fail the same way, with a message that says what went wrong.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import sysconfig
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

DOCS = "docs/loops-and-clients.md"
_LIBRARIES = tuple(
    os.path.normcase(path) for path in {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib")}
)
_THIS_FILE = os.path.normcase(__file__)


class LoopMismatchError(RuntimeError):
    """A loop-bound MongoDB client was used from an event loop other than the one it is bound to."""


def _is_project_code(path: str, skip: frozenset[str]) -> bool:
    path = os.path.normcase(path)
    # "<frozen importlib...>" and the like are the interpreter's own.
    if path.startswith("<") or path == _THIS_FILE or path in skip:
        return False
    return not path.startswith(_LIBRARIES) and "site-packages" not in path


def _short(path: str) -> str:
    """The path relative to the working directory or the import root it lives under, as a reader would look for it."""
    for base in sorted({os.getcwd(), *filter(None, sys.path)}, key=len, reverse=True):
        if path.startswith(base.rstrip(os.sep) + os.sep):
            return path[len(base.rstrip(os.sep)) + 1 :]
    return path


def _where(skip: frozenset[str]) -> str:
    """The innermost frame of project code on the stack and, if another, the outermost: the test or task it serves."""
    project: list[FrameType] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if _is_project_code(frame.f_code.co_filename, skip):
            project.append(frame)
        frame = frame.f_back
    if not project:
        return "<unknown>"
    inner, outer = _describe_frame(project[0]), _describe_frame(project[-1])
    return inner if inner == outer else f"{inner}, called from {outer}"


def _describe_frame(frame: FrameType) -> str:
    return f"{_short(frame.f_code.co_filename)}:{frame.f_lineno} in {frame.f_code.co_name}"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _describe_loop(loop: asyncio.AbstractEventLoop) -> str:
    if loop.is_closed():
        return "is closed (the test or asyncio.run() that ran it has finished)"
    if loop.is_running():
        return "is running in another thread (a TestClient portal or a background thread?)"
    return "is idle: alive but not running (a loop kept by a fixture or runner that is not in use now)"


@dataclass
class Binding:
    """Which loop one client belongs to, and where it came from. Shared by every proxy of that client."""

    created_at: str
    created_thread: str
    skip: frozenset[str]
    loop: asyncio.AbstractEventLoop | None = None
    bound_at: str = ""
    bound_thread: str = ""

    def check(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to `loop` on first use, as the drivers do; afterwards raise on any other loop."""
        if self.loop is loop:
            return
        if self.loop is None:
            self.loop = loop
            self.bound_at = f"its first use, at {_where(self.skip)}"
            self.bound_thread = threading.current_thread().name
            return
        raise LoopMismatchError(self._message(self.loop, loop))

    def _message(self, bound: asyncio.AbstractEventLoop, current: asyncio.AbstractEventLoop) -> str:
        task = asyncio.current_task(current)
        task_name = task.get_name() if task else "no task"
        return (
            "MongoDB client used from an event loop it does not belong to.\n"
            f"  created at: {self.created_at} (thread {self.created_thread})\n"
            f"  bound to:   loop {id(bound):#x} since {self.bound_at} (thread {self.bound_thread});"
            f" that loop {_describe_loop(bound)}\n"
            f"  used now:   loop {id(current):#x}, task {task_name!r}, at {_where(self.skip)}"
            f" (thread {threading.current_thread().name})\n"
            "  fix: create the client in the app's lifespan and run that lifespan on the loop that uses the client."
            " In tests, enter it in an async fixture on the test's own loop; never at import time, in a sync"
            f" fixture, with asyncio.run() or with a sync TestClient. See {DOCS}."
        )


class Guarded:
    """A proxy for a client, database, collection, cursor or session that checks the loop on every use."""

    __slots__ = ("_binding", "_prefixes", "_target")
    _target: Any  # whatever the driver returned: typed by the protocols in app.database, not here

    def __init__(self, target: object, binding: Binding, prefixes: tuple[str, ...]) -> None:
        self._target = target
        self._binding = binding
        self._prefixes = prefixes

    def __getattr__(self, name: str) -> Any:
        return self._wrap(getattr(self._target, name))

    def __getitem__(self, key: str) -> Any:
        return self._wrap(self._target[key])

    def __aiter__(self) -> Guarded:
        return Guarded(aiter(self._target), self._binding, self._prefixes)

    async def __anext__(self) -> Any:
        self._binding.check(asyncio.get_running_loop())
        return self._wrap(await anext(self._target))

    async def __aenter__(self) -> Any:
        self._binding.check(asyncio.get_running_loop())
        return self._wrap(await self._target.__aenter__())

    async def __aexit__(self, *exc_info: object) -> Any:
        self._binding.check(asyncio.get_running_loop())
        return await self._target.__aexit__(*exc_info)

    def __repr__(self) -> str:
        return f"Guarded({self._target!r})"

    def _wrap(self, value: Any) -> Any:
        if type(value).__module__.startswith(self._prefixes):
            return Guarded(value, self._binding, self._prefixes)
        if callable(value):
            return self._guard_call(value)
        return value

    def _guard_call(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            # Check before the call: Motor picks its loop when the method is called, not when awaited.
            loop = _running_loop()
            if loop is not None:
                self._binding.check(loop)
            # The driver checks the types of what it is given (a session, say): hand it its own objects.
            args = tuple(_unwrap(arg) for arg in args)
            kwargs = {name: _unwrap(value) for name, value in kwargs.items()}
            result = method(*args, **kwargs)
            if inspect.isawaitable(result):
                return self._await(result)
            return self._wrap(result)

        return call

    async def _await(self, awaitable: Awaitable[Any]) -> Any:
        # An awaitable may be created in one place and awaited on another loop.
        try:
            self._binding.check(asyncio.get_running_loop())
        except LoopMismatchError:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # it will never run: spare the reader a "never awaited" warning on top
            raise
        return self._wrap(await awaitable)


def _unwrap(value: object) -> object:
    return value._target if isinstance(value, Guarded) else value


def guard(client: object, *, prefixes: tuple[str, ...], skip: frozenset[str] = frozenset()) -> Any:
    """Wrap `client` so that it, and every database, collection and cursor reached through it, is loop-checked.

    `prefixes` names the modules whose objects are loop-bound and must stay wrapped; `skip` names source
    files to leave out when reporting where the client was created or used (the module that builds clients).
    """
    skip = frozenset(os.path.normcase(path) for path in skip)
    binding = Binding(created_at=_where(skip), created_thread=threading.current_thread().name, skip=skip)
    loop = _running_loop()
    if loop is not None:
        # Created on a running loop, so that loop is the only one it can be meant for.
        binding.check(loop)
        binding.bound_at = "its creation"
    return Guarded(client, binding, prefixes)
