"""The client's lifecycle: made only when the lifespan starts, closed when it ends, one per app."""

from __future__ import annotations

import pytest
from loopsafe_mongo import RunningApp, run_lifespan

import app.database
from app.database import Client, Database, InvalidOperationError
from app.main import create_app
from app.settings import Driver, Settings

pytestmark = pytest.mark.anyio


class ClientSpy:
    """Records every client `create_client` builds, through the real function."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.created: list[Client] = []
        real = app.database.create_client

        def spy(settings: Settings) -> Client:
            client = real(settings)
            self.created.append(client)
            return client

        monkeypatch.setattr(app.database, "create_client", spy)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ClientSpy:
    return ClientSpy(monkeypatch)


async def test_building_the_app_creates_no_client(spy: ClientSpy, settings: Settings) -> None:
    create_app(settings)

    assert spy.created == []


async def test_the_lifespan_creates_one_client_and_yields_its_database(spy: ClientSpy, settings: Settings) -> None:
    async with run_lifespan(create_app(settings)) as running:
        assert len(spy.created) == 1
        assert running.state["db"].name == settings.mongodb_db


async def test_a_second_app_in_the_same_process_gets_its_own_client(spy: ClientSpy, settings: Settings) -> None:
    async with run_lifespan(create_app(settings)) as first, run_lifespan(create_app(settings)) as second:
        assert len(spy.created) == 2
        assert spy.created[0] is not spy.created[1]
        assert first.state["db"] is not second.state["db"]


@pytest.mark.parametrize("driver", list(Driver))
async def test_the_client_is_closed_when_the_lifespan_ends(driver: Driver) -> None:
    # A real driver refuses any operation once closed; a closed port is enough, since the refusal
    # comes before any network I/O.
    settings = Settings(
        mongodb_url="mongodb://127.0.0.1:9/",
        mongodb_driver=driver,
        mongodb_server_selection_timeout_ms=100,
        mongodb_timeout_ms=100,
    )
    async with run_lifespan(create_app(settings)) as running:
        db = running.state["db"]

    with pytest.raises(InvalidOperationError, match="after close"):
        await db.command("ping")


async def test_the_db_fixture_is_the_handle_the_running_app_uses(running_app: RunningApp, db: Database) -> None:
    assert db is running_app.state["db"]
