"""Configuration read from the environment: which MongoDB to use, and the time budgets.

Nothing here opens a connection; building `Settings` is pure validation, so it is safe at import time.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

IN_MEMORY_URL = "mongomock://localhost"

_SCHEMES = ("mongomock", "mongodb", "mongodb+srv")
# MongoDB refuses these in database names; checking here gives a clear message at startup
# instead of a driver error on the first request.
_BAD_DB_NAME = re.compile(r'[/\\. "$*<>:|?\x00]')

_PASSWORD_OPTION = re.compile(r"((?:^|[?&;])[^=&;]*password=)[^&;]*", re.IGNORECASE)

Milliseconds = Annotated[int, Field(gt=0, le=600_000)]


class Driver(StrEnum):
    """Which async client library talks to a real server."""

    MOTOR = "motor"
    PYMONGO = "pymongo"


class Settings(BaseSettings):
    """Every knob of the service. Field `x` is read from the environment variable `X`."""

    # hide_input_in_errors: a validation error must not print the URL it rejected (it may hold a password).
    # env_ignore_empty: `MONGODB_URL=` (an empty variable, as a .env template leaves it) means "not set",
    # the default, for every setting alike, rather than an invalid value.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True, env_ignore_empty=True)

    # A SecretStr, because a URL may carry a password: repr(), str() and logs show "**********".
    mongodb_url: SecretStr = SecretStr(IN_MEMORY_URL)
    mongodb_db: str = Field(default="items", min_length=1, max_length=63)
    mongodb_driver: Driver = Driver.MOTOR
    # The budget of one database operation (the driver's `timeoutMS`): a request that needs the
    # database answers 503 within about this long when the database is down or slow.
    mongodb_timeout_ms: Milliseconds = 5_000
    # How long to wait for a reachable server before giving up on an operation.
    mongodb_server_selection_timeout_ms: Milliseconds = 3_000
    mongodb_connect_timeout_ms: Milliseconds = 3_000
    # Readiness probes must answer fast, so they get their own, shorter budget.
    ready_timeout_ms: Milliseconds = 1_000
    # The largest valid item is about 21 KB, so 64 KiB refuses nothing real and bounds what a body costs.
    max_body_bytes: int = Field(default=65_536, gt=0)
    # A body still arriving after this long gets 408: uvicorn would otherwise read a trickle forever.
    request_body_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # How long a POST /items retried with the same Idempotency-Key returns the item it first created.
    idempotency_key_ttl_s: int = Field(default=86_400, gt=0, le=30 * 86_400)
    # On SIGTERM, `python3 scripts/dev.py serve` (app.serve) keeps serving this long with readiness 503 and
    # connections closing after each response, then shuts down gracefully; 0 shuts down at once.
    shutdown_drain_s: float = Field(default=3.0, ge=0, le=300)
    # Turn the loop guard off only to measure it; see docs/loops-and-clients.md.
    loop_guard: bool = True

    @field_validator("mongodb_url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        scheme = raw.split("://", 1)[0] if "://" in raw else ""
        if scheme not in _SCHEMES:
            # Never echo the URL itself: it may contain a password.
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in _SCHEMES)}")
        # The driver parses the rest (replica-set host lists, options) when the client is built,
        # and app.database turns its complaint into a message that names this setting.
        hosts = raw.split("://", 1)[1].rpartition("@")[2].split("/", 1)[0]
        if not hosts:
            raise ValueError("has no host")
        return value

    @field_validator("mongodb_db")
    @classmethod
    def _valid_db_name(cls, value: str) -> str:
        if _BAD_DB_NAME.search(value):
            raise ValueError('must not contain any of / \\ . " $ * < > : | ? or spaces')
        return value

    @property
    def database_deadline_s(self) -> float:
        """How long a request may wait for the database in all, queueing included: the budget plus a
        quarter, enforced by the app (app.repository), on both drivers.

        Motor needs it: an operation queued for one of its threads has not started its `timeoutMS`. PyMongo
        async needs it too on a long outage: its server selection waits for the server in steps of 500 ms
        and checks its `timeoutMS` only between them, so an operation can end up to 0.5 s late (2x a
        500 ms budget, measured). At the deadline the app cancels its wait on Motor, but never a PyMongo
        operation (may_cancel_database_calls): it stops waiting and the operation ends on its own.
        """
        return self.mongodb_timeout_ms * 1.25 / 1000

    @property
    def abandoned_call_s(self) -> float:
        """How long a database call the app stopped waiting for may still run: until the driver's budget
        ends (Motor's in its thread, PyMongo's in the task the app left it in)."""
        return self.mongodb_timeout_ms / 1000

    @property
    def may_cancel_database_calls(self) -> bool:
        """False for PyMongo async on a server: the app never cancels its operations, at a deadline it
        stops waiting for them instead. Cancelling one is unsafe on Python 3.11, where PyMongo waits on its
        topology lock's condition through `asyncio.wait_for`; a cancellation that meets that wait's own
        timeout leaves a task holding the lock for good, and every later operation waits on it (the app
        stayed in 503 for minutes after a flapping database: tests/test_flapping_database.py). Motor's
        operations run on threads; mongomock's return at once."""
        return self.mongodb_driver is not Driver.PYMONGO or self.in_memory

    @property
    def in_memory(self) -> bool:
        """True when the service runs on the embedded mongomock backend (no server)."""
        return self.mongodb_url.get_secret_value().startswith("mongomock://")

    @property
    def redacted_url(self) -> str:
        """The URL with any password replaced, fit for logs and error messages."""
        return redact_url(self.mongodb_url.get_secret_value())


def redact_url(url: str) -> str:
    """Replace the passwords in a MongoDB URL with `***`; keep everything else readable.

    Both the userinfo password and options such as `tlsCertificateKeyFilePassword=` are secrets.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    userinfo, at, hosts = rest.rpartition("@")
    if at:
        rest = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    return f"{scheme}://" + _PASSWORD_OPTION.sub(r"\1***", rest)
