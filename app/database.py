"""The client lifecycle, and the only module that imports a MongoDB driver.

`open_database` builds a client on the running loop, hands out a loop-guarded database handle and closes
the client on exit. Everything else in the app talks to the small typed protocols defined here, so the
driver (Motor or PyMongo async) and the backend (a server or in memory) change in this file alone.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import anyio.to_thread
import pymongo
from bson import ObjectId
from dns.exception import DNSException
from loopsafe_mongo import guard
from loopsafe_mongo.guard import DRIVER_MODULES
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import ConfigurationError, ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.errors import InvalidOperation as InvalidOperationError
from pymongo.uri_parser import split_options

from app.settings import Driver, Settings, redact_url

__all__ = [
    "Client",
    "Collection",
    "Database",
    "DriverError",
    "InvalidOperationError",
    "InvalidSettingError",
    "ObjectId",
    "ReturnDocument",
    "close_client",
    "create_client",
    "is_duplicate_key",
    "is_unavailable",
    "open_database",
    "unreachable_error",
]

Document = dict[str, Any]
# Every error a driver raises derives from this; app.errors maps it to a response.
DriverError = PyMongoError

# Objects from these modules hold connections bound to a loop, so the guard keeps them wrapped: the
# drivers' own, and this module's in-memory stand-in for PyMongo async.
_LOOP_BOUND_MODULES = (*DRIVER_MODULES, __name__)


class InvalidSettingError(ValueError):
    """A setting the driver rejected when building the client; the message names the setting."""


class Cursor(Protocol):
    async def to_list(self, length: int | None = None) -> list[Document]: ...


class InsertOneResult(Protocol):
    @property
    def inserted_id(self) -> Any: ...


class DeleteResult(Protocol):
    @property
    def deleted_count(self) -> int: ...


class Collection(Protocol):
    """The part of a driver's collection API this service uses (identical in Motor and PyMongo async)."""

    async def insert_one(self, document: Document) -> InsertOneResult: ...
    async def find_one(self, filter: Document) -> Document | None: ...
    def find(self, filter: Document, *, sort: list[tuple[str, int]], limit: int) -> Cursor: ...
    async def find_one_and_update(
        self, filter: Document, update: Document, *, return_document: bool
    ) -> Document | None: ...
    async def delete_one(self, filter: Document) -> DeleteResult: ...
    async def delete_many(self, filter: Document) -> DeleteResult: ...
    async def create_index(
        self, keys: list[tuple[str, int]], *, unique: bool, name: str, sparse: bool = False
    ) -> str: ...


class Database(Protocol):
    @property
    def name(self) -> str: ...
    def __getitem__(self, name: str) -> Collection: ...
    async def command(self, command: str) -> Document: ...
    async def list_collection_names(self) -> list[str]: ...
    async def drop_collection(self, name: str) -> Document: ...


# mongomock-motor types this class as AsyncIOMotorClient, a generic whose argument does not matter here.
class Client(Protocol):
    def __getitem__(self, name: str) -> Database: ...
    def close(self) -> object: ...


class _InMemoryAsyncMongoClient(AsyncMongoMockClient):  # type: ignore[type-arg]
    """mongomock with PyMongo async's shape: the one difference the app meets is that `close()` is awaited."""

    async def close(self) -> None:  # type: ignore[override]  # async on purpose: the PyMongo async shape
        """Nothing to release in memory; a coroutine so that callers await it as with AsyncMongoClient."""


def is_duplicate_key(exc: BaseException) -> bool:
    """True when a write broke a unique index.

    MongoDB reports code 11000 (DuplicateKeyError) for every write. FerretDB 1.x does so for inserts
    only; an update that breaks a unique index fails with code 1 and SQLite's "UNIQUE constraint failed".
    """
    if isinstance(exc, DuplicateKeyError):
        return True
    return isinstance(exc, OperationFailure) and exc.code == 1 and "UNIQUE constraint failed" in str(exc)


def dns_failure(exc: BaseException) -> DNSException | None:
    """The DNS error behind a driver error, if any: a `mongodb+srv://` name that did not resolve.

    Both drivers resolve the SRV and TXT records at their first operation, not when the client is
    built, and report any failure as a ConfigurationError raised from dnspython's exception.
    """
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, DNSException):
            return cause
        cause = cause.__cause__
    return None


def error_name(exc: BaseException) -> str:
    """The error's class for logs, with the DNS error's when there is one: `ConfigurationError (DNS NXDOMAIN)`,
    or what to check when the credentials were refused."""
    if credentials_refused(exc):
        return f"{type(exc).__name__} (the database refused the user and password in MONGODB_URL)"
    dns = dns_failure(exc)
    return type(exc).__name__ if dns is None else f"{type(exc).__name__} (DNS {type(dns).__name__})"


# MongoDB's error code for credentials it refused: an unknown user, a wrong password or mechanism.
_AUTHENTICATION_FAILED = 18


def credentials_refused(exc: BaseException) -> bool:
    """True when the server refused the user and password in MONGODB_URL."""
    return isinstance(exc, OperationFailure) and exc.code == _AUTHENTICATION_FAILED


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database is down, unreachable or too slow", worth a 503.

    A name that does not resolve counts too, NXDOMAIN included: DNS answers change while the app runs (a
    resolver restarts, a new cluster's records propagate, a negative answer expires), and the drivers
    resolve again at the next operation. A URL that can never work fails when the client is built.

    Refused credentials count too, as a deliberate choice: they are fixed on the server (a user created,
    a password rotated back) as often as in the app's settings, so the app starts and answers 503 as for
    a database that is down, and logs one line naming MONGODB_URL (error_name) instead of exiting.
    """
    if credentials_refused(exc):
        return True
    if isinstance(exc, ConfigurationError):
        return dns_failure(exc) is not None
    return isinstance(exc, ConnectionFailure) or (isinstance(exc, PyMongoError) and exc.timeout)


def unreachable_error(db: Database) -> BaseException | None:
    """The error of the driver's last check of the server when every server it knows failed it, else None.

    The drivers check the servers in the background (SDAM heartbeats) and keep an operation waiting
    until MONGODB_SERVER_SELECTION_TIMEOUT_MS; a failed check (connection refused at once, a silent host
    after MONGODB_CONNECT_TIMEOUT_MS) says the database is unreachable well before that. Reading the
    driver's topology description is cheap and neither waits nor cancels anything.
    """
    servers = cast(Any, db).client.topology_description.server_descriptions().values()
    errors = [server.error for server in servers]
    if not errors or any(error is None for error in errors):
        return None
    return cast(BaseException, errors[0])


async def ping(db: Database, settings: Settings) -> None:
    """Ping the server within READY_TIMEOUT_MS: TimeoutError or DriverError if it does not answer.

    PyMongo async gets the budget as its own timeout (`pymongo.timeout`), never a cancellation (see
    Settings.database_deadline_s); Motor's ping runs on a thread, so cancelling the wait is safe.
    """
    seconds = settings.ready_timeout_ms / 1000
    if settings.may_cancel_database_calls:
        async with asyncio.timeout(seconds):
            await db.command("ping")
    else:
        with pymongo.timeout(seconds):
            await db.command("ping")


def _new_client(settings: Settings) -> Any:
    if settings.in_memory:
        # tz_aware so that dates come back as aware UTC datetimes, as with the real drivers below.
        if settings.mongodb_driver is Driver.PYMONGO:
            return _InMemoryAsyncMongoClient(tz_aware=True)
        return AsyncMongoMockClient(tz_aware=True)
    url = settings.mongodb_url.get_secret_value()
    options: dict[str, Any] = {
        "tz_aware": True,
        "timeoutMS": settings.mongodb_timeout_ms,
        "serverSelectionTimeoutMS": settings.mongodb_server_selection_timeout_ms,
        "connectTimeoutMS": settings.mongodb_connect_timeout_ms,
        "appname": "items-api",
    }
    try:
        # The drivers only warn about an unknown option or a bad option value, then ignore it: such a
        # URL can never work as written, so it fails here, naming the setting (no DNS is involved).
        if query := url.partition("?")[2]:
            split_options(query, validate=True, warn=False)
        if settings.mongodb_driver is Driver.PYMONGO:
            return AsyncMongoClient(url, **options)
        return AsyncIOMotorClient(url, **options)
    except (ConfigurationError, ValueError) as exc:
        # Driver messages can quote the URL; show only the redacted form.
        detail = str(exc).replace(url, redact_url(url))
        raise InvalidSettingError(f"MONGODB_URL is not usable: {detail}") from None


def create_client(settings: Settings) -> Client:
    """A new client for the configured driver and backend, loop-guarded unless `LOOP_GUARD=false`.

    Call it on the loop that will use the client: inside a lifespan, as `open_database` does. It is
    public so that the regression tests can reproduce the bad patterns with exactly this client.
    """
    client = _new_client(settings)
    if settings.loop_guard:
        client = guard(client, prefixes=_LOOP_BOUND_MODULES, skip=frozenset({os.path.normcase(__file__)}))
    return cast(Client, client)


async def close_client(client: Client, *, may_block: bool = True) -> None:
    """Close a client from `create_client`, whichever driver made it.

    `may_block=False` is for the in-memory backend, whose close() has nothing to wait for.
    """
    # PyMongo async's close() is a coroutine, awaited on the client's loop. Motor's is a blocking call
    # that can take seconds when connections are broken (measured: 10 s after a cut), so it runs on a
    # worker thread, off the loop; in memory that hop would be the slowest part of a test's lifespan.
    close = client.close  # looked up once: mongomock-motor answers each lookup with a dir() of its client
    if inspect.iscoroutinefunction(close):
        await close()
    elif may_block:
        await anyio.to_thread.run_sync(close)
    else:
        close()


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Create a client on the running loop, yield its database handle, and close the client on exit."""
    client = create_client(settings)
    try:
        yield client[settings.mongodb_db]
    finally:
        await close_client(client, may_block=not settings.in_memory)
