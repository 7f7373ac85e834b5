"""The loop guard: a thin proxy that pins a MongoDB client to one event loop and fails loudly elsewhere.

Motor and PyMongo's AsyncMongoClient bind to the first loop that runs an operation on them and later
fail on any other loop with a cryptic error; mongomock binds to nothing and never fails. Wrapping every
backend in this guard makes all of them fail the same way, with a message that says what went wrong.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sysconfig
import threading
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

DOCS = "docs/loops-and-clients.md"
_STDLIB = os.path.normcase(sysconfig.get_paths()["stdlib"])
_THIS_FILE = os.path.normcase(__file__)


class LoopMismatchError(RuntimeError):
    """A loop-bound MongoDB client was used from an event loop other than the one it is bound to."""


def _where(skip: frozenset[str]) -> str:
    """The innermost caller outside the standard library, installed packages and `skip` files."""
    for frame in reversed(traceback.extract_stack()):
        path = os.path.normcase(frame.filename)
        if path == _THIS_FILE or path in skip or path.startswith(_STDLIB) or "site-packages" in path:
            continue
        return f"{os.path.relpath(frame.filename)}:{frame.lineno} in {frame.name}"
    return "<unknown>"


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
    bound_thread: str = field(default="")

    def check(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to `loop` on first use, as the drivers do; afterwards raise on any other loop."""
        if self.loop is loop:
            return
        if self.loop is None:
            self.loop = loop
            self.bound_at = _where(self.skip)
            self.bound_thread = threading.current_thread().name
            return
        raise LoopMismatchError(self._message(self.loop, loop))

    def _message(self, bound: asyncio.AbstractEventLoop, current: asyncio.AbstractEventLoop) -> str:
        task = asyncio.current_task(current)
        task_name = task.get_name() if task else "no task"
        return (
            "MongoDB client used from an event loop it does not belong to.\n"
            f"  created at: {self.created_at} (thread {self.created_thread})\n"
            f"  bound to:   loop {id(bound):#x}, first used at {self.bound_at}"
            f" (thread {self.bound_thread}); that loop {_describe_loop(bound)}\n"
            f"  used now:   loop {id(current):#x}, task {task_name!r}, at {_where(self.skip)}"
            f" (thread {threading.current_thread().name})\n"
            "  fix: create the client inside the app's lifespan and run that lifespan on the loop that"
            " uses it: in tests, enter the lifespan inside the test's own loop (an async fixture with the"
            " same scope as the loop), never at import time, in a sync fixture, with asyncio.run() or"
            f" with a sync TestClient. See {DOCS}."
        )


class Guarded:
    """A proxy for a client, database, collection or cursor that checks the loop on every use."""

    __slots__ = ("_binding", "_prefixes", "_target")

    def __init__(self, target: object, binding: Binding, prefixes: tuple[str, ...]) -> None:
        self._target = target
        self._binding = binding
        self._prefixes = prefixes

    def __getattr__(self, name: str) -> Any:
        return self._wrap(getattr(self._target, name))

    def __getitem__(self, key: str) -> Any:
        return self._wrap(self._target[key])  # type: ignore[index]

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    def __repr__(self) -> str:
        return f"Guarded({self._target!r})"

    async def _iterate(self) -> AsyncIterator[Any]:
        self._binding.check(asyncio.get_running_loop())
        async for item in self._target:  # type: ignore[attr-defined]
            yield item

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
            result = method(*args, **kwargs)
            if inspect.isawaitable(result):
                return self._await(result)
            return self._wrap(result)

        return call

    async def _await(self, awaitable: Awaitable[Any]) -> Any:
        # An awaitable may be created in one place and awaited on another loop.
        self._binding.check(asyncio.get_running_loop())
        return self._wrap(await awaitable)


def guard(client: object, *, prefixes: tuple[str, ...], skip: frozenset[str] = frozenset()) -> Any:
    """Wrap `client` so that it, and every database, collection and cursor reached through it, is loop-checked.

    `prefixes` names the modules whose objects are loop-bound and must stay wrapped; `skip` names source
    files to leave out when reporting where the client was created or used (the module that builds clients).
    """
    binding = Binding(created_at=_where(skip), created_thread=threading.current_thread().name, skip=skip)
    loop = _running_loop()
    if loop is not None:
        # Created on a running loop, so that loop is the only one it can be meant for.
        binding.check(loop)
    return Guarded(client, binding, prefixes)
