from typing import Any

from fastapi.testclient import TestClient


def test_an_added_item_is_listed(client: TestClient) -> None:
    client.post("/items", json={"name": "pen"})

    assert client.get("/items").json() == [{"name": "pen"}]


async def test_an_added_item_is_stored(client: TestClient, db: Any) -> None:
    client.post("/items", json={"name": "ink"})

    assert await db["items"].count_documents({"name": "ink"}) == 1
