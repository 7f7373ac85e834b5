"""POST /items with an `Idempotency-Key` (IETF httpapi draft): a retry is safe, whatever became of the first try.

The same key and body return the item the first request created (201, same id, Location and ETag), even
when that request committed but its response was lost; the same key with another body is a 422; a key
expires after IDEMPOTENCY_KEY_TTL_S; a malformed key is a 400 that stores nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from loopsafe_mongo import RunningApp
from pymongo.errors import AutoReconnect

from app.database import Collection, Database
from app.repository import ItemRepository
from app.settings import IN_MEMORY_URL, Settings
from tests.support.api import assert_problem, snapshot
from tests.support.apps import serve_app

pytestmark = pytest.mark.anyio

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"
BOLT = {"name": "bolt", "tags": ["metal"], "quantity": 3}


async def _post(client: httpx.AsyncClient, body: dict[str, Any], key: str | None = KEY) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": f'"{key}"'}
    return await client.post("/items", json=body, headers=headers)


async def _stored(db: Database) -> list[dict[str, Any]]:
    return await db["items"].find({}, sort=[("_id", 1)], limit=0).to_list(None)


async def test_a_retry_with_the_same_key_and_body_returns_the_original_201_and_item(
    client: httpx.AsyncClient, db: Database
) -> None:
    first = await _post(client, BOLT)
    retry = await _post(client, BOLT)

    assert first.status_code == 201, first.text
    assert retry.status_code == 201, retry.text
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["etag"] == first.headers["etag"]
    assert len(await _stored(db)) == 1


async def test_a_retry_after_the_item_changed_returns_the_item_as_it_is_now(
    client: httpx.AsyncClient,
) -> None:
    # The README's promise: the item the key created, with its current version and ETag, not a replay of
    # the first response's bytes.
    first = await _post(client, BOLT)
    changed = await client.patch(first.headers["location"], json={"quantity": 4})
    retry = await _post(client, BOLT)

    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["location"] == first.headers["location"]
    assert retry.json() == changed.json()
    assert retry.headers["etag"] == changed.headers["etag"] != first.headers["etag"]


class _LosesTheFirstInsertReply:
    """A collection whose first insert commits and then fails as a dropped connection would."""

    def __init__(self, collection: Collection) -> None:
        self._collection = collection
        self.lost = False

    async def insert_one(self, document: dict[str, Any]) -> object:
        result = await self._collection.insert_one(document)
        if not self.lost:
            self.lost = True
            raise AutoReconnect("connection closed after the write was applied")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


class _LosingDatabase:
    def __init__(self, db: Database, items: _LosesTheFirstInsertReply) -> None:
        self._db = db
        self._items = items

    def __getitem__(self, name: str) -> Any:
        return self._items if name == "items" else self._db[name]


def _lose_the_first_insert_reply(running_app: RunningApp, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the running app, for this test, a repository whose items collection loses its first insert's reply."""
    current: ItemRepository = running_app.state["items"]
    losing = _LosingDatabase(db, _LosesTheFirstInsertReply(db["items"]))
    # Requests get a copy of the lifespan state, so the next one sees this repository.
    monkeypatch.setitem(running_app.state, "items", ItemRepository(losing, deadline_s=current.deadline_s))  # type: ignore[arg-type]


async def test_a_retry_after_a_committed_write_lost_its_reply_returns_that_item(
    client: httpx.AsyncClient, db: Database, running_app: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lose_the_first_insert_reply(running_app, db, monkeypatch)

    lost = await _post(client, BOLT)
    retry = await _post(client, BOLT)

    assert_problem(lost, 503)  # what the client saw: it cannot tell whether the write landed
    assert retry.status_code == 201, retry.text
    stored = await _stored(db)
    assert [str(doc["_id"]) for doc in stored] == [retry.json()["id"]]


async def test_a_retry_without_a_key_after_a_lost_reply_conflicts_with_itself(
    client: httpx.AsyncClient, db: Database, running_app: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The contrast: what the key is for. Without one, the retry of a committed write is a 409.
    _lose_the_first_insert_reply(running_app, db, monkeypatch)

    assert_problem(await _post(client, BOLT, key=None), 503)
    assert_problem(await _post(client, BOLT, key=None), 409)


async def test_concurrent_requests_with_one_key_create_one_item(client: httpx.AsyncClient, db: Database) -> None:
    responses: list[httpx.Response] = []

    async def post() -> None:
        responses.append(await _post(client, BOLT))

    async with anyio.create_task_group() as tasks:
        for _ in range(8):
            tasks.start_soon(post)

    assert [response.status_code for response in responses] == [201] * 8, [r.text for r in responses]
    assert len({response.json()["id"] for response in responses}) == 1
    assert len(await _stored(db)) == 1


async def test_the_same_key_with_another_body_is_422_and_stores_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    await _post(client, BOLT)
    before = await snapshot(db)

    response = await _post(client, {**BOLT, "quantity": 4})

    assert "different body" in assert_problem(response, 422)["detail"]
    assert await snapshot(db) == before


async def test_a_body_spelt_differently_with_the_same_fields_is_the_same_request(client: httpx.AsyncClient) -> None:
    first = await _post(client, {"name": "nut"})
    retry = await client.post(
        "/items",
        content=b'{"quantity": 0, "tags": [], "name": "nut"}',
        headers={"content-type": "application/json", "Idempotency-Key": KEY},
    )

    assert retry.status_code == 201, retry.text
    assert retry.json() == first.json()


async def test_a_quoted_and_a_bare_key_are_the_same_key(client: httpx.AsyncClient) -> None:
    # The draft's form is a structured-field string, "..."; many clients send the bare key.
    first = await client.post("/items", json=BOLT, headers={"Idempotency-Key": f'"{KEY}"'})
    retry = await client.post("/items", json=BOLT, headers={"Idempotency-Key": KEY})

    assert retry.json() == first.json()


async def test_different_keys_are_different_requests(client: httpx.AsyncClient) -> None:
    await _post(client, BOLT, key="first")

    assert_problem(await _post(client, BOLT, key="second"), 409)


async def test_the_key_is_not_part_of_the_item(client: httpx.AsyncClient) -> None:
    created = (await _post(client, BOLT)).json()
    fetched = (await client.get(f"/items/{created['id']}")).json()
    listed = (await client.get("/items")).json()["items"]

    for item in (created, fetched, *listed):
        assert not any("idempotency" in field for field in item), item


@pytest.fixture
async def short_lived_keys() -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(Settings(mongodb_url=IN_MEMORY_URL, idempotency_key_ttl_s=1)) as http:
        yield http


async def test_an_expired_key_is_a_new_request(short_lived_keys: httpx.AsyncClient) -> None:
    await _post(short_lived_keys, BOLT)
    await anyio.sleep(1.1)  # past IDEMPOTENCY_KEY_TTL_S=1

    other = await _post(short_lived_keys, {"name": "nut"})  # before expiry, this was a 422
    again = await _post(short_lived_keys, BOLT, key="another")

    assert other.status_code == 201, other.text
    assert_problem(again, 409)  # bolt still exists: expiry releases the key, never the item


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b'""', id="empty-quoted"),
        pytest.param(b"k" * 256, id="256-chars"),
        pytest.param(b'"' + b"k" * 256 + b'"', id="256-chars-quoted"),
        pytest.param(b'"abc', id="unterminated"),
        pytest.param(b'"a"b"', id="quote-inside"),
        pytest.param(b"a\\b", id="backslash"),
        pytest.param(b"a b", id="space"),
        pytest.param(b"caf\xc3\xa9", id="not-ascii"),
        pytest.param(b'{"$ne": null}', id="operator"),
    ],
)
async def test_a_malformed_key_is_400_and_stores_nothing(client: httpx.AsyncClient, db: Database, value: bytes) -> None:
    before = await snapshot(db)

    response = await client.post("/items", json=BOLT, headers={b"Idempotency-Key": value})

    assert "Idempotency-Key" in assert_problem(response, 400)["detail"]
    assert await snapshot(db) == before


async def test_two_key_headers_are_400(client: httpx.AsyncClient, db: Database) -> None:
    before = await snapshot(db)

    response = await client.post("/items", json=BOLT, headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")])

    assert_problem(response, 400)
    assert await snapshot(db) == before


async def test_a_key_of_255_characters_is_accepted(client: httpx.AsyncClient) -> None:
    response = await _post(client, BOLT, key="k" * 255)

    assert response.status_code == 201, response.text
