"""Property-based tests (hypothesis) of the API: no 5xx, no change without a 2xx, exact round-trips, whole pages.

Example counts are bounded (EXAMPLES) so the module runs in seconds.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.database import Database
from app.models import ItemCreate
from tests.support.api import snapshot

pytestmark = pytest.mark.anyio

# The function-scoped `client` and `db` fixtures are created once per test and reused by every example
# (hypothesis calls the test body many times inside one pytest test). That is safe here because each
# example starts by emptying the collection through `db`, so none sees another's data; hence the
# health check that warns about exactly this reuse is suppressed on purpose.
EXAMPLES = settings(
    max_examples=50,
    deadline=None,  # the first example pays for the app's warm-up; time is bounded by the count instead
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


async def reset(db: Database) -> None:
    """Start an example from an empty collection (the fixtures outlive the example)."""
    await db["items"].delete_many({})


# Valid values, with the limits read from the model's schema so that they follow the model.
LIMITS = ItemCreate.model_json_schema()["properties"]
NAMES = st.text(min_size=LIMITS["name"]["minLength"], max_size=LIMITS["name"]["maxLength"])
DESCRIPTIONS = st.none() | st.text(max_size=LIMITS["description"]["anyOf"][0]["maxLength"])
TAGS = st.lists(
    st.text(min_size=LIMITS["tags"]["items"]["minLength"], max_size=LIMITS["tags"]["items"]["maxLength"]),
    max_size=LIMITS["tags"]["maxItems"],
)
QUANTITIES = st.integers(min_value=LIMITS["quantity"]["minimum"], max_value=LIMITS["quantity"]["maximum"])
ITEM_CREATES = st.fixed_dictionaries(
    {"name": NAMES}, optional={"description": DESCRIPTIONS, "tags": TAGS, "quantity": QUANTITIES}
)
ITEM_UPDATES = st.fixed_dictionaries(
    {}, optional={"name": NAMES, "description": DESCRIPTIONS, "tags": TAGS, "quantity": QUANTITIES}
).filter(bool)

# Any JSON value, and objects biased towards what matters here: the fields the models know, holding a
# valid value or any other JSON, next to keys that would mean something to MongoDB.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=120)
)
OPERATOR_KEYS = st.sampled_from(["$set", "$ne", "$where", "name.first", "tags.0", "_id", "version", ""])
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(OPERATOR_KEYS | st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "name": NAMES | JSON_VALUES,
        "description": DESCRIPTIONS | JSON_VALUES,
        "tags": TAGS | JSON_VALUES,
        "quantity": QUANTITIES | JSON_VALUES,
    },
)
EXTRA_KEYS = st.dictionaries(OPERATOR_KEYS, JSON_VALUES, max_size=2)
# Valid bodies as one branch of four, so that the "changes data only on 2xx" half is exercised too.
JSON_BODIES = (
    ITEM_CREATES
    | ITEM_UPDATES
    | st.builds(lambda fields, extra: {**extra, **fields}, FIELDS, EXTRA_KEYS | st.just({}))
    | JSON_VALUES
)


def assert_no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@EXAMPLES
@given(body=JSON_BODIES)
async def test_arbitrary_json_body_never_gets_5xx_nor_changes_data_unless_2xx(
    client: httpx.AsyncClient, db: Database, method: str, body: Any
) -> None:
    await reset(db)
    created = await client.post("/items", json={"name": "existing", "tags": ["t"]})
    url = "/items" if method == "POST" else f"/items/{created.json()['id']}"
    before = await snapshot(db)
    response = await client.request(method, url, content=json.dumps(body), headers={"content-type": "application/json"})
    assert_no_server_error(response)
    event(f"status {response.status_code}")
    if response.is_success:
        assert await snapshot(db) != before
    else:
        assert await snapshot(db) == before


@EXAMPLES
@given(data=ITEM_CREATES)
async def test_valid_item_round_trips_through_post_and_get(
    client: httpx.AsyncClient, db: Database, data: dict[str, Any]
) -> None:
    await reset(db)
    created = await client.post("/items", json=data)
    assert created.status_code == 201, created.text
    fetched = await client.get(created.headers["location"])
    assert fetched.status_code == 200
    expected = {"description": None, "tags": [], "quantity": 0, **data}
    assert {key: fetched.json()[key] for key in expected} == expected
    assert fetched.json() == created.json()


@EXAMPLES
@given(
    data=ITEM_CREATES,
    changes=ITEM_UPDATES,
)
async def test_valid_update_changes_exactly_the_fields_sent(
    client: httpx.AsyncClient, db: Database, data: dict[str, Any], changes: dict[str, Any]
) -> None:
    await reset(db)
    created = (await client.post("/items", json=data)).json()
    response = await client.patch(f"/items/{created['id']}", json=changes, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    fetched = (await client.get(f"/items/{created['id']}")).json()
    unchanged = {key: created[key] for key in ("name", "description", "tags", "quantity") if key not in changes}
    assert {key: fetched[key] for key in changes} == changes
    assert {key: fetched[key] for key in unchanged} == unchanged
    assert fetched["version"] == 2


@EXAMPLES
@given(
    initial=st.integers(min_value=0, max_value=25),
    limit=st.integers(min_value=1, max_value=10),
    inserts_between_pages=st.lists(st.integers(min_value=0, max_value=3), max_size=10),
)
async def test_pagination_over_inserts_neither_skips_nor_repeats(
    client: httpx.AsyncClient, db: Database, initial: int, limit: int, inserts_between_pages: list[int]
) -> None:
    await reset(db)
    created: list[str] = []

    async def insert(count: int) -> None:
        for _ in range(count):
            response = await client.post("/items", json={"name": f"item-{len(created)}"})
            created.append(response.json()["id"])

    await insert(initial)
    seen: list[str] = []
    cursor: str | None = None
    for page_number in range(1000):  # a bound, so a cursor bug fails instead of looping forever
        params: dict[str, Any] = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
        page = (await client.get("/items", params=params)).json()
        assert len(page["items"]) <= limit
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # Items created while paging sort after every cursor handed out so far, so they must show up
        # later in this same walk: nothing inserted mid-walk is skipped either.
        await insert(inserts_between_pages[page_number] if page_number < len(inserts_between_pages) else 0)
    assert seen == created


@EXAMPLES
@given(item_id=st.text(max_size=30), method=st.sampled_from(["GET", "PATCH", "DELETE"]))
async def test_arbitrary_item_id_never_gets_5xx(
    client: httpx.AsyncClient, db: Database, item_id: str, method: str
) -> None:
    await reset(db)
    before = await snapshot(db)
    body = {"quantity": 1} if method == "PATCH" else None
    # Percent-encoded whole, as a client must send it; a decoded "/" may then route elsewhere, which is fine.
    response = await client.request(method, "/items/" + quote(item_id, safe=""), json=body)
    assert_no_server_error(response)
    assert await snapshot(db) == before


@EXAMPLES
@given(
    query=st.dictionaries(
        st.sampled_from(["limit", "cursor", "tag", "limit[$gt]", "tag[$ne]"]), st.text(max_size=70), max_size=3
    )
)
async def test_arbitrary_list_query_never_gets_5xx(
    client: httpx.AsyncClient, db: Database, query: dict[str, str]
) -> None:
    await reset(db)
    await client.post("/items", json={"name": "only", "tags": ["t"]})
    response = await client.get("/items", params=query)
    assert_no_server_error(response)


@EXAMPLES
@given(if_match=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40))
async def test_arbitrary_if_match_never_gets_5xx_and_changes_data_only_on_2xx(
    client: httpx.AsyncClient, db: Database, if_match: str
) -> None:
    await reset(db)
    created = (await client.post("/items", json={"name": "target"})).json()
    before = await snapshot(db)
    headers = {b"If-Match": if_match.encode("latin-1")}
    response = await client.patch(f"/items/{created['id']}", json={"quantity": 9}, headers=headers)
    assert_no_server_error(response)
    assert (await snapshot(db) != before) == response.is_success
