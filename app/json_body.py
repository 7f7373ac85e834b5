"""How request bodies are parsed: numbers kept exact, and a body too costly to validate refused first.

Starlette parses JSON with `json.loads`, which turns every number written with a fraction or an exponent
into a float: `0.9999999999999999999` arrives as `1.0` and `4503599627370497.5` as `4503599627370498.0`,
so no validator could tell them from integers. Here such literals become `Decimal`s, exactly as written,
and `app.models` accepts one as an integer only when its exact value is one.

A JSON object with more keys than its model has fields cannot be valid, and pydantic would report each
extra key on its own (measured: a 1 MiB body of 131,070 keys cost about 3 s of event-loop CPU and an
11 MB reply). Such a body is refused here, before validation, with its first unknown keys listed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from app.models import MAX_LISTED_ERRORS

UNREADABLE_NUMBER = (
    "The request body holds a number that is not JSON (NaN, Infinity) or that is too long to read"
    " (over 4300 digits, or an exponent of more than 18 digits)."
)


NOT_UTF8 = "The request body is not valid UTF-8, which JSON text must be (RFC 8259)."


class NotJsonError(ValueError):
    """NaN, Infinity and -Infinity: Python's parser accepts them, but they are not JSON (RFC 8259)."""


class TooManyKeysError(HTTPException):
    """A body object with more keys than its model has fields: 422 before validation.

    An HTTPException because FastAPI passes those through from body parsing (anything else it raises
    there becomes a bare 400); app.errors answers it with the usual 422 problem.
    """

    def __init__(self, unknown: list[str], total_unknown: int) -> None:
        super().__init__(422)
        self.unknown = unknown
        self.total_unknown = total_unknown


def _refuse_constant(name: str) -> Any:
    raise NotJsonError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> Any:
    """`json.loads`, with numbers that have a fraction or an exponent as exact `Decimal`s."""
    return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)


def check_key_count(value: Any, model: type[BaseModel]) -> None:
    """Raise TooManyKeysError when `value` is an object with more keys than `model` has fields.

    Cheap on purpose: only the unknown keys that will be listed are collected, never all of them.
    """
    fields = model.model_fields
    if not isinstance(value, dict) or len(value) <= len(fields):
        return
    unknown: list[str] = []
    for key in value:
        if key not in fields:
            unknown.append(key)
            if len(unknown) == MAX_LISTED_ERRORS:
                break
    total_unknown = len(value) - sum(1 for name in fields if name in value)
    raise TooManyKeysError(unknown, total_unknown)


class _ExactJsonRequest(Request):
    """A request whose `json()` keeps numbers exact and refuses an object with too many keys."""

    body_model: type[BaseModel] | None = None

    async def json(self) -> Any:
        if not hasattr(self, "_exact_json"):
            try:
                self._exact_json = parse_json(await self.body())
            except json.JSONDecodeError:
                raise  # FastAPI reports malformed JSON itself (app.errors answers 400)
            except UnicodeDecodeError:
                # A ValueError too: caught here, or the next clause would blame a number.
                raise HTTPException(400, NOT_UTF8) from None
            except (ValueError, ArithmeticError):
                # NotJsonError, int()'s digit limit, or a Decimal exponent out of range. Left alone,
                # FastAPI would answer a bare "error parsing the body"; this says which.
                raise HTTPException(400, UNREADABLE_NUMBER) from None
            if self.body_model is not None:
                check_key_count(self._exact_json, self.body_model)
        return self._exact_json


def _closed_body_model(route: APIRoute) -> type[BaseModel] | None:
    """The route's body model if it forbids unknown fields, so that an extra key can never be valid."""
    if route.body_field is None:
        return None
    model = route.body_field.field_info.annotation
    if isinstance(model, type) and issubclass(model, BaseModel) and model.model_config.get("extra") == "forbid":
        return model
    return None


class ExactJsonRoute(APIRoute):
    """An APIRoute whose JSON body is parsed by `parse_json` and checked by `check_key_count` (FastAPI's
    documented custom request and route class hook)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler  # no body to parse: nothing to change, and no second Request per request
        body_model = _closed_body_model(self)

        async def exact_json_handler(request: Request) -> Response:
            exact = _ExactJsonRequest(request.scope, request.receive)
            exact.body_model = body_model
            return await handler(exact)

        return exact_json_handler
