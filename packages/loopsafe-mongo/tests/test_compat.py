"""Versions below the supported floors stop pytest at once, with one line naming the version needed, and the
shims that let the oldest supported pytest-asyncio run the fixtures."""

from __future__ import annotations

from typing import Any

import pytest
from loopsafe_mongo import _compat


def test_a_release_is_compared_by_its_numbers() -> None:
    assert _compat.release("0.24.0rc1") == _compat.release("0.24") == (0, 24)
    assert _compat.release("4.9") < _compat.release("4.10.1")
    assert not _compat.release("4.9") < _compat.release("4.9.0")


def test_an_installed_version_below_its_floor_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compat, "installed", {"motor": "3.3.2"}.get)

    message = _compat.too_old(_compat.FLOORS)

    assert message is not None
    assert message.startswith("loopsafe-mongo needs motor>=3.6, but motor 3.3.2 is installed")
    assert "\n" not in message


def test_versions_at_their_floors_and_missing_ones_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    floors = {name: floor for name, (floor, _) in _compat.FLOORS.items()}
    del floors["motor"]  # an app on PyMongo's own async client has no Motor
    monkeypatch.setattr(_compat, "installed", floors.get)

    assert _compat.too_old(_compat.FLOORS) is None


def test_an_old_pytest_asyncio_is_refused_only_when_it_runs_the_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compat, "installed", {"pytest-asyncio": "0.23.8"}.get)

    assert _compat.unsupported_versions("anyio") is None
    assert "needs pytest-asyncio>=0.24, but pytest-asyncio 0.23.8" in str(_compat.unsupported_versions("asyncio"))


def test_pytest_stops_before_conftest_imports_the_app(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An old Motor fails in the conftest that imports the app: the check must come before it.
    monkeypatch.setattr(_compat, "installed", {"motor": "3.3.2"}.get)
    pytester.makeini("[pytest]\nloopsafe_async = anyio\n")
    pytester.makeconftest("raise ImportError('Motor cannot import this PyMongo')\n")

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: loopsafe-mongo needs motor>=3.6, but motor 3.3.2 is installed*"])
    assert "Motor cannot import this PyMongo" not in result.stdout.str() + result.stderr.str()


def test_a_project_that_did_not_configure_the_harness_runs_on_and_only_harness_tests_fail(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installing the package must not stop a suite that never uses it, whatever versions it pins.
    monkeypatch.setattr(_compat, "installed", {"httpx": "0.23.3"}.get)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_own="""
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        def test_the_projects_own():
            pass

        @pytest.mark.anyio
        async def test_the_harness(client):
            pass
        """
    )

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*::test_the_harness*: loopsafe-mongo needs httpx>=0.24, but httpx 0.23.3 is installed*"]
    )


class _Config:
    """A config whose pytest-asyncio knows no asyncio_default_test_loop_scope, as before 0.26."""

    def getini(self, name: str) -> Any:
        raise ValueError(f"unknown configuration value: {name!r}")


def test_without_a_default_test_loop_scope_option_tests_run_on_function_loops() -> None:
    assert _compat.asyncio_default_test_loop_scope(_Config()) == "function"  # type: ignore[arg-type]
