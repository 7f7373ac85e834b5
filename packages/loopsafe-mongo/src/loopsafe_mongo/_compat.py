"""Which versions of its neighbours the package supports, checked before a test session starts.

A version below its floor fails with one line naming the version needed, instead of an ImportError from
a conftest or an INTERNALERROR deep in a test. Also the shims for the oldest supported versions.
"""

from __future__ import annotations

import re
from importlib import metadata

import pytest

# distribution -> (oldest supported version, why): the floors pyproject.toml declares, and the lowest
# versions CI tests (ci/lowest.txt and ci/lowest-anyio.txt pin them; tests/test_packaging.py checks all
# three agree). A distribution that is not installed is not checked: an app may use no Motor.
FLOORS: dict[str, tuple[str, str]] = {
    "pymongo": ("4.9", "4.9 is the first with the async API, and the one Motor 3.6 runs on"),
    "motor": ("3.6", "older Motor cannot import PyMongo 4.9 or newer, which this package needs"),
    "pytest": ("7.4", "older ones are not tested"),
    "anyio": ("3.7", "older ones are not tested"),
    "httpx": ("0.24", "older ones are not tested"),
}
# Only when pytest-asyncio runs the fixtures: they need its `loop_scope` (0.24), and pytest-asyncio 0.24
# itself needs pytest 8.2.
ASYNCIO_FLOORS: dict[str, tuple[str, str]] = {
    "pytest-asyncio": ("0.24", "the fixtures use its fixture loop scopes (loop_scope), new in 0.24"),
}


def release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string, trailing zeros dropped ("0.24.0rc1" -> (0, 24)): enough to
    compare with a floor."""
    match = re.match(r"\d+(\.\d+)*", version)
    parts = [int(part) for part in match.group().split(".")] if match else []
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def too_old(floors: dict[str, tuple[str, str]]) -> str | None:
    """A one-line message for the first installed distribution below its floor; None when all are supported."""
    for name, (floor, why) in floors.items():
        version = installed(name)
        if version is not None and release(version) < release(floor):
            return (
                f"loopsafe-mongo needs {name}>={floor}, but {name} {version} is installed: {why}."
                f" Upgrade it: pip install '{name}>={floor}'"
            )
    return None


def unsupported_versions(async_plugin: str) -> str | None:
    """One line naming the first installed version below its floor; None when every one is supported.

    pytest-asyncio is checked only when it runs the fixtures (`async_plugin` is "asyncio"): a project
    that runs them on anyio may keep whatever pytest-asyncio it has for its other tests.
    """
    return too_old(FLOORS) or (too_old(ASYNCIO_FLOORS) if async_plugin == "asyncio" else None)


def asyncio_default_test_loop_scope(config: pytest.Config) -> str:
    """pytest-asyncio's default test loop scope; before 0.26, which has no such option, always "function"."""
    try:
        return str(config.getini("asyncio_default_test_loop_scope") or "function")
    except ValueError:
        return "function"
