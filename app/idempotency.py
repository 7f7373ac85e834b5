"""The `Idempotency-Key` request header (IETF httpapi draft): what a valid key is, and what a retry must match.

A client that sends `POST /items` with a key may retry it, after a 503 or a lost response, with the same key
and body: the retry returns the item the first attempt created, if it did, instead of creating another
or failing with 409. The key is stored with the item, in the same insert, so a write that committed
before its response was lost is found by its retry (app.repository).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel
from starlette.exceptions import HTTPException

MAX_KEY_CHARS = 255
# The draft makes the header a structured-field string ("..."); a bare key, as many clients send, is taken
# too. Visible ASCII but `"` and `\`, so that the two spellings name the same key and no escape is needed.
_KEY_CHARS = rf"[\x21\x23-\x5b\x5d-\x7e]{{1,{MAX_KEY_CHARS}}}"
_KEY = re.compile(rf'"(?P<quoted>{_KEY_CHARS})"|(?P<bare>{_KEY_CHARS})')
# What the schema publishes: the same rule.
KEY_PATTERN = rf'^(?:"{_KEY_CHARS}"|{_KEY_CHARS})$'
INVALID_KEY = (
    f"Idempotency-Key must be one key of 1 to {MAX_KEY_CHARS} visible ASCII characters other than"
    ' " and \\, optionally in double quotes, such as "8e03978e-40d5-43e8-bc93-6894a57f9324".'
)


@dataclass(frozen=True)
class IdempotencyKey:
    """A request's key, the fingerprint of its body, and how long a retry may use it."""

    key: str
    fingerprint: str
    ttl: timedelta


def parse_key(values: list[str]) -> str | None:
    """The key of an `Idempotency-Key` header (None when absent); 400 for a malformed or repeated one."""
    if not values:
        return None
    match = _KEY.fullmatch(values[0].strip(" \t")) if len(values) == 1 else None
    if match is None:
        raise HTTPException(400, INVALID_KEY)
    return match["quoted"] or match["bare"]


def fingerprint(body: BaseModel) -> str:
    """A digest of the request as validated: a retry must send the same item, however it spells the JSON."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
