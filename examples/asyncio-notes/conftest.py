import pytest
from fastapi import FastAPI
from notes.app import create_app


@pytest.fixture(scope="session")
def app(database_name: str) -> FastAPI:
    return create_app(database_name)
