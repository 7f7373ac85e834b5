"""Pydantic models at the edges: what a client may send, and what the API answers.

Input models are strict and closed: a JSON object or array where a string or number belongs is
rejected here, so no request can smuggle a MongoDB operator (`{"$ne": null}`) into a query or update.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError, PydanticKnownError

ItemName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=1000)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Tags = Annotated[list[Tag], Field(max_length=20)]


# Beyond int64 nothing is stored (BSON), and int() of an exact 1e999999999 would build a 400 MB integer.
_INT64_LIMIT = Decimal(2**63)


def _exact_integer(value: object) -> object:
    """An integral number as an int; the exact value decides, never a float's rounding of it.

    JSON has one number type and JSON Schema counts 3.0 as an integer, so `3.0` and `3e0` are 3. But
    `0.9999999999999999999` is not 1: app.json_body hands such literals over as exact Decimals, and one
    with a fractional part is refused here, before anything could round it. Strict mode refuses "3" and true.
    """
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise PydanticKnownError("int_from_float")
        # copy_abs and adjusted never round, so they cannot overflow the way abs() does on 1e999999999.
        if value.adjusted() > 18 or value.copy_abs() >= _INT64_LIMIT:
            raise PydanticCustomError("int_too_large", "Input should be an integer that fits in 64 bits")
        return int(value)
    if isinstance(value, float) and value.is_integer():
        # Only from Python callers: request bodies never carry floats (see app.json_body).
        return int(value)
    return value


# 2**53 - 1: the largest integer every JSON client (and the float in FastAPI's OpenAPI model) holds exactly.
Quantity = Annotated[int, Field(ge=0, le=2**53 - 1), BeforeValidator(_exact_integer)]
ItemId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]


class _Input(BaseModel):
    # strict: "5" is not a number and true is not 1; forbid: a misspelt field is an error, not ignored.
    model_config = ConfigDict(extra="forbid", strict=True)


class ItemCreate(_Input):
    name: ItemName
    description: Description | None = None
    tags: Tags = Field(default_factory=list)
    quantity: Quantity = 0


class ItemUpdate(_Input):
    """A partial update: only the fields present in the request change."""

    # The schema states what _at_least_one_field enforces: one field at least, and null only for the
    # description (which clears it). SkipJsonSchema keeps the "absent" default None out of the schema.
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    name: ItemName | SkipJsonSchema[None] = None
    description: Description | None = None
    tags: Tags | SkipJsonSchema[None] = None
    quantity: Quantity | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _at_least_one_field(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("at least one of name, description, tags, quantity is required")
        for field in ("name", "tags", "quantity"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class Item(BaseModel):
    id: ItemId
    name: str
    description: str | None
    tags: list[str]
    quantity: int
    version: int = Field(ge=1)
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[Item]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


# A 422 lists at most this many errors, the first found; `errors_omitted` counts the rest. A bound on the
# reply and on the work of building it, whatever a client sends.
MAX_LISTED_ERRORS = 20


class Problem(BaseModel):
    """An RFC 9457 problem details body, the shape of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description=f"Why the request is invalid: at most {MAX_LISTED_ERRORS} errors, the first found."
    )
    errors_omitted: int | None = Field(
        default=None, ge=1, description="How many more errors there were than `errors` lists; absent when none."
    )


class FieldError(BaseModel):
    """One reason a request was invalid: where (`loc`) and what (`msg`)."""

    loc: list[str | int]
    msg: str
    type: str
