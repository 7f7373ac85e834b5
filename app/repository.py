"""Data access for items: how an item is stored, queried and changed, and nothing about HTTP.

Each write is one atomic database operation: uniqueness comes from a unique index, and an
`If-Match` version check is part of the update's filter, never a read followed by a write.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar

from app.breaker import Breaker
from app.database import Database, DriverError, ObjectId, ReturnDocument, is_duplicate_key, is_unavailable
from app.idempotency import IdempotencyKey
from app.models import Item, ItemCreate, ItemUpdate

COLLECTION = "items"
# Readiness writes (and deletes) a document here while writes are refused, to learn when they are taken again.
PROBE_COLLECTION = "readiness_probes"
logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
# An Idempotency-Key is stored on the item it created, in the same insert, so that it can never exist
# without its item (or the item without it); the API never shows these fields.
_KEY, _FINGERPRINT, _KEY_EXPIRES_AT = "idempotency_key", "idempotency_fingerprint", "idempotency_expires_at"


class ItemNotFoundError(LookupError):
    """No item has this id."""


class DuplicateNameError(ValueError):
    """Another item already has this name."""


class VersionMismatchError(ValueError):
    """The item exists but its version is not one the client expected (`If-Match`)."""


class InvalidCursorError(ValueError):
    """The pagination cursor was not produced by this service."""


class DeadlineExceededError(TimeoutError):
    """A repository call outlived its deadline: answered like a driver timeout (503)."""


class IdempotencyKeyReusedError(ValueError):
    """An Idempotency-Key already used, within its lifetime, for a request with another body."""


class WriteRefusedError(RuntimeError):
    """The database answered a write with an error that is not the client's doing (a full disk, say)."""


class WriteHealth:
    """Whether the database is refusing writes: set by a write it refused, cleared by an insert or update it took.

    The first refusal is logged, with the server's message; the ones after it are not, until an insert or
    update succeeds again (the readiness probe's insert included), so a full disk is one error line, not
    one traceback per request. A delete taken does not end it: deletes pass on a full disk, so one says
    nothing about the writes that need space.
    """

    def __init__(self) -> None:
        self.refusing: str | None = None

    def refused(self, exc: DriverError) -> None:
        if self.refusing is None:
            logger.error("the database refused a write (%s); writes get 503 until one succeeds", _describe(exc))
        self.refusing = _describe(exc)

    def took(self) -> None:
        if self.refusing is not None:
            logger.warning("the database takes writes again")
            self.refusing = None


def _describe(exc: DriverError) -> str:
    # The server's message, without PyMongo's ", full error: {...}" repetition of it.
    return f"{type(exc).__name__}: {str(exc).partition(', full error:')[0][:300]}"


async def ensure_indexes(db: Database) -> None:
    """Create the indexes the service relies on; idempotent, run at every startup.

    One command per index, not one `createIndexes` for all three: FerretDB 1.24 panics on a batch whose
    indexes already exist and drops the connection (tools/ferretdb/README.md).
    """
    items = db[COLLECTION]
    await items.create_index([("name", 1)], unique=True, name="name_unique")
    await items.create_index([("tags", 1), ("_id", 1)], unique=False, name="tags_id")
    # Sparse: only items created with a key have one. Unique: two requests with one key make one item.
    await items.create_index([(_KEY, 1)], unique=True, sparse=True, name="idempotency_key_unique")


def encode_cursor(item_id: str) -> str:
    """An opaque page cursor: the id of the last item seen, so that later inserts never shift pages."""
    return base64.urlsafe_b64encode(bytes.fromhex(item_id)).decode().rstrip("=")


def decode_cursor(cursor: str) -> ObjectId:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursorError("cursor is not valid") from None
    if len(raw) != 12 or encode_cursor(raw.hex()) != cursor:
        raise InvalidCursorError("cursor is not valid")
    return ObjectId(raw)


def _now() -> datetime:
    # BSON dates keep milliseconds; truncating here makes the value we return equal the value stored.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _to_item(doc: dict[str, Any]) -> Item:
    return Item(id=str(doc["_id"]), **{k: v for k, v in doc.items() if k != "_id"})


def _database_call(
    method: Callable[Concatenate[ItemRepository, P], Awaitable[T]],
) -> Callable[Concatenate[ItemRepository, P], Coroutine[Any, Any, T]]:
    """Run the method through the repository's breaker (app.breaker) and under its deadline, if it has
    one: past the deadline, DeadlineExceededError."""

    @functools.wraps(method)
    async def bounded(self: ItemRepository, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self.breaker.call():
            if self.deadline_s is None:
                return await method(self, *args, **kwargs)
            try:
                async with asyncio.timeout(self.deadline_s):
                    if self.cancel_at_deadline:
                        # Cancelling drops an operation still queued for a Motor thread; one already running
                        # goes on until the driver's own timeout, off the loop, and its result is discarded.
                        return await method(self, *args, **kwargs)
                    self._check_loop_here()
                    return await self._apart(method(self, *args, **kwargs))
            except TimeoutError:
                raise DeadlineExceededError(f"the database did not answer within {self.deadline_s} s") from None

    return bounded


def _write(
    method: Callable[Concatenate[ItemRepository, P], Awaitable[T]],
) -> Callable[Concatenate[ItemRepository, P], Coroutine[Any, Any, T]]:
    """Record in `self.writes` whether the database took this write; a refusal becomes WriteRefusedError."""
    return _recorded(method, proves_writes_taken=True)


def _release(
    method: Callable[Concatenate[ItemRepository, P], Awaitable[T]],
) -> Callable[Concatenate[ItemRepository, P], Coroutine[Any, Any, T]]:
    """As `_write`, for a write that frees space (a delete): its refusal counts, its success does not."""
    return _recorded(method, proves_writes_taken=False)


def _recorded(
    method: Callable[Concatenate[ItemRepository, P], Awaitable[T]], *, proves_writes_taken: bool
) -> Callable[Concatenate[ItemRepository, P], Coroutine[Any, Any, T]]:
    @functools.wraps(method)
    async def recorded(self: ItemRepository, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            result = await method(self, *args, **kwargs)
        except DriverError as exc:
            # Unavailable is the breaker's business; a duplicate never gets here (the methods map it).
            if is_unavailable(exc):
                raise
            self.writes.refused(exc)
            raise WriteRefusedError(str(exc)) from exc
        if proves_writes_taken:
            self.writes.took()
        return result

    return recorded


class ItemRepository:
    """Items in one database. The app's lifespan builds one over its database handle, and every request
    shares it: it holds that collection handle and the deadline, and nothing that changes between calls.

    Every public method goes through `breaker`: after the database failed as unavailable, one call at a
    time tries it and the others raise DatabaseRecoveringError at once (app.breaker says why).
    With `deadline_s`, every public method answers within that time, or raises DeadlineExceededError. The
    driver's own budget (`timeoutMS`) does not bound latency: Motor runs each operation on a thread pool
    of CPU count x 5 threads, and an operation that waits for a thread has not started its clock
    (measured: 60 concurrent reads on a frozen server, 500 ms budget, answered after up to 7.9x the
    budget); PyMongo async's server selection checks its clock every 500 ms only (Settings.database_deadline_s).
    The deadline counts from the call, so it bounds the wait as well. With `cancel_at_deadline` (Motor)
    the wait is cancelled; without it (PyMongo, and the default) the operation runs in a task of its own,
    never cancelled, which the caller stops waiting for at the deadline and `drain()` waits for at shutdown.
    """

    def __init__(
        self,
        db: Database,
        *,
        deadline_s: float | None = None,
        cancel_at_deadline: bool = False,
        breaker: Breaker | None = None,
    ) -> None:
        self._items = db[COLLECTION]
        self.deadline_s = deadline_s
        self.cancel_at_deadline = cancel_at_deadline
        # Shared with readiness (app.main), so that readiness says 200 only while calls get through.
        self.breaker = breaker or Breaker()
        self.writes = WriteHealth()
        self._probes = db[PROBE_COLLECTION]
        self._apart_calls: set[asyncio.Future[Any]] = set()

    def _check_loop_here(self) -> None:
        """Let the loop guard check the running loop now, in the caller's task, before a call moves to a task
        of its own (`_apart`): there, a LoopMismatchError could name only this module, not the caller, and the
        client's first use would be recorded here. A synchronous call on the guarded collection, with no I/O,
        is checked at once."""
        self._items.find({}, sort=[("_id", 1)], limit=1)

    def _apart(self, call: Awaitable[T]) -> Awaitable[T]:
        """The call in a task of its own, shielded: cancelling the wait for it does not cancel it.

        A PyMongo operation must never be cancelled (Settings.may_cancel_database_calls); it ends within
        the driver's own timeouts.
        """
        task = asyncio.ensure_future(call)
        self._apart_calls.add(task)
        task.add_done_callback(self._apart_call_ended)
        return asyncio.shield(task)

    def _apart_call_ended(self, task: asyncio.Future[Any]) -> None:
        self._apart_calls.discard(task)
        # Marked as seen: when nobody waits for it any more, its error was already answered as the deadline's
        # 503, and asyncio would log it again as "Task exception was never retrieved".
        if not task.cancelled():
            task.exception()

    async def drain(self) -> None:
        """Wait for the calls the app stopped waiting for at their deadline (within the driver's timeouts):
        the lifespan calls it before the client is closed, so that no operation is cut off, or cancelled
        when the loop ends."""
        if self._apart_calls:
            await asyncio.wait(set(self._apart_calls))

    @_database_call
    @_write
    async def create(self, data: ItemCreate, *, idempotency: IdempotencyKey | None = None) -> Item:
        """Insert a new item; with a key already used for the same body, the item that key created."""
        now = _now()
        doc: dict[str, Any] = {
            "_id": ObjectId(),
            **data.model_dump(),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        if idempotency is not None:
            doc |= {
                _KEY: idempotency.key,
                _FINGERPRINT: idempotency.fingerprint,
                _KEY_EXPIRES_AT: now + idempotency.ttl,
            }
        try:
            await self._items.insert_one(doc)
        except DriverError as exc:
            if not is_duplicate_key(exc):
                raise
            if idempotency is None:
                raise DuplicateNameError(data.name) from None
            return await self._after_duplicate(doc, idempotency, now)
        return _to_item(doc)

    async def _after_duplicate(self, doc: dict[str, Any], idempotency: IdempotencyKey, now: datetime) -> Item:
        """An insert with a key broke a unique index (either: a retry breaks both): the item this key
        created, if the key is alive, or else the insert again as a new request."""
        earlier = await self._items.find_one({_KEY: idempotency.key})
        if earlier is None:
            raise DuplicateNameError(doc["name"])  # taken by another request
        if earlier[_KEY_EXPIRES_AT] > now:
            if earlier[_FINGERPRINT] != idempotency.fingerprint:
                raise IdempotencyKeyReusedError(idempotency.key)
            return _to_item(earlier)
        # Expired: the key is released from its item, and this request is a new one.
        await self._items.find_one_and_update(
            {"_id": earlier["_id"], _KEY: idempotency.key},
            {"$unset": {_KEY: "", _FINGERPRINT: "", _KEY_EXPIRES_AT: ""}},
            return_document=ReturnDocument.AFTER,
        )
        try:
            await self._items.insert_one(doc)
        except DriverError as exc:
            if is_duplicate_key(exc):
                raise DuplicateNameError(doc["name"]) from None
            raise
        return _to_item(doc)

    @_database_call
    async def get(self, item_id: str) -> Item:
        doc = await self._items.find_one({"_id": ObjectId(item_id)})
        if doc is None:
            raise ItemNotFoundError(item_id)
        return _to_item(doc)

    @_database_call
    async def page(
        self, *, limit: int, cursor: str | None = None, tag: str | None = None
    ) -> tuple[list[Item], str | None]:
        """One page in creation order, and the cursor of the next page (None on the last page)."""
        query: dict[str, Any] = {}
        if cursor is not None:
            query["_id"] = {"$gt": decode_cursor(cursor)}
        if tag is not None:
            query["tags"] = tag
        # One extra document tells whether another page follows, without a count.
        docs = await self._items.find(query, sort=[("_id", 1)], limit=limit + 1).to_list(None)
        items = [_to_item(doc) for doc in docs[:limit]]
        next_cursor = encode_cursor(items[-1].id) if len(docs) > limit else None
        return items, next_cursor

    @_database_call
    @_write
    async def update(self, item_id: str, changes: ItemUpdate, *, if_match: list[int] | None = None) -> Item:
        """Apply `changes` and bump the version; with `if_match`, only if the version is one of those."""
        query = self._match(item_id, if_match)
        update = {
            "$set": {**changes.model_dump(exclude_unset=True), "updated_at": _now()},
            "$inc": {"version": 1},
        }
        try:
            doc = await self._items.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
        except DriverError as exc:
            if is_duplicate_key(exc):
                raise DuplicateNameError(str(changes.name)) from None
            raise
        if doc is None:
            await self._raise_missing(item_id, if_match)
        return _to_item(doc)

    @_database_call
    @_release
    async def delete(self, item_id: str, *, if_match: list[int] | None = None) -> None:
        result = await self._items.delete_one(self._match(item_id, if_match))
        if result.deleted_count == 0:
            await self._raise_missing(item_id, if_match)

    @_database_call
    @_write
    async def probe_write(self) -> None:
        """Write a document and delete it: for readiness, while writes are refused, to see if they are taken."""
        probe = {"_id": ObjectId(), "at": _now()}
        await self._probes.insert_one(probe)
        await self._probes.delete_one({"_id": probe["_id"]})

    @staticmethod
    def _match(item_id: str, if_match: list[int] | None) -> dict[str, Any]:
        query: dict[str, Any] = {"_id": ObjectId(item_id)}
        if if_match is not None:
            query["version"] = {"$in": if_match}
        return query

    async def _raise_missing(self, item_id: str, if_match: list[int] | None) -> NoReturn:
        # The write already matched nothing; this read only chooses between 404 and 412.
        if if_match is not None and await self._items.find_one({"_id": ObjectId(item_id)}) is not None:
            raise VersionMismatchError(item_id)
        raise ItemNotFoundError(item_id)
