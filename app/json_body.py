"""How request bodies are parsed: numbers are kept exactly as written.

Starlette parses JSON with `json.loads`, which turns every number written with a fraction or an exponent
into a float: `0.9999999999999999999` arrives as `1.0` and `4503599627370497.5` as `4503599627370498.0`,
so no validator could tell them from integers. Here such literals become `Decimal`s, exactly as written,
and `app.models` accepts one as an integer only when its exact value is one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

UNREADABLE_NUMBER = (
    "The request body holds a number that is not JSON (NaN, Infinity) or that is too long to read"
    " (over 4300 digits, or an exponent of more than 18 digits)."
)


class NotJsonError(ValueError):
    """NaN, Infinity and -Infinity: Python's parser accepts them, but they are not JSON (RFC 8259)."""


def _refuse_constant(name: str) -> Any:
    raise NotJsonError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> Any:
    """`json.loads`, with numbers that have a fraction or an exponent as exact `Decimal`s."""
    return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)


class _ExactJsonRequest(Request):
    """A request whose `json()` keeps numbers exact."""

    async def json(self) -> Any:
        if not hasattr(self, "_exact_json"):
            try:
                self._exact_json = parse_json(await self.body())
            except json.JSONDecodeError:
                raise  # FastAPI reports malformed JSON itself (app.errors answers 400)
            except (ValueError, ArithmeticError):
                # NotJsonError, int()'s digit limit, or a Decimal exponent out of range. Left alone,
                # FastAPI would answer a bare "error parsing the body"; this says which.
                raise HTTPException(400, UNREADABLE_NUMBER) from None
        return self._exact_json


class ExactJsonRoute(APIRoute):
    """An APIRoute whose JSON body is parsed by `parse_json` (FastAPI's documented custom request and
    route class hook)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_json_handler(request: Request) -> Response:
            return await handler(_ExactJsonRequest(request.scope, request.receive))

        return exact_json_handler
