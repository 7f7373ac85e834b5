"""The `/items` resource: create, read, list, update and delete, with ETags and `If-Match`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from pydantic.json_schema import SkipJsonSchema

from app.deps import ItemsDep, SettingsDep, WritableItemsDep
from app.errors import problem_responses
from app.idempotency import KEY_PATTERN, MAX_KEY_CHARS, IdempotencyKey, fingerprint, parse_key
from app.json_body import ExactJsonRoute
from app.models import Item, ItemCreate, ItemPage, ItemUpdate

# ExactJsonRoute: JSON numbers reach the models exactly as written (see app.json_body).
router = APIRouter(prefix="/items", tags=["items"], route_class=ExactJsonRoute)

ItemIdPath = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{24}$", description="A 24-hex-digit item id.")]


# RFC 9110 entity-tag: optional W/, then a quoted string of etagc (visible characters but '"', and
# obs-text, which Starlette hands over decoded as latin-1).
_ETAGC = r"[\x21\x23-\x7e\x80-\xff]*"
_TAG = rf'(?:W/)?"{_ETAGC}"'
_IF_MATCH = re.compile(rf"\s*{_TAG}(?:\s*,\s*{_TAG})*\s*")
# What the schema publishes: the same, less obs-text (obsolete, and not ASCII) and with `*`.
_PUBLISHED_TAG = r'(?:W/)?"[\x21\x23-\x7e]*"'
IF_MATCH_PATTERN = rf"^(?:\*|{_PUBLISHED_TAG}(?:, ?{_PUBLISHED_TAG})*)$"
_ENTITY_TAG = re.compile(rf'(W/)?"({_ETAGC})"')
_VERSION = re.compile(r"[1-9][0-9]{0,18}")
MAX_VERSION = 2**63 - 1
IfMatch = Annotated[
    # SkipJsonSchema: an absent header is None, but a header is never the JSON null; the schema says string.
    str | SkipJsonSchema[None],
    Header(
        description='`*` or quoted versions, e.g. `"3"`: apply only if the item is at one of them.',
        # Published, not enforced by FastAPI: parse_if_match answers anything else with 400 (not 422).
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
    ),
]


def etag(item: Item) -> str:
    return f'"{item.version}"'


def parse_if_match(value: str | None) -> list[int] | None:
    """The versions an `If-Match` header accepts; None when any version will do (absent or `*`)."""
    if value is None or value.strip() == "*":
        return None
    if not _IF_MATCH.fullmatch(value):
        raise HTTPException(400, 'If-Match must be * or a list of quoted entity tags, such as "3".')
    versions: list[int] = []
    for weak, opaque in _ENTITY_TAG.findall(value):
        # If-Match compares strongly, so a weak tag never matches (RFC 9110, 13.1.1). Other tags are
        # simply not ours: "03" is not "3", and nothing past int64 is a version we issued.
        if not weak and _VERSION.fullmatch(opaque) and int(opaque) <= MAX_VERSION:
            versions.append(int(opaque))
    return versions


IdempotencyKeyHeader = Annotated[
    str | SkipJsonSchema[None],
    Header(
        description=(
            "Makes a retry safe: the same key with the same body returns the item the first request created"
            " (201, same id, Location and ETag) instead of a new one or a 409; the same key with another body"
            " is a 422. A key lives IDEMPOTENCY_KEY_TTL_S seconds (default 24 h). Use a new random key (a UUID)"
            " per new item."
        ),
        # Published, not enforced by FastAPI: parse_key answers anything else with 400.
        json_schema_extra={"pattern": KEY_PATTERN, "maxLength": MAX_KEY_CHARS + 2},
    ),
]


@router.post("", status_code=201, responses=problem_responses(400, 408, 409, 413, 422, 503))
async def create_item(
    body: ItemCreate,
    items: WritableItemsDep,
    request: Request,
    response: Response,
    *,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Item:
    # `idempotency_key` is declared for the schema; the header is read raw, so that a repeated header is
    # refused rather than one of its values picked.
    key = parse_key(request.headers.getlist("idempotency-key"))
    ttl = timedelta(seconds=settings.idempotency_key_ttl_s)
    idempotency = None if key is None else IdempotencyKey(key, fingerprint(body), ttl)
    item = await items.create(body, idempotency=idempotency)
    response.headers["Location"] = str(request.url_for("get_item", item_id=item.id))
    response.headers["ETag"] = etag(item)
    return item


@router.get("", responses=problem_responses(422, 503))
async def list_items(
    items: ItemsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None,
        # 12 bytes in unpadded base64url: the exact shape of every cursor this API hands out.
        Query(pattern=r"^[A-Za-z0-9_-]{16}$", description="A `next_cursor` from an earlier page."),
    ] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=30)] = None,
) -> ItemPage:
    page, next_cursor = await items.page(limit=limit, cursor=cursor, tag=tag)
    return ItemPage(items=page, next_cursor=next_cursor)


@router.get("/{item_id}", responses=problem_responses(404, 422, 503))
async def get_item(item_id: ItemIdPath, items: ItemsDep, response: Response) -> Item:
    item = await items.get(item_id)
    response.headers["ETag"] = etag(item)
    return item


@router.patch("/{item_id}", responses=problem_responses(400, 404, 408, 409, 412, 413, 422, 503))
async def update_item(
    item_id: ItemIdPath, body: ItemUpdate, items: WritableItemsDep, response: Response, if_match: IfMatch = None
) -> Item:
    item = await items.update(item_id, body, if_match=parse_if_match(if_match))
    response.headers["ETag"] = etag(item)
    return item


@router.delete("/{item_id}", status_code=204, responses=problem_responses(400, 404, 412, 422, 503))
async def delete_item(item_id: ItemIdPath, items: WritableItemsDep, if_match: IfMatch = None) -> Response:
    await items.delete(item_id, if_match=parse_if_match(if_match))
    return Response(status_code=204)
