"""A write the database refuses for its own reasons (a full disk) is a 503 problem with Retry-After, logged
once, and readiness says 503 until the database takes writes again.

The full disk is simulated: the items collection answers inserts and updates with the very error FerretDB
1.24 sends when SQLite finds its disk full (captured on a 3 MiB tmpfs, see docs/reliability.md), and lets
deletes pass, as FerretDB did there, so the test runs anywhere, without mounting a file system.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from loopsafe_mongo import RunningApp
from pymongo.errors import OperationFailure

from app.database import Database
from app.repository import ItemRepository
from tests.support.api import assert_problem

pytestmark = pytest.mark.anyio

DISK_FULL_MESSAGE = (
    "[msg_insert.go:168 handler.(*Handler).MsgInsert] [db.go:167 fsql.(*DB).InTransaction] "
    "database or disk is full (13)"
)
DISK_FULL_REPLY = {"ok": 0.0, "errmsg": DISK_FULL_MESSAGE, "code": 1, "codeName": "InternalError"}


class _Disk:
    full = True


class _OnDisk:
    """A collection whose writes fail as FerretDB's do while `disk.full`."""

    def __init__(self, collection: Any, disk: _Disk) -> None:
        self._collection = collection
        self._disk = disk

    def _check(self) -> None:
        if self._disk.full:
            raise OperationFailure(DISK_FULL_MESSAGE, code=1, details=DISK_FULL_REPLY)

    async def insert_one(self, document: dict[str, Any]) -> object:
        self._check()
        return await self._collection.insert_one(document)

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> object:
        self._check()
        return await self._collection.find_one_and_update(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


class _DiskDatabase:
    def __init__(self, db: Database, disk: _Disk) -> None:
        self._db = db
        self._disk = disk

    def __getitem__(self, name: str) -> Any:
        return _OnDisk(self._db[name], self._disk)


@pytest.fixture
def disk(running_app: RunningApp, db: Database, monkeypatch: pytest.MonkeyPatch) -> _Disk:
    """A full disk under the running app's repository, for this test (free it with `disk.full = False`)."""
    disk = _Disk()
    current: ItemRepository = running_app.state["items"]
    on_disk = ItemRepository(_DiskDatabase(db, disk), deadline_s=current.deadline_s, breaker=current.breaker)  # type: ignore[arg-type]
    # Requests get a copy of the lifespan state, so the next one sees this repository.
    monkeypatch.setitem(running_app.state, "items", on_disk)
    return disk


async def test_a_write_the_database_refuses_is_a_503_problem_with_retry_after(
    client: httpx.AsyncClient, disk: _Disk
) -> None:
    response = await client.post("/items", json={"name": "bolt"})

    assert_problem(response, 503)
    assert response.headers["retry-after"].isdigit()
    assert "disk" not in response.text  # the server's message stays in the log


async def test_refused_writes_are_logged_once_in_one_line(
    client: httpx.AsyncClient, disk: _Disk, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        for name in ("bolt", "nut", "washer"):
            assert_problem(await client.post("/items", json={"name": name}), 503)

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    assert "database or disk is full" in errors[0].getMessage()
    assert errors[0].exc_info is None  # one line, no traceback


async def test_a_delete_between_refused_writes_does_not_log_the_refusal_again(
    client: httpx.AsyncClient, disk: _Disk, caplog: pytest.LogCaptureFixture
) -> None:
    disk.full = False
    created = await client.post("/items", json={"name": "bolt"})
    assert created.status_code == 201, created.text
    disk.full = True

    with caplog.at_level(logging.INFO):
        assert_problem(await client.post("/items", json={"name": "nut"}), 503)
        # Deletes pass on a full disk: taking one proves nothing about writes that need space.
        assert (await client.delete(f"/items/{created.json()['id']}")).status_code == 204
        assert_problem(await client.post("/items", json={"name": "washer"}), 503)

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    assert "writes again" not in caplog.text


async def test_readiness_stays_503_after_a_delete_is_taken_on_a_full_disk(
    client: httpx.AsyncClient, disk: _Disk
) -> None:
    disk.full = False
    created = await client.post("/items", json={"name": "bolt"})
    assert created.status_code == 201, created.text
    disk.full = True
    assert_problem(await client.post("/items", json={"name": "nut"}), 503)

    assert (await client.delete(f"/items/{created.json()['id']}")).status_code == 204

    assert_problem(await client.get("/health/ready"), 503)


async def test_readiness_is_503_while_writes_are_refused_and_200_once_they_are_taken_again(
    client: httpx.AsyncClient, disk: _Disk
) -> None:
    assert_problem(await client.post("/items", json={"name": "bolt"}), 503)
    assert_problem(await client.get("/health/ready"), 503)

    disk.full = False  # space freed; no request writes: readiness's own write finds out

    assert (await client.get("/health/ready")).status_code == 200
    assert (await client.post("/items", json={"name": "bolt"})).status_code == 201
