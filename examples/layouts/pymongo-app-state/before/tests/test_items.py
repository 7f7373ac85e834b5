from fastapi.testclient import TestClient
from shop.main import app


def test_an_added_item_is_listed(client: TestClient) -> None:
    client.post("/items", json={"name": "pen"})

    assert client.get("/items").json() == [{"name": "pen"}]


async def test_an_added_item_is_stored(client: TestClient) -> None:
    client.post("/items", json={"name": "ink"})

    assert await app.state.db["items"].count_documents({"name": "ink"}) == 1
