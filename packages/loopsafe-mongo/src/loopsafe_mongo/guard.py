"""The loop guard: a thin proxy that pins a MongoDB client to one event loop and fails loudly elsewhere.

Motor and PyMongo's AsyncMongoClient bind to the first loop that runs an operation on them and later fail
on any other loop with a cryptic error; mongomock binds to nothing and never fails. Wrapping a client in
this guard makes all of them fail the same way, with a message that says what went wrong and how to fix it.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import os
import sys
import sysconfig
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pymongo.errors import InvalidOperation

__all__ = ["DEFAULT_DOCS", "DRIVER_MODULES", "STRICT_ENV", "ClientCreatedOffLoopError", "LoopMismatchError", "guard"]

# Where the message sends a reader. A command, because it works wherever the package is installed.
DEFAULT_DOCS = "Run `python -m loopsafe_mongo` for each bad pattern and its fix"
# The modules whose objects hold connections bound to a loop, so the guard keeps them wrapped.
DRIVER_MODULES = ("motor", "pymongo.asynchronous", "gridfs.asynchronous", "mongomock_motor")
# Set to 1 (the pytest plugin does) to refuse clients created with no running loop, where they are made.
STRICT_ENV = "LOOPSAFE_MONGO_STRICT"

# Code that is not the user's: the interpreter's library, installed packages, and the virtualenv's
# launchers (`.venv/bin/pytest` is a script, but not one a reader wants to be pointed at).
_NOT_PROJECT = tuple(
    os.path.join(os.path.normcase(os.path.normpath(os.path.abspath(path))), "")
    for path in {
        *(sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib", "scripts")),
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
    }
)
_THIS_FILE = os.path.normcase(__file__)


class LoopMismatchError(RuntimeError):
    """A loop-bound MongoDB client was used from an event loop other than the one it is bound to."""


class ClientCreatedOffLoopError(LoopMismatchError):
    """In strict mode: a client was created with no running event loop (at import time, in a sync fixture)."""


@functools.lru_cache(maxsize=4096)
def _is_project_code(path: str, skip: frozenset[str]) -> bool:
    """Cached per file: it runs for every frame of every stack the guard describes."""
    # "<frozen importlib...>", "<string>" and the like are the interpreter's own.
    if path.startswith("<"):
        return False
    # Launchers may be started by a path with ".." in it (`../.venv/bin/pytest`): compare normalised paths.
    path = os.path.normcase(os.path.normpath(os.path.abspath(path)))
    if path == _THIS_FILE or path in skip:
        return False
    return not path.startswith(_NOT_PROJECT) and "site-packages" not in path


def _short(path: str) -> str:
    """The path relative to the working directory or the import root it lives under, as a reader would look for it."""
    for base in sorted({os.getcwd(), *filter(None, sys.path)}, key=len, reverse=True):
        if path.startswith(base.rstrip(os.sep) + os.sep):
            return path[len(base.rstrip(os.sep)) + 1 :]
    return path


def _is_test_runner(path: str) -> bool:
    return any(f"{os.sep}{package}{os.sep}" in path for package in ("_pytest", "pluggy"))


Stack = tuple[tuple[str, int, str], ...]  # (file, line, function) from the innermost frame out


def _stack() -> Stack:
    """The calling stack as plain data: cheap to take, and it keeps no frame alive."""
    frames = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return tuple(frames)


def _describe(stack: Stack, skip: frozenset[str]) -> str:
    """The innermost frame of project code on the stack and, if another, the outermost: the test or task it serves.

    The search stops at the test runner that called that code, so a pytest run inside a test (pytester)
    names its own test, not the one that started it.
    """
    project: list[tuple[str, int, str]] = []
    for entry in stack:
        if project and _is_test_runner(entry[0]):
            break
        if _is_project_code(entry[0], skip):
            project.append(entry)
    if not project:
        return "<unknown>"
    inner, outer = (f"{_short(path)}:{line} in {name}" for path, line, name in (project[0], project[-1]))
    return inner if inner == outer else f"{inner}, called from {outer}"


def _where(skip: frozenset[str]) -> str:
    return _describe(_stack(), skip)


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


def _client_kind(client: object) -> str:
    """The class name the drivers use in "Cannot use ... after close": Motor wraps PyMongo's MongoClient."""
    names = (cls.__name__ for cls in type(client).__mro__)
    return "AsyncMongoClient" if any(name.endswith("AsyncMongoClient") for name in names) else "MongoClient"


_FIX = (
    "  fix: create the client in the app's lifespan and run that lifespan on the loop that uses the client."
    " In tests, enter it in an async fixture on the test's own loop; never at import time, in a sync"
    " fixture, with asyncio.run() or with a sync TestClient."
)


_NO_LOOP_FIX = (
    "  fix: call the driver inside a coroutine that runs on the client's loop. Motor starts an operation when"
    " the method is called, so `asyncio.run(coll.find_one())` or `run_coroutine_threadsafe(coll.find_one(), loop)`"
    " calls it before any loop runs it: pass a coroutine that awaits it instead (`async def main(): await"
    " coll.find_one()`), and in tests await it in an async fixture or test on the test's own loop."
)


@dataclass
class Binding:
    """Which loop one client belongs to, and where it came from. Shared by every proxy of that client."""

    client: object
    created_stack: Stack
    created_thread: str
    skip: frozenset[str]
    docs: str
    loop: asyncio.AbstractEventLoop | None = None
    # None: bound when created, on the running loop; else the stack of the first use, which bound it.
    bound_stack: Stack | None = None
    bound_thread: str = ""
    closed: bool = field(default=False)

    # Stacks are kept as data and described only for a message: a client is made for every test.
    @property
    def created_at(self) -> str:
        return _describe(self.created_stack, self.skip)

    @property
    def bound_at(self) -> str:
        if self.bound_stack is None:
            return "its creation"
        return f"its first use, at {_describe(self.bound_stack, self.skip)}"

    def check(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to `loop` on first use, as the drivers do; afterwards raise on any other loop."""
        if self.loop is loop:
            return
        if self.loop is None:
            self.loop = loop
            self.bound_stack = _stack()
            self.bound_thread = threading.current_thread().name
            return
        raise LoopMismatchError(self.mismatch_message(loop))

    def check_open(self) -> None:
        """After close, fail as the drivers do, in memory too (mongomock would answer from a closed client)."""
        if self.closed:
            raise InvalidOperation(f"Cannot use {_client_kind(self.client)} after close")

    def _created(self) -> str:
        return f"  created at: {self.created_at} (thread {self.created_thread})\n"

    def mismatch_message(self, current: asyncio.AbstractEventLoop | None) -> str:
        """Why a use from `current` (None: no running loop, as in sync code or a thread) is refused."""
        if current is None:
            used = f"  used now:   with no running event loop, at {_where(self.skip)}"
            fix = _NO_LOOP_FIX
        else:
            task = asyncio.current_task(current)
            task_name = task.get_name() if task else "no task"
            used = f"  used now:   loop {id(current):#x}, task {task_name!r}, at {_where(self.skip)}"
            fix = _FIX
        if self.loop is None:
            bound = "  bound to:   no loop yet\n"
        else:
            bound = (
                f"  bound to:   loop {id(self.loop):#x} since {self.bound_at} (thread {self.bound_thread});"
                f" that loop {_describe_loop(self.loop)}\n"
            )
        return (
            "MongoDB client used from an event loop it does not belong to.\n"
            + self._created()
            + bound
            + f"{used} (thread {threading.current_thread().name})\n"
            + f"{fix} {self.docs}."
        )

    def off_loop_message(self) -> str:
        return (
            "MongoDB client created with no running event loop, so it would bind to whichever loop uses it first"
            " and fail on every other one (strict mode: the loopsafe-mongo pytest plugin or"
            f" {STRICT_ENV}=1).\n" + self._created() + f"{_FIX} {self.docs}."
        )


class Guarded:
    """A proxy for a client, database, collection, cursor or session that checks the loop on every use.

    It passes for the driver's own object: `isinstance`, equality, hashing, truthiness, copying and the
    driver's error messages behave as they do without the guard.
    """

    __slots__ = ("_binding", "_prefixes", "_target")
    _target: Any  # whatever the driver returned: the caller types it, not the guard
    _binding: Binding
    _prefixes: tuple[str, ...]

    def __init__(self, target: object, binding: Binding, prefixes: tuple[str, ...]) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_binding", binding)
        object.__setattr__(self, "_prefixes", prefixes)

    # isinstance() falls back to __class__, so `isinstance(db, AsyncIOMotorDatabase)` holds for the proxy,
    # and driver code that type-checks its arguments (GridFS buckets, ODMs) accepts it.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return self._target.__class__  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        # Slots are not set yet while copy/pickle build an empty instance: no target, no recursion.
        try:
            target = object.__getattribute__(self, "_target")
        except AttributeError:
            raise AttributeError(name) from None
        return self._wrap(getattr(target, name), name)

    def __getitem__(self, key: str) -> Any:
        return self._wrap(self._target[key], key)

    def __setattr__(self, name: str, value: object) -> None:
        # Drivers set flags on objects they handed out (a cursor marks its session, say).
        setattr(self._target, name, _unwrap(value))

    def __delattr__(self, name: str) -> None:
        delattr(self._target, name)

    def __eq__(self, other: object) -> bool:
        result: bool = self._target == _unwrap(other)
        return result

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._target)

    def __bool__(self) -> bool:
        # PyMongo's database and collection refuse truth testing; the proxy must not hide that.
        return bool(self._target)

    def __copy__(self) -> Guarded:
        return _proxy(copy.copy(self._target), self._binding, self._prefixes)

    def __deepcopy__(self, memo: dict[int, object]) -> Guarded:
        return _proxy(copy.deepcopy(self._target, memo), self._binding, self._prefixes)

    def __aiter__(self) -> Guarded:
        return _proxy(aiter(self._target), self._binding, self._prefixes)

    async def __anext__(self) -> Any:
        self._check_await()
        return self._wrap(await anext(self._target))

    async def __aenter__(self) -> Any:
        self._check_await()
        return self._wrap(await self._target.__aenter__())

    async def __aexit__(self, *exc_info: object) -> Any:
        self._binding.check(asyncio.get_running_loop())
        return await self._target.__aexit__(*exc_info)

    def __repr__(self) -> str:
        return f"Guarded({self._target!r})"

    def _check_await(self) -> None:
        self._binding.check(asyncio.get_running_loop())
        self._binding.check_open()

    def _wrap(self, value: Any, name: object = None) -> Any:
        if name == "get_io_loop":
            # Motor's GridFS bucket (and anything else built from a guarded handle) keeps the loop it is given
            # and schedules its work there: hand it a loop that checks who is scheduling.
            return lambda: _CheckedLoop(self._guard_call(value, closes=False)(), self._binding)
        if type(value).__module__.startswith(self._prefixes):
            return _proxy(value, self._binding, self._prefixes)
        if isinstance(name, str) and name.startswith("_") and ("close" in name or "cleanup" in name):
            # A driver object built on a guarded handle (a GridFS cursor) cleans up through it from its
            # finalizer, on whatever loop collects it: that is the driver's housekeeping, not a use to check.
            return value
        if callable(value):
            return self._guard_call(value, closes=name == "close" and self._target is self._binding.client)
        return value

    def _guard_call(self, method: Callable[..., Any], *, closes: bool) -> Callable[..., Any]:
        binding = self._binding
        if inspect.iscoroutinefunction(method):
            # Nothing runs until awaited, so check then, on the loop that awaits: PyMongo's async close()
            # may be created on a worker thread and awaited on the loop.
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                self._check_await()
                result = await method(*_unwrap_all(args), **_unwrap_kwargs(kwargs))
                if closes:
                    binding.closed = True
                return self._wrap(result)

            return call_async

        def call(*args: Any, **kwargs: Any) -> Any:
            # Check before the call: Motor picks its loop when the method is called, not when awaited.
            loop = _running_loop()
            if loop is not None:
                binding.check(loop)
            try:
                result = method(*_unwrap_all(args), **_unwrap_kwargs(kwargs))
            except RuntimeError as exc:
                # Motor, called with no running loop, fails inside ("There is no current event loop", or a
                # closed loop it was bound to): the guard's message says why, bound or not.
                if loop is None:
                    raise LoopMismatchError(binding.mismatch_message(None)) from exc
                raise
            if closes:
                binding.closed = True
            if inspect.isawaitable(result):
                if loop is None and binding.loop is not None:
                    _discard(result)
                    raise LoopMismatchError(binding.mismatch_message(None))
                return self._await(result)
            return self._wrap(result)

        return call

    async def _await(self, awaitable: Awaitable[Any]) -> Any:
        # An awaitable may be created in one place and awaited on another loop.
        try:
            self._check_await()
        except (LoopMismatchError, InvalidOperation):
            _discard(awaitable)
            raise
        return self._wrap(await awaitable)


class _CallableGuarded(Guarded):
    """For driver objects that are callable (Motor's and PyMongo's databases and collections are, to raise a hint)."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The driver raises its own TypeError, with its hint about a misspelt method name.
        return self._target(*args, **kwargs)


class _CheckedLoop:
    """The client's loop, for driver objects built from a guarded handle: scheduling work on it from another
    loop raises the guard's error instead of asyncio's "attached to a different loop"."""

    def __init__(self, loop: asyncio.AbstractEventLoop, binding: Binding) -> None:
        self._loop = loop
        self._binding = binding

    # The calls that start an operation. Others (call_soon from a finalizer, say) pass through unchecked.
    _STARTS_WORK = frozenset({"run_in_executor", "create_task", "create_future"})

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._loop, name)
        if name not in self._STARTS_WORK:
            return value

        def checked(*args: Any, **kwargs: Any) -> Any:
            loop = _running_loop()
            if loop is not self._loop:
                raise LoopMismatchError(self._binding.mismatch_message(loop))
            return value(*args, **kwargs)

        return checked


def _proxy(target: object, binding: Binding, prefixes: tuple[str, ...]) -> Guarded:
    cls = _CallableGuarded if callable(target) else Guarded
    return cls(target, binding, prefixes)


def _discard(awaitable: Awaitable[Any]) -> None:
    """It will never be awaited: spare the reader a "never awaited" warning on top of the real error."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()
    elif isinstance(awaitable, asyncio.Future) and not awaitable.get_loop().is_closed():
        awaitable.cancel()


def _unwrap(value: object) -> object:
    # type(), not isinstance(): the proxy claims to be the driver's class.
    return object.__getattribute__(value, "_target") if issubclass(type(value), Guarded) else value


def _unwrap_all(args: tuple[Any, ...]) -> tuple[Any, ...]:
    # The driver checks the types of what it is given (a session, say): hand it its own objects.
    return tuple([_unwrap(arg) for arg in args]) if args else args


def _unwrap_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: _unwrap(value) for name, value in kwargs.items()} if kwargs else kwargs


def _strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def guard(
    client: object,
    *,
    prefixes: tuple[str, ...] = DRIVER_MODULES,
    skip: frozenset[str] = frozenset(),
    docs: str = DEFAULT_DOCS,
    strict: bool | None = None,
) -> Any:
    """Wrap `client` so that it, and every database, collection and cursor reached through it, is loop-checked.

    Call it where the client is built (`guard(AsyncIOMotorClient(url))`): the message names that line
    as where the client was created. `prefixes` names the modules whose objects are loop-bound and must
    stay wrapped; `skip` names source files to leave out when reporting where the client was created or
    used (a module that builds clients for others); `docs` ends the message. `strict` (default: the
    LOOPSAFE_MONGO_STRICT environment variable, which the pytest plugin sets) refuses a client created
    with no running loop, so an import-time client fails where it is made, even if only one test uses it.
    """
    skip = frozenset(os.path.normcase(os.path.normpath(os.path.abspath(path))) for path in skip)
    thread = threading.current_thread().name
    binding = Binding(client=client, created_stack=_stack(), created_thread=thread, skip=skip, docs=docs)
    loop = _running_loop()
    if loop is None:
        if _strict_from_env() if strict is None else strict:
            raise ClientCreatedOffLoopError(binding.off_loop_message())
    else:
        # Created on a running loop, so that loop is the only one it can be meant for.
        binding.loop, binding.bound_thread = loop, thread
    return _proxy(client, binding, prefixes)
