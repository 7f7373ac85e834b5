"""Bounded validation work: a body built to be expensive to validate gets a small 422, cheaply.

An object with more keys than its model has fields is refused before field validation, and no 422 lists
more than MAX_LISTED_ERRORS errors; `errors_omitted` counts the rest. Timing is measured in
bench/bench_validation.py, not asserted here: these tests pin the size of the work and of the reply.
"""

from __future__ import annotations

import itertools
import json
import string
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Body, FastAPI

from app.database import Database
from app.errors import install_error_handlers
from app.models import MAX_LISTED_ERRORS, Problem
from app.settings import IN_MEMORY_URL, Settings
from tests.support.api import PROBLEM_JSON, create_item, snapshot
from tests.support.apps import serve_app

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
# The hostile body of the finding: 1 MiB made of distinct three-character keys beside a valid name.
MIB = 1_048_576
HOSTILE_KEYS = 131_070
SMALL_REPLY_BYTES = 4_000


@pytest.fixture
async def mib_client() -> AsyncIterator[httpx.AsyncClient]:
    """An app that reads bodies of up to 1 MiB, as the finding's did, whatever the default limit."""
    async with serve_app(Settings(mongodb_url=IN_MEMORY_URL, max_body_bytes=MIB)) as http:
        yield http


def _unknown_keys(count: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits
    return ["".join(chars) for chars in itertools.islice(itertools.product(alphabet, repeat=3), count)]


def _body_with_keys(keys: list[str], **fields: Any) -> bytes:
    return json.dumps({**fields, **dict.fromkeys(keys, 0)}, separators=(",", ":")).encode()


def _capped_problem(response: httpx.Response) -> dict[str, Any]:
    """A 422 problem in the documented shape, `errors_omitted` included; returns its body."""
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    Problem.model_validate(body)
    assert set(body) <= {"type", "title", "status", "detail", "errors", "errors_omitted"}, body
    return body


async def test_a_megabyte_of_unknown_keys_gets_a_small_422_listing_the_first_ones(
    mib_client: httpx.AsyncClient,
) -> None:
    keys = _unknown_keys(HOSTILE_KEYS)
    content = _body_with_keys(keys, name="ek")
    assert len(content) <= MIB

    response = await mib_client.post("/items", content=content, headers=JSON)

    problem = _capped_problem(response)
    assert len(response.content) < SMALL_REPLY_BYTES
    assert [error["loc"] for error in problem["errors"]] == [["body", key] for key in keys[:MAX_LISTED_ERRORS]]
    assert {error["type"] for error in problem["errors"]} == {"extra_forbidden"}
    assert problem["errors_omitted"] == HOSTILE_KEYS - MAX_LISTED_ERRORS
    assert (await mib_client.get("/items")).json()["items"] == []


async def test_an_update_with_a_megabyte_of_unknown_keys_gets_a_small_422_and_changes_nothing(
    mib_client: httpx.AsyncClient,
) -> None:
    item = await create_item(mib_client, "steady")

    response = await mib_client.patch(
        f"/items/{item['id']}", content=_body_with_keys(_unknown_keys(HOSTILE_KEYS), quantity=1), headers=JSON
    )

    problem = _capped_problem(response)
    assert len(response.content) < SMALL_REPLY_BYTES
    assert len(problem["errors"]) == MAX_LISTED_ERRORS
    assert problem["errors_omitted"] == HOSTILE_KEYS - MAX_LISTED_ERRORS
    assert (await mib_client.get(f"/items/{item['id']}")).json() == item


async def test_one_key_more_than_the_model_has_fields_is_refused_naming_only_the_unknown_key(
    client: httpx.AsyncClient, db: Database
) -> None:
    before = await snapshot(db)
    body = {"name": "x", "description": "d", "tags": [], "quantity": 1, "colour": "red"}

    response = await client.post("/items", json=body)

    problem = _capped_problem(response)
    assert [(error["loc"], error["type"]) for error in problem["errors"]] == [(["body", "colour"], "extra_forbidden")]
    assert "errors_omitted" not in problem
    assert await snapshot(db) == before


async def test_unknown_keys_within_the_field_count_are_all_listed_beside_other_errors(
    client: httpx.AsyncClient,
) -> None:
    # Four keys, four fields: not refused early, so every error the model finds is reported.
    response = await client.post("/items", json={"name": 5, "a": 1, "b": 2, "c": 3})

    problem = _capped_problem(response)
    assert sorted(tuple(error["loc"]) for error in problem["errors"]) == [
        ("body", "a"),
        ("body", "b"),
        ("body", "c"),
        ("body", "name"),
    ]
    assert "errors_omitted" not in problem


async def test_duplicate_keys_count_once(mib_client: httpx.AsyncClient) -> None:
    # JSON parsers keep the last of duplicate keys, so 50,000 repeats of one known key are one key.
    content = b'{"name": "x",' + b'"quantity": 1,' * 50_000 + b'"tags": []}'

    response = await mib_client.post("/items", content=content, headers=JSON)

    assert response.status_code == 201, response.text[:500]
    assert response.json()["quantity"] == 1


async def test_any_422_lists_at_most_the_maximum_and_counts_the_rest() -> None:
    # The app's own models cannot produce more than a few errors once the key count is checked, so a
    # route of this test's own, with the app's error handlers, produces a long list.
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/numbers")
    async def numbers(values: Annotated[list[int], Body()]) -> int:
        return len(values)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.post("/numbers", json=["x"] * 500)

    problem = _capped_problem(response)
    assert [error["loc"] for error in problem["errors"]] == [["body", i] for i in range(MAX_LISTED_ERRORS)]
    assert problem["errors_omitted"] == 500 - MAX_LISTED_ERRORS
    assert len(response.content) < SMALL_REPLY_BYTES
