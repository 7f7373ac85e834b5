"""Every error response in one shape: RFC 9457 problem details, served as `application/problem+json`.

Routers and the data-access layer raise exceptions; the handlers here turn each into a status code
and a `Problem` body. Input values are never echoed back, so nothing a client sent leaks into logs or replies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.breaker import DatabaseRecoveringError
from app.database import DriverError, error_name, is_unavailable
from app.deps import IndexesNotReadyError
from app.json_body import TooManyKeysError
from app.models import MAX_LISTED_ERRORS, FieldError, Problem
from app.repository import (
    DeadlineExceededError,
    DuplicateNameError,
    IdempotencyKeyReusedError,
    InvalidCursorError,
    ItemNotFoundError,
    VersionMismatchError,
    WriteRefusedError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


def problem(
    status: int,
    detail: str | None = None,
    *,
    errors: list[FieldError] | None = None,
    errors_omitted: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem-details response whose title is the standard phrase of `status`."""
    body = Problem(
        title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors, errors_omitted=errors_omitted
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


MAX_LOC_CHARS = 100
_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _short(part: str | int) -> str | int:
    # An unknown key is part of `loc`; a client must not get a 500 KB key echoed back.
    return part[:MAX_LOC_CHARS] + "..." if isinstance(part, str) and len(part) > MAX_LOC_CHARS else part


INVALID = "The request is not valid; see `errors`."


def _invalid(errors: list[FieldError], total: int) -> JSONResponse:
    """The 422 problem, listing at most MAX_LISTED_ERRORS errors and counting the rest in `errors_omitted`."""
    omitted = total - min(total, MAX_LISTED_ERRORS)
    return problem(422, INVALID, errors=errors[:MAX_LISTED_ERRORS], errors_omitted=omitted or None)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    raw: Sequence[dict[str, Any]] = cast(RequestValidationError, exc).errors()
    if any(error["type"] == "json_invalid" for error in raw):
        return problem(400, "The request body is not valid JSON.")
    # Only the listed errors are converted: a long list must not cost time in proportion to its length.
    errors = [
        FieldError(loc=[_short(part) for part in e["loc"]], msg=e["msg"], type=e["type"])
        for e in raw[:MAX_LISTED_ERRORS]
    ]
    return _invalid(errors, len(raw))


async def _too_many_keys(_: Request, exc: Exception) -> JSONResponse:
    exc = cast(TooManyKeysError, exc)  # registered for this type only, in install_error_handlers
    errors = [
        FieldError(loc=["body", _short(key)], msg="Extra inputs are not permitted", type="extra_forbidden")
        for key in exc.unknown
    ]
    return _invalid(errors, exc.total_unknown)


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path, asked of the router itself.

    Starlette's 405 names the methods of the first route whose path matched, and FastAPI makes one route
    per method, so its `Allow` would miss the others; RFC 9110 (15.5.6) wants them all.
    """
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(HTTPException, exc)  # registered for this type only, in install_error_handlers
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem(exc.status_code, detail, headers=headers)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return problem(404, "No item has this id.")


async def _duplicate_name(_: Request, exc: Exception) -> JSONResponse:
    return problem(409, "Another item already has this name.")


async def _idempotency_key_reused(_: Request, exc: Exception) -> JSONResponse:
    # The draft's answer to a key reused with another payload; the key itself is not echoed.
    return problem(
        422,
        "This Idempotency-Key was already used for a request with a different body. Retry with the same body,"
        " or send a new key with a new request.",
    )


async def _version_mismatch(_: Request, exc: Exception) -> JSONResponse:
    return problem(412, "The item has changed since the version given in If-Match; fetch it again.")


async def _invalid_cursor(_: Request, exc: Exception) -> JSONResponse:
    error = FieldError(loc=["query", "cursor"], msg="Not a cursor returned by this API", type="cursor_invalid")
    return problem(422, "The request is not valid; see `errors`.", errors=[error])


def _unavailable() -> JSONResponse:
    return problem(
        503, "The database is unavailable; try again later.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


async def _driver_error(_: Request, exc: Exception) -> JSONResponse:
    if is_unavailable(exc):
        # Expected when the database is down or slow: a warning, without the driver's long topology dump.
        logger.warning("database unavailable: %s", error_name(exc))
        return _unavailable()
    # Not the client's doing, and possibly passing (a full disk): 503, one line, no traceback per request.
    logger.error("database error: %s", error_name(exc))
    return problem(
        503,
        "The database could not complete the request; try again later.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _write_refused(_: Request, exc: Exception) -> JSONResponse:
    # Not logged here: WriteHealth logged the first refusal, with the server's message.
    return problem(
        503, "The database refuses writes just now; try again later.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


async def _deadline_exceeded(_: Request, exc: Exception) -> JSONResponse:
    # The same answer as a driver timeout: to the client, the database was too slow either way.
    logger.warning("database unavailable: %s", type(exc).__name__)
    return _unavailable()


async def _database_recovering(_: Request, exc: Exception) -> JSONResponse:
    # Not logged: the failure that opened the breaker was, and this answer comes at once, many per second.
    return _unavailable()


async def _indexes_not_ready(_: Request, exc: Exception) -> JSONResponse:
    return problem(
        503,
        "The service cannot take writes until the database's indexes exist; try again later.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Starlette still logs the traceback; the client gets the documented shape and no internals.
    return problem(500, "An unexpected error occurred.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(TooManyKeysError, _too_many_keys)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ItemNotFoundError, _not_found)
    app.add_exception_handler(DuplicateNameError, _duplicate_name)
    app.add_exception_handler(VersionMismatchError, _version_mismatch)
    app.add_exception_handler(IdempotencyKeyReusedError, _idempotency_key_reused)
    app.add_exception_handler(InvalidCursorError, _invalid_cursor)
    app.add_exception_handler(DriverError, _driver_error)
    app.add_exception_handler(DeadlineExceededError, _deadline_exceeded)
    app.add_exception_handler(DatabaseRecoveringError, _database_recovering)
    app.add_exception_handler(WriteRefusedError, _write_refused)
    app.add_exception_handler(IndexesNotReadyError, _indexes_not_ready)
    app.add_exception_handler(Exception, _unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting that these statuses answer with a `Problem` body."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
