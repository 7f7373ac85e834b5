"""The checker's rules: a stable code, a short name, what is wrong and the fix, as reports and docs show them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str  # what the pattern does wrong, in one line
    fix: str  # what to do instead, in one line


RULES = (
    Rule(
        "LSM001",
        "import-time-client",
        "async MongoDB client created at import time: it binds to the first loop that uses it and breaks on the next",
        "create the client in the app's lifespan, on the running loop, and keep it in the lifespan state",
    ),
    Rule(
        "LSM002",
        "cached-client",
        "async MongoDB client cached for good (a global or lru_cache): it outlives the loop it was first used on",
        "create the client in the lifespan and read it from request.state, not from a cache or a global",
    ),
    Rule(
        "LSM003",
        "per-loop-clients",
        "clients kept in a dict keyed by the running loop: it grows with every test loop and holds closed loops",
        "create one client per lifespan, on its loop; the lifespan's end closes it",
    ),
    Rule(
        "LSM004",
        "client-per-request",
        "async MongoDB client created per request (in a route or a dependency): a new connection pool each time",
        "create the client once in the lifespan and hand routes its database through request.state",
    ),
    Rule(
        "LSM005",
        "fixture-outlives-loop",
        "long-lived fixture makes a client or enters a lifespan, but its tests run on shorter loops",
        "enter the lifespan per test (the loopsafe-mongo `client`/`db` fixtures), or give fixture and tests"
        " one loop: loop_scope equal to the scope and asyncio_default_test_loop_scope, or anyio",
    ),
    Rule(
        "LSM006",
        "test-off-the-session-loop",
        "a bare asyncio/anyio marker gives this test a loop of its own, off the module's longer loop",
        "drop the marker, or give it the module's loop_scope; better: asyncio_default_test_loop_scope in the"
        " pytest settings",
    ),
    Rule(
        "LSM007",
        "testclient-with-async-db",
        "awaits the database in an async test that uses the sync TestClient, whose lifespan runs on another loop",
        "in async tests use httpx.AsyncClient over the app with the lifespan entered on the test's loop"
        " (the loopsafe-mongo `client` fixture)",
    ),
    Rule(
        "LSM008",
        "loop-runner-in-fixture",
        "asyncio.run or run_until_complete in a fixture runs a loop of its own; clients used there are bound to it",
        "make the fixture async and await the work on the test's loop",
    ),
    Rule(
        "LSM009",
        "get-io-loop-override",
        "overriding Motor's get_io_loop pins clients to one loop and hides the bug until that loop closes",
        "remove the override; create the client on the loop that uses it (in the lifespan)",
    ),
    Rule(
        "LSM010",
        "app-without-lifespan",
        "requests go to an app whose lifespan never ran for them, so the state it opens is missing",
        "enter the lifespan on the test's loop and send requests to the app it yields (run_lifespan(app).app)",
    ),
)
BY_CODE = {rule.code: rule for rule in RULES}
