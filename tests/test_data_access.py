"""Requests mixed with direct awaits on the data-access layer and the database, in one test loop."""

from __future__ import annotations

import httpx
import pytest

from app.database import Database
from app.models import ItemCreate, ItemUpdate
from app.repository import DuplicateNameError, ItemNotFoundError, ItemRepository, VersionMismatchError
from tests.support.api import create_item

pytestmark = pytest.mark.anyio


@pytest.fixture
def items(db: Database) -> ItemRepository:
    """The data-access layer over the very database the running app uses."""
    return ItemRepository(db)


async def test_an_item_created_through_the_repository_is_served_by_the_api(
    client: httpx.AsyncClient, items: ItemRepository
) -> None:
    created = await items.create(ItemCreate(name="direct", tags=["x"]))

    response = await client.get(f"/items/{created.id}")

    assert response.json() == created.model_dump(mode="json")


async def test_an_item_created_through_the_api_is_read_by_the_repository(
    client: httpx.AsyncClient, items: ItemRepository
) -> None:
    body = await create_item(client, "via-api", quantity=4)

    item = await items.get(body["id"])

    assert item.model_dump(mode="json") == body


async def test_the_repository_rejects_a_duplicate_name(items: ItemRepository) -> None:
    await items.create(ItemCreate(name="one"))

    with pytest.raises(DuplicateNameError):
        await items.create(ItemCreate(name="one"))


async def test_the_repository_update_checks_the_version_atomically(
    client: httpx.AsyncClient, items: ItemRepository
) -> None:
    body = await create_item(client, "versioned")
    await client.patch(f"/items/{body['id']}", json={"quantity": 1})

    with pytest.raises(VersionMismatchError):
        await items.update(body["id"], ItemUpdate(quantity=2), if_match=[1])
    assert (await items.get(body["id"])).quantity == 1


async def test_the_repository_reports_a_missing_item(items: ItemRepository) -> None:
    with pytest.raises(ItemNotFoundError):
        await items.delete("0123456789abcdef01234567")
