"""Pydantic models at the edges: what a client may send, and what the API answers.

Input models are strict and closed: a JSON object or array where a string or number belongs is
rejected here, so no request can smuggle a MongoDB operator (`{"$ne": null}`) into a query or update.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ItemName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=1000)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Tags = Annotated[list[Tag], Field(max_length=20)]
Quantity = Annotated[int, Field(ge=0, le=2**63 - 1)]
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

    name: ItemName | None = None
    description: Description | None = None
    tags: Tags | None = None
    quantity: Quantity | None = None

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


class Problem(BaseModel):
    """An RFC 9457 problem details body, the shape of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None


class FieldError(BaseModel):
    """One reason a request was invalid: where (`loc`) and what (`msg`)."""

    loc: list[str | int]
    msg: str
    type: str
