from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from loopsafe_mongo import guard
from mongomock_motor import AsyncMongoMockClient
from shop.main import app, get_db

mock_client = guard(AsyncMongoMockClient())


@pytest.fixture(scope="session")
def db() -> Any:
    return mock_client["shop"]


@pytest.fixture(scope="session")
def client(db: Any) -> Iterator[TestClient]:
    app.dependency_overrides[get_db] = lambda: db
    with TestClient(app) as client:
        yield client
