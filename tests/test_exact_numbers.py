"""Integer fields take integers only, judged on the number exactly as written, never on a float's rounding.

Python's JSON parser reads `0.9999999999999999999` as the float 1.0; the API must see the literal. A
literal with a fraction or an exponent whose exact value is an integer (`3.0`, `3e0`) is that integer, as
JSON Schema's `integer` says; anything else is a 422, and nothing is stored or changed.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.database import Database
from tests.support.api import assert_problem, create_item, snapshot

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


async def _post_quantity(client: httpx.AsyncClient, literal: str) -> httpx.Response:
    # Sent as raw text: httpx's json= would serialise a Python float, which is the rounding under test.
    return await client.post("/items", content=f'{{"name": "n", "quantity": {literal}}}', headers=JSON)


def _quantity_errors(problem: dict[str, Any]) -> list[str]:
    return [error["type"] for error in problem["errors"] if "quantity" in error["loc"]]


async def test_a_fraction_just_below_one_is_422_not_rounded_to_one(client: httpx.AsyncClient, db: Database) -> None:
    before = await snapshot(db)
    response = await _post_quantity(client, "0.9999999999999999999")

    assert _quantity_errors(assert_problem(response, 422)) == ["int_from_float"]
    assert await snapshot(db) == before


async def test_a_half_past_float_precision_is_422_not_rounded_to_an_even_integer(
    client: httpx.AsyncClient, db: Database
) -> None:
    before = await snapshot(db)
    response = await _post_quantity(client, "4503599627370497.5")

    assert _quantity_errors(assert_problem(response, 422)) == ["int_from_float"]
    assert await snapshot(db) == before


async def test_a_tiny_fraction_below_float_resolution_is_422(client: httpx.AsyncClient, db: Database) -> None:
    before = await snapshot(db)
    response = await _post_quantity(client, "7.0000000000000000000001")

    assert _quantity_errors(assert_problem(response, 422)) == ["int_from_float"]
    assert await snapshot(db) == before


@pytest.mark.parametrize("literal", ["0.9999999999999999999", "4503599627370497.5"])
async def test_an_update_with_an_inexact_integer_is_422_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, literal: str
) -> None:
    item = await create_item(client, "bolt", quantity=5)
    before = await snapshot(db)

    response = await client.patch(f"/items/{item['id']}", content=f'{{"quantity": {literal}}}', headers=JSON)

    problem = assert_problem(response, 422)
    assert all("quantity" in error["loc"] for error in problem["errors"]), problem
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("literal", "value"), [("3.0", 3), ("3e0", 3), ("30e-1", 3), ("-0.0", 0), ("9007199254740991.0", 2**53 - 1)]
)
async def test_an_exactly_integral_literal_with_a_fraction_or_exponent_is_that_integer(
    client: httpx.AsyncClient, literal: str, value: int
) -> None:
    # Decided: JSON has one number type and JSON Schema's `integer` is any number with a zero fraction,
    # so 3.0 is 3. It is the exact value that decides, so this never lets a rounded value in.
    response = await _post_quantity(client, literal)

    assert response.status_code == 201, response.text
    assert response.json()["quantity"] == value


@pytest.mark.parametrize(
    ("literal", "error"),
    [
        ("9223372036854775808", "less_than_equal"),  # 2**63: past int64
        ("9223372036854775808.0", "int_too_large"),
        ("1e19", "int_too_large"),
        ("1e999999999", "int_too_large"),  # int() of it would build a 400 MB integer
        ("9007199254740992", "less_than_equal"),  # 2**53: past what every JSON client holds exactly
    ],
)
async def test_an_integer_past_the_limit_is_422_however_it_is_written(
    client: httpx.AsyncClient, db: Database, literal: str, error: str
) -> None:
    before = await snapshot(db)
    response = await _post_quantity(client, literal)

    assert _quantity_errors(assert_problem(response, 422)) == [error]
    assert await snapshot(db) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_not_json_and_get_400(client: httpx.AsyncClient, db: Database, literal: str) -> None:
    before = await snapshot(db)
    response = await _post_quantity(client, literal)

    assert "not JSON" in assert_problem(response, 400)["detail"]
    assert await snapshot(db) == before


async def test_a_number_with_an_exponent_too_large_to_read_gets_400(client: httpx.AsyncClient, db: Database) -> None:
    before = await snapshot(db)
    response = await _post_quantity(client, "1e99999999999999999999")

    assert "too long to read" in assert_problem(response, 400)["detail"]
    assert await snapshot(db) == before


async def test_a_fraction_in_a_text_field_is_422_not_text(client: httpx.AsyncClient, db: Database) -> None:
    before = await snapshot(db)
    response = await client.post("/items", content=b'{"name": 1.5}', headers=JSON)

    problem = assert_problem(response, 422)
    assert [error["type"] for error in problem["errors"]] == ["string_type"]
    assert await snapshot(db) == before
