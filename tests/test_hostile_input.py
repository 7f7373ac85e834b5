"""Hostile requests: MongoDB operators, malformed ids, cursors, limits and bodies, and odd Unicode.

Each gets a 4xx problem and changes nothing, or, where the value is legitimate, round-trips exactly.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.database import Database
from tests.support.api import assert_problem, create_item, snapshot

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
ABSENT_ID = "0123456789abcdef01234567"


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Two ordinary items and one whose tags look like operators, by name."""
    items = [
        await create_item(client, "alpha", tags=["red"], quantity=1),
        await create_item(client, "beta", tags=["blue"], quantity=2),
        await create_item(client, "dollar", tags=["$ne", '{"$ne":null}', ".*", "\x00", "$where"]),
    ]
    return {item["name"]: item for item in items}


# Operator-shaped values where the models expect a string, a number or a list of strings.
OPERATOR_VALUES: list[Any] = [
    {"$ne": None},
    {"$gt": ""},
    {"$regex": ".*"},
    {"$where": "sleep(1000) || true"},
    {"$expr": {"$eq": [1, 1]}},
    {"$function": {"body": "function() { return true; }", "args": [], "lang": "js"}},
    {"$in": ["alpha", "beta"]},
    {"nested": {"$gt": 0}},
]
# Arrays where a scalar belongs would make an equality match "any of" (or an update store an array).
ARRAY_VALUES: list[Any] = [["alpha"], [{"$ne": None}]]
FIELDS = ["name", "description", "tags", "quantity"]
# Keys that would be update operators, dotted paths or server-owned fields if they reached the database.
OPERATOR_KEYS: list[dict[str, Any]] = [
    {"$set": {"version": 99}},
    {"$inc": {"version": 1}},
    {"$unset": {"name": ""}},
    {"$rename": {"name": "gone"}},
    {"$where": "true"},
    {"name.first": "x"},
    {"tags.0": "x"},
    {"tags.$": "x"},
    {"$[]": "x"},
    {"_id": "0123456789abcdef01234567"},
    {"version": 99},
    {"created_at": "2000-01-01T00:00:00Z"},
    {"": "x"},
]


def _value_cases() -> list[Any]:
    scalars = [f for f in FIELDS if f != "tags"]
    cases = [(field, value) for field in scalars for value in OPERATOR_VALUES + ARRAY_VALUES]
    # Tags are a list of strings: an operator in place of the list, inside it, or a list inside it.
    cases += [("tags", value) for value in OPERATOR_VALUES]
    cases += [("tags", [value]) for value in OPERATOR_VALUES + ARRAY_VALUES]
    return [pytest.param(field, value, id=f"{field}={json.dumps(value)}") for field, value in cases]


@pytest.mark.parametrize(("field", "value"), _value_cases())
async def test_operator_in_a_create_field_is_rejected_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], field: str, value: Any
) -> None:
    before = await snapshot(db)
    response = await client.post("/items", json={"name": "new", field: value})
    assert_problem(response, 422)
    assert await snapshot(db) == before


@pytest.mark.parametrize(("field", "value"), _value_cases())
async def test_operator_in_an_update_field_is_rejected_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], field: str, value: Any
) -> None:
    before = await snapshot(db)
    response = await client.patch(f"/items/{seeded['alpha']['id']}", json={field: value})
    assert_problem(response, 422)
    assert await snapshot(db) == before


@pytest.mark.parametrize("extra", OPERATOR_KEYS, ids=json.dumps)
async def test_operator_or_dotted_key_in_a_create_body_is_rejected_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], extra: dict[str, Any]
) -> None:
    before = await snapshot(db)
    response = await client.post("/items", json={"name": "new", **extra})
    assert_problem(response, 422)
    assert await snapshot(db) == before


@pytest.mark.parametrize("extra", OPERATOR_KEYS, ids=json.dumps)
async def test_operator_or_dotted_key_in_an_update_body_is_rejected_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], extra: dict[str, Any]
) -> None:
    before = await snapshot(db)
    # With and without a legitimate field beside it: the bad key must not ride along with a good one.
    for body in ({**extra}, {"quantity": 7, **extra}):
        response = await client.patch(f"/items/{seeded['alpha']['id']}", json=body)
        assert_problem(response, 422)
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    "content",
    [
        # A JSON array or a scalar where an object belongs: nothing to pick fields from.
        b'[{"name": "x"}]',
        b'[{"$set": {"name": "x"}}]',
        b'"$where"',
        b"null",
        b"42",
        # Duplicate keys: the parser keeps the last, and here that one is an operator.
        b'{"name": "x", "name": {"$ne": null}}',
    ],
    ids=["array-of-objects", "update-pipeline", "string", "null", "number", "duplicate-key"],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_body_that_is_not_a_plain_object_is_rejected_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], method: str, content: bytes
) -> None:
    before = await snapshot(db)
    url = "/items" if method == "POST" else f"/items/{seeded['alpha']['id']}"
    response = await client.request(method, url, content=content, headers=JSON)
    assert_problem(response, 422)
    assert await snapshot(db) == before


# Path segments as sent on the wire (percent-encoded where a client would have to).
HOSTILE_IDS = [
    "%7B%22%24ne%22%3Anull%7D",  # {"$ne":null}
    "%7B%22%24gt%22%3A%22%22%7D",  # {"$gt":""}
    "$ne",
    "%24where",
    "%5Bobject%20Object%5D",
    ".*",
    "*",
    "g" * 24,
    "0123456789abcdef0123456",  # 23 hex digits
    "0123456789abcdef012345678",  # 25
    "0123456789abcdef01234567%00",
    "0123456789abcdef01234567%0A",  # a regex `$` must not let a trailing newline through
    "%200123456789abcdef01234567",
    "0123456789abcdef0123456%C3%A9",
    "%ED%A0%80" * 8,  # an encoded lone surrogate: not UTF-8
    "%EF%BC%90" * 24,  # fullwidth digits are digits to str.isdigit, not hex to the database
]


@pytest.mark.parametrize("item_id", HOSTILE_IDS)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_malformed_item_id_in_the_path_is_rejected_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], method: str, item_id: str
) -> None:
    before = await snapshot(db)
    body = {"quantity": 5} if method == "PATCH" else None
    response = await client.request(method, f"/items/{item_id}", json=body)
    problem = assert_problem(response, 422)
    assert [error["loc"] for error in problem["errors"]] == [["path", "item_id"]]
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=%7B%22%24gt%22%3A0%7D", "limit"),
        ("limit=$gt", "limit"),
        ("limit=[1]", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=101", "limit"),
        ("limit=1e2", "limit"),
        ("limit=0x10", "limit"),
        ("limit=True", "limit"),
        ("limit=", "limit"),
        ("limit=%00", "limit"),
        ("limit=%EF%BC%95", "limit"),  # fullwidth 5
        ("limit=" + "9" * 5000, "limit"),
        ("cursor=%7B%22%24ne%22%3Anull%7D", "cursor"),
        ("cursor=$ne", "cursor"),
        ("cursor=", "cursor"),
        ("cursor=" + "A" * 65, "cursor"),
        ("cursor=!!!!!!!!!!!!!!!!", "cursor"),
        ("cursor=AAAAAAAAAAAAAAA", "cursor"),  # 11 bytes
        ("cursor=AAAAAAAAAAAAAAAAAA", "cursor"),  # 13 bytes
        ("cursor=AAAAAAAAAAAAAAAA%3D%3D", "cursor"),  # padded: not the canonical spelling we hand out
        ("cursor=AAAAAAAAAAAAAAA%0A", "cursor"),
        ("cursor=%00", "cursor"),
        ("cursor=%C3%A9%C3%A9", "cursor"),
        ("tag=", "tag"),
        ("tag=" + "x" * 31, "tag"),
    ],
)
async def test_malformed_list_parameter_gets_422_naming_it(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], query: str, param: str
) -> None:
    before = await snapshot(db)
    response = await client.get(f"/items?{query}")
    problem = assert_problem(response, 422)
    assert [error["loc"] for error in problem["errors"]] == [["query", param]]
    assert await snapshot(db) == before


@pytest.mark.parametrize("tag", ["$ne", '{"$ne":null}', ".*", "\x00", "$where"])
async def test_operator_shaped_tag_filter_matches_only_that_literal_tag(
    client: httpx.AsyncClient, seeded: dict[str, dict[str, Any]], tag: str
) -> None:
    # Accepted, not refused: a tag is free text and items may carry these tags. What matters is that the
    # value is compared as a string; as an operator or a pattern it would match alpha and beta as well.
    response = await client.get("/items", params={"tag": tag})
    assert response.status_code == 200
    assert [item["name"] for item in response.json()["items"]] == ["dollar"]


@pytest.mark.parametrize(
    "query",
    ["tag[$ne]=x", "tag[$regex]=.*", "limit[$gt]=0", "$where=1", "_id[$gt]=0", "tags.0=red", "filter=%7B%7D"],
)
async def test_unknown_query_parameters_are_ignored_not_interpreted(
    client: httpx.AsyncClient, seeded: dict[str, dict[str, Any]], query: str
) -> None:
    # FastAPI ignores parameters a route does not declare; bracket and dotted spellings mean nothing to
    # it, so they can only be ignored: the answer is the unfiltered first page, exactly.
    baseline = await client.get("/items")
    response = await client.get(f"/items?{query}")
    assert response.status_code == 200
    assert response.json() == baseline.json()


@pytest.mark.parametrize("limit", ["+1", "%201", "1.0", "01"])
async def test_plain_spellings_of_an_integer_limit_are_accepted(
    client: httpx.AsyncClient, seeded: dict[str, dict[str, Any]], limit: str
) -> None:
    # Accepted on purpose: query values are text, and pydantic's lax integer parsing reads these as 1,
    # unambiguously. They reach the database as the int 1, never as text.
    response = await client.get(f"/items?limit={limit}")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


async def _write_with_if_match(client: httpx.AsyncClient, method: str, item_id: str, if_match: str) -> httpx.Response:
    """A PATCH or DELETE of the item carrying this If-Match value."""
    body = {"quantity": 5} if method == "PATCH" else None
    # Header values are latin-1 on the wire, as Starlette decodes them.
    headers = {b"If-Match": if_match.encode("latin-1")}
    return await client.request(method, f"/items/{item_id}", json=body, headers=headers)


@pytest.mark.parametrize(
    "if_match",
    [
        pytest.param("1", id="unquoted"),
        pytest.param('"1', id="unterminated"),
        pytest.param("", id="empty"),
        pytest.param(",", id="comma"),
        pytest.param('{"$ne": null}', id="operator"),
        pytest.param('"1" "2"', id="no-comma"),
        pytest.param("W/1", id="weak-unquoted"),
        pytest.param('"1"x', id="trailing-text"),
    ],
)
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_malformed_if_match_gets_400_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], method: str, if_match: str
) -> None:
    before = await snapshot(db)
    response = await _write_with_if_match(client, method, seeded["alpha"]["id"], if_match)
    assert_problem(response, 400)
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    "if_match",
    [
        '"abc"',
        '"-1"',
        '"01"',
        '"1.0"',
        '"+1"',
        'W/"1"',  # weak tags never match under If-Match's strong comparison
        # SUPERSCRIPT ONE: obs-text, legal in a tag (RFC 9110), and a digit to str.isdigit, but not version 1.
        '"\u00b9"',
        '"9223372036854775807"',
        # Past int64: never a version of ours, and not encodable in a BSON query either.
        '"9223372036854775808"',
        # Past the 4300 digits that int() converts.
        '"' + "9" * 5000 + '"',
    ],
)
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_if_match_that_names_no_current_version_gets_412_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], method: str, if_match: str
) -> None:
    before = await snapshot(db)
    response = await _write_with_if_match(client, method, seeded["alpha"]["id"], if_match)
    assert_problem(response, 412)
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
async def test_body_that_is_not_declared_json_gets_422_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, content_type: str | None
) -> None:
    # FastAPI parses only JSON media types; any other body is raw bytes, which is not an object, hence
    # 422 (not 415). The point here: never stored, never a 500.
    before = await snapshot(db)
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/items", content=b'{"name": "sneaky"}', headers=headers)
    assert_problem(response, 422)
    assert await snapshot(db) == before


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
async def test_json_media_type_variants_are_accepted(client: httpx.AsyncClient, content_type: str) -> None:
    # Legitimate: a charset parameter and a +json structured suffix both still mean JSON.
    response = await client.post("/items", content=b'{"name": "variant"}', headers={"content-type": content_type})
    assert response.status_code == 201
    assert response.json()["name"] == "variant"


@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b'{"name": }',
        b"{'name': 'x'}",
        b'{"name": "x",}',
        b'{"name": "x"} trailing',
        b'{"name": "\\u12"}',
        b'{"name": "x\xff"}',
        b"\xff\xfe\xfd",
        b'{"name": "x", "quantity": ' + b"9" * 5000 + b"}",
        b"[" * 60_000,
        b'{"name": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"}",
    ],
    ids=[
        "unclosed",
        "missing-value",
        "single-quotes",
        "trailing-comma",
        "trailing-garbage",
        "bad-escape",
        "invalid-utf8-in-string",
        "invalid-utf8",
        "5000-digit-number",
        "deep-arrays",
        "deep-objects",
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_unparsable_body_gets_400_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, seeded: dict[str, dict[str, Any]], method: str, content: bytes
) -> None:
    before = await snapshot(db)
    url = "/items" if method == "POST" else f"/items/{seeded['alpha']['id']}"
    response = await client.request(method, url, content=content, headers=JSON)
    assert_problem(response, 400)
    assert await snapshot(db) == before


@pytest.mark.parametrize("content", [b'{"name": "x\xff"}', b"\xff\xfe\xfd"], ids=["in-a-string", "throughout"])
async def test_a_body_that_is_not_utf8_gets_400_saying_so(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post("/items", content=content, headers=JSON)

    problem = assert_problem(response, 400)
    assert "UTF-8" in problem["detail"]  # not a complaint about numbers (NaN, Infinity), as it once was


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "x" * 101}, ["body", "name"]),
        ({"name": "x" * 60_000}, ["body", "name"]),
        ({"name": "x", "description": "d" * 1001}, ["body", "description"]),
        ({"name": "x", "tags": ["t" * 31]}, ["body", "tags", 0]),
        ({"name": "x", "tags": ["t"] * 21}, ["body", "tags"]),
        ({"name": "x", "tags": ["t"] * 10_000}, ["body", "tags"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "x", "quantity": 2**63}, ["body", "quantity"]),
        ({"name": "x", "quantity": -1}, ["body", "quantity"]),
        ({"name": "x", "quantity": 1.5}, ["body", "quantity"]),
        ({"name": "x", "quantity": "5"}, ["body", "quantity"]),
        ({"name": "x", "quantity": True}, ["body", "quantity"]),
        ({"name": ["[" * 900 + "]" * 900]}, ["body", "name"]),
    ],
    ids=[
        "name-101",
        "name-60k",
        "description-1001",
        "tag-31",
        "21-tags",
        "10k-tags",
        "empty-name",
        "quantity-2**63",
        "quantity-negative",
        "quantity-float",
        "quantity-string",
        "quantity-bool",
        "nested-name",
    ],
)
async def test_out_of_range_value_gets_422_without_echoing_it(
    client: httpx.AsyncClient, db: Database, body: dict[str, Any], loc: list[str | int]
) -> None:
    before = await snapshot(db)
    response = await client.post("/items", json=body)
    problem = assert_problem(response, 422)
    assert [error["loc"] for error in problem["errors"]] == [loc]
    # Input values are never echoed: the reply to 60 KB of name is a few hundred bytes.
    assert len(response.content) < 1000
    assert await snapshot(db) == before


async def test_nested_json_within_the_parser_limit_gets_422(client: httpx.AsyncClient, db: Database) -> None:
    # The JSON parser recurses, so its depth limit is the recursion limit (about 1000) less the depth of
    # the stack that calls it, which varies (xdist, anyio); 400 levels stay well inside it. The model then
    # refuses the list at the top, so the depth never reaches validation or the database.
    before = await snapshot(db)
    content = b'{"name": "x", "tags": ' + b"[" * 400 + b"]" * 400 + b"}"
    response = await client.post("/items", content=content, headers=JSON)
    problem = assert_problem(response, 422)
    assert [error["loc"] for error in problem["errors"]] == [["body", "tags", 0]]
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    "escaped",
    ["\\ud800", "\\udfff", "x\\ud800y", "\\udc00\\ud800"],
    ids=["high", "low", "inside", "reversed-pair"],
)
@pytest.mark.parametrize("field", ["name", "description"])
async def test_lone_surrogate_gets_422_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, field: str, escaped: str
) -> None:
    # Valid JSON, but not Unicode text: it cannot be encoded as UTF-8, so neither BSON nor a JSON reply
    # could hold it. Refused at validation rather than failing in the driver.
    before = await snapshot(db)
    body = {"name": "x", field: "PLACEHOLDER"}
    content = json.dumps(body).replace("PLACEHOLDER", escaped).encode()
    response = await client.post("/items", content=content, headers=JSON)
    problem = assert_problem(response, 422)
    assert [error["loc"] for error in problem["errors"]] == [["body", field]]
    assert await snapshot(db) == before


ODD_TEXT = [
    pytest.param("nul\x00byte", id="nul"),
    pytest.param("\x01\x1f\x7f", id="control"),
    pytest.param("e\u0301", id="decomposed-e-acute"),
    pytest.param("\u00e9", id="composed-e-acute"),
    pytest.param("\U0001f469\u200d\U0001f469\u200d\U0001f467", id="zwj-family"),
    pytest.param("\u202egnp.exe", id="rtl-override"),
    pytest.param("\ufeffbom", id="bom"),
    pytest.param("zero\u200bwidth", id="zero-width-space"),
    pytest.param("\u2028\u2029\u0085", id="line-separators"),
    pytest.param("\U0001d518\U0010ffff\ufffe", id="astral-and-noncharacters"),
    pytest.param("\ufb01", id="ligature-fi"),
    pytest.param(" padded ", id="spaces"),
    pytest.param("$ne", id="dollar"),
    pytest.param("a.b", id="dot"),
    pytest.param("\U0001f600" * 100, id="100-emoji"),
]


@pytest.mark.parametrize("text", ODD_TEXT)
async def test_odd_unicode_within_limits_round_trips_exactly(client: httpx.AsyncClient, text: str) -> None:
    # Accepted on purpose: each is a valid Unicode string within the length limits, counted in code
    # points (100 emoji are 400 UTF-8 bytes). The API stores text as given: no normalisation, no
    # trimming, so composed and decomposed forms are different names.
    created = await create_item(client, text, description=text, tags=[text[:30]])
    fetched = await client.get(f"/items/{created['id']}")
    assert fetched.status_code == 200
    assert (fetched.json()["name"], fetched.json()["description"], fetched.json()["tags"]) == (text, text, [text[:30]])
    listed = await client.get("/items", params={"tag": text[:30]})
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]


async def test_composed_and_decomposed_names_are_distinct_items(client: httpx.AsyncClient) -> None:
    # No normalisation means the unique index sees two different names, so both are created.
    first = await create_item(client, "\u00e9")
    second = await create_item(client, "e\u0301")
    assert first["id"] != second["id"]


async def test_name_over_100_code_points_is_rejected_even_if_short_in_graphemes(
    client: httpx.AsyncClient, db: Database
) -> None:
    # 51 visible characters, 101 code points: the limit counts code points, as the model and schema say.
    before = await snapshot(db)
    response = await client.post("/items", json={"name": "e\u0301" * 50 + "x"})
    assert_problem(response, 422)
    assert await snapshot(db) == before


async def test_surrogate_pair_escape_is_decoded_to_one_character(client: httpx.AsyncClient) -> None:
    # A correctly paired escape is ordinary JSON for an astral character: accepted, unlike a lone half.
    response = await client.post("/items", content=b'{"name": "\\ud83d\\ude00"}', headers=JSON)
    assert response.status_code == 201
    assert response.json()["name"] == "\U0001f600"


async def test_empty_body_gets_422_naming_the_body(client: httpx.AsyncClient, db: Database) -> None:
    # No body is a missing body, a validation error, rather than unparsable JSON.
    before = await snapshot(db)
    response = await client.post("/items", content=b"", headers=JSON)
    problem = assert_problem(response, 422)
    assert [error["loc"] for error in problem["errors"]] == [["body"]]
    assert await snapshot(db) == before


async def test_absent_well_formed_id_gets_404(client: httpx.AsyncClient, seeded: dict[str, dict[str, Any]]) -> None:
    # The contrast to the malformed ids above: a valid id that names nothing is a 404, not a 422.
    assert_problem(await client.get(f"/items/{ABSENT_ID}"), 404)
