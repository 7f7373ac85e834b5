"""The database password never shows: not in settings' reprs, responses, health output, logs or exceptions.

The app runs against a password-bearing URL of a port where nothing listens, with short timeouts.
"""

from __future__ import annotations

import logging
import socket
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
import uvicorn
from loopsafe_mongo import RunningApp, run_lifespan
from pydantic import ValidationError

from app.database import Database
from app.main import create_app
from app.settings import Driver, Settings
from tests.support.waits import within

pytestmark = pytest.mark.anyio

PASSWORD = "s3cr3t-P4ss"
# Port 9 (discard) on loopback: refused at once, so every operation fails fast without any traffic.
UNREACHABLE_URL = f"mongodb://user:{PASSWORD}@127.0.0.1:9/?serverSelectionTimeoutMS=200"
SHORT_MS = 200
ABSENT_ID = "0123456789abcdef01234567"


def unreachable_settings(driver: Driver = Driver.MOTOR, **overrides: object) -> Settings:
    fields: dict[str, object] = {
        "mongodb_url": UNREACHABLE_URL,
        "mongodb_db": f"test_{uuid.uuid4().hex[:16]}",
        "mongodb_driver": driver,
        "mongodb_timeout_ms": SHORT_MS,
        "mongodb_server_selection_timeout_ms": SHORT_MS,
        "mongodb_connect_timeout_ms": SHORT_MS,
        "ready_timeout_ms": SHORT_MS,
        **overrides,
    }
    return Settings.model_validate(fields)


def exception_text(exc: BaseException) -> str:
    """Everything an exception can show: its traceback, message, repr and args, along every cause and context.

    Suppressed contexts (`raise ... from None`) are included: they are hidden from tracebacks but an
    error reporter can still walk to them.
    """
    parts: list[str] = []
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += ["".join(traceback.format_exception(current)), str(current), repr(current), repr(current.args)]
        pending += [current.__cause__, current.__context__]
        pending += list(getattr(current, "exceptions", ()))
    return "\n".join(parts)


def log_text(records: list[logging.LogRecord]) -> str:
    """Each record's message, its arguments and its formatted traceback, as any handler could print them."""
    formatter = logging.Formatter()
    parts: list[str] = []
    for record in records:
        parts += [record.getMessage(), repr(record.args)]
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
    return "\n".join(parts)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every logger at DEBUG, the level at which drivers say the most."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


# Module scope: every operation against the unreachable server costs the driver's minimum wait of half a
# second, so the app and its client are started once per driver for all the tests that only send requests.
@pytest.fixture(scope="module", params=list(Driver), ids=lambda driver: f"driver={driver}")
async def unreachable(request: pytest.FixtureRequest) -> AsyncIterator[tuple[httpx.AsyncClient, RunningApp]]:
    """The app, started (startup survives an unreachable database), with an httpx client over it."""
    async with run_lifespan(create_app(unreachable_settings(request.param))) as running:
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, running


SETTINGS_VIEWS: dict[str, Callable[[Settings], object]] = {
    "repr": repr,
    "str": str,
    "repr-url": lambda s: repr(s.mongodb_url),
    "str-url": lambda s: str(s.mongodb_url),
    "model_dump": lambda s: s.model_dump(),
    "model_dump_json": lambda s: s.model_dump_json(),
    "redacted_url": lambda s: s.redacted_url,
}


@pytest.mark.parametrize("view", SETTINGS_VIEWS.values(), ids=SETTINGS_VIEWS.keys())
def test_settings_views_hide_the_password(view: Callable[[Settings], object]) -> None:
    shown = str(view(unreachable_settings()))
    assert PASSWORD not in shown
    assert "127.0.0.1" in shown or "*" in shown  # the view shows something, just not the secret


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            f"mongodb://user:{PASSWORD}@127.0.0.1:9/?serverSelectionTimeoutMS=200",
            "mongodb://user:***@127.0.0.1:9/?serverSelectionTimeoutMS=200",
        ),
        (f"mongodb+srv://user:{PASSWORD}@cluster.example/db", "mongodb+srv://user:***@cluster.example/db"),
        (f"mongodb://user:{PASSWORD}@h1:1,h2:2/?replicaSet=rs", "mongodb://user:***@h1:1,h2:2/?replicaSet=rs"),
        # An unescaped "@" in the password: everything up to the last "@" is user information.
        (f"mongodb://user:{PASSWORD}@x@host/", "mongodb://user:***@host/"),
    ],
)
def test_redacted_url_replaces_the_password(url: str, redacted: str) -> None:
    assert unreachable_settings(mongodb_url=url).redacted_url == redacted


@pytest.mark.parametrize(
    "url",
    [f"http://user:{PASSWORD}@host/", f"mongodb://user:{PASSWORD}@/", PASSWORD],
    ids=["wrong-scheme", "no-host", "no-scheme"],
)
def test_settings_validation_error_hides_the_password(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(mongodb_url=url)
    assert PASSWORD not in exception_text(caught.value)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health/ready", 503),
        ("GET", "/health/live", 200),
        ("GET", "/items", 503),
        ("GET", f"/items/{ABSENT_ID}", 503),
        ("POST", "/items", 503),
        ("PATCH", f"/items/{ABSENT_ID}", 503),
        ("DELETE", f"/items/{ABSENT_ID}", 503),
    ],
)
async def test_responses_with_the_database_unreachable_hide_the_password(
    unreachable: tuple[httpx.AsyncClient, RunningApp], method: str, path: str, status: int
) -> None:
    client, _ = unreachable
    body = {"name": "x"} if method in {"POST", "PATCH"} else None
    response = await client.request(method, path, json=body)
    assert response.status_code == status
    assert PASSWORD not in response.text
    assert all(PASSWORD not in f"{name}: {value}" for name, value in response.headers.items())


@pytest.mark.parametrize("driver", list(Driver))
async def test_logs_at_debug_from_startup_requests_and_shutdown_hide_the_password(
    debug_logs: pytest.LogCaptureFixture, driver: Driver
) -> None:
    async with run_lifespan(create_app(unreachable_settings(driver))) as running:
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/health/ready")).status_code == 503
            assert (await client.get("/items")).status_code == 503
            assert (await client.post("/items", json={"name": "x"})).status_code == 503
    # Proof that the drivers' own DEBUG logging was captured, not just the app's warnings.
    assert any(record.name.startswith("pymongo") for record in debug_logs.records)
    assert any(record.levelno == logging.WARNING for record in debug_logs.records)
    assert PASSWORD not in log_text(debug_logs.records)
    assert PASSWORD not in debug_logs.text


DRIVER_OPERATIONS: dict[str, Callable[[Database], Awaitable[object]]] = {
    "command": lambda db: db.command("ping"),
    "insert_one": lambda db: db["items"].insert_one({"name": "x"}),
}


@pytest.mark.parametrize("operation", DRIVER_OPERATIONS.values(), ids=DRIVER_OPERATIONS.keys())
async def test_driver_exceptions_hide_the_password(
    unreachable: tuple[httpx.AsyncClient, RunningApp], operation: Callable[[Database], Awaitable[object]]
) -> None:
    # The app turns these into 503s; here they are raised as they are, to read everything they carry.
    _, running = unreachable
    with pytest.raises(Exception) as caught:  # noqa: PT011 - any exception at all: its text is what is checked
        await operation(running.state["db"])
    assert PASSWORD not in exception_text(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        f"mongodb://user:{PASSWORD}@host:notaport/",
        f"mongodb://user:{PASSWORD}@host:99999/",
        f"mongodb://user:{PASSWORD}:extra@host/",
        f"mongodb://user:{PASSWORD}@host/?authSource=",
        f"mongodb://user:{PASSWORD}@host/?authMechanism=MONGODB-X509",
        f"mongodb+srv://user:{PASSWORD}@host:27017/",
        f"mongodb://:{PASSWORD}@host/",
    ],
    ids=[
        "port-not-a-number",
        "port-out-of-range",
        "unescaped-colon",
        "empty-auth-source",
        "x509",
        "srv-port",
        "no-user",
    ],
)
@pytest.mark.parametrize("driver", list(Driver))
async def test_startup_error_for_an_unusable_url_hides_the_password(
    debug_logs: pytest.LogCaptureFixture, url: str, driver: Driver
) -> None:
    app = create_app(unreachable_settings(driver, mongodb_url=url))
    with pytest.raises(Exception) as caught:  # noqa: PT011 - whatever the driver raises, its text is what is checked
        async with run_lifespan(app):
            pass
    assert "MONGODB_URL" in str(caught.value)  # the message names the setting to fix...
    assert PASSWORD not in exception_text(caught.value)  # ...and not the secret in it
    assert PASSWORD not in log_text(debug_logs.records)


@pytest.mark.parametrize("driver", list(Driver))
async def test_uvicorn_startup_failure_for_an_unusable_url_logs_no_password(
    debug_logs: pytest.LogCaptureFixture, driver: Driver
) -> None:
    # What an operator actually sees: uvicorn runs the lifespan, logs its failure and gives up.
    app = create_app(unreachable_settings(driver, mongodb_url=f"mongodb://user:{PASSWORD}@host:notaport/"))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, access_log=False))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # uvicorn exits the process (status 3) when startup fails; here that is a SystemExit to catch.
    with sock, within(10, "uvicorn exiting on a bad MONGODB_URL"), pytest.raises(SystemExit) as exited:
        await server.serve([sock])
    assert exited.value.code == 3
    assert any("MONGODB_URL" in text for text in (log_text([record]) for record in debug_logs.records))
    assert PASSWORD not in log_text(debug_logs.records)
    assert PASSWORD not in debug_logs.text
