"""`python -m loopsafe_mongo [COMMAND]`: the guide the guard's message points to, and the package's tools.

With no command it prints the bad patterns and their fixes. Each command lives in its own module and is
imported only when asked for, so the guide needs nothing beyond the standard library.
"""

from __future__ import annotations

import importlib
import sys

GUIDE = """\
loopsafe-mongo: an async MongoDB client belongs to the event loop it first runs on.

Motor and PyMongo's AsyncMongoClient bind to that loop and fail on any other ("attached to a different
loop", "Event loop is closed", "Cannot use AsyncMongoClient in different event loop"). pytest gives each
test its own loop, so a client that outlives one test's loop breaks the next test.

Bad patterns, and their fix:
  - a client created at import time (a module global)     -> create it in the app's lifespan
  - a client made in a sync fixture, or in a session       -> enter the lifespan in an async fixture on the test's loop
    fixture while each test runs on a loop of its own          (or put every test on the session loop too)
  - a client cached with functools.lru_cache or a global  -> keep it in the lifespan state (request.state)
  - seeding data with asyncio.run() in a sync fixture      -> seed in an async fixture, on the test's loop
  - a sync TestClient's lifespan, then awaiting the db     -> httpx.AsyncClient, lifespan on the test's loop
  - a session-scoped lifespan with per-test loops          -> one loop for both: `--loopsafe-scope=session` with anyio,
                                                             or asyncio_default_test_loop_scope = session

The pytest plugin does all of this: the `client` and `db` fixtures run the app's lifespan on the test's loop.
Configure it with `loopsafe_app = package.module:create_app` (or an `app` fixture) in your pytest settings.

Strict mode (LOOPSAFE_MONGO_STRICT=1, set by the plugin) also refuses a client created with no running loop.
Wrap the client in guard() where the lifespan makes it; it costs microseconds per call. To run without it
(in production, say), do not wrap the client: `guard()` is the only switch.

Commands:
  python -m loopsafe_mongo check PATHS   find these patterns in your code before a test runs
  python -m loopsafe_mongo kata          exercises: fix each pattern yourself, in a folder of your own
"""

# command -> the module whose `main(argv) -> int` runs it.
COMMANDS = {"check": "loopsafe_mongo.check", "kata": "loopsafe_mongo.kata"}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "guide"}:
        print(GUIDE, end="")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"loopsafe_mongo: unknown command {command!r}; one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    run: int = importlib.import_module(COMMANDS[command]).main(rest)
    return run


if __name__ == "__main__":
    sys.exit(main())
