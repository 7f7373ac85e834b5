"""scripts/dev.py, the Quickstart's entry point: what `test` adds to the arguments it is given."""

from __future__ import annotations

import pytest

from scripts import dev


@pytest.mark.parametrize(
    "args",
    [
        ["-k", "items", "-n", "2"],
        ["-m", "slow"],
        ["tests/test_health.py"],
        ["tests/test_health.py::test_liveness_never_touches_the_database"],
        ["--lf"],
    ],
    ids=" ".join,
)
def test_a_selection_of_tests_does_not_enforce_the_coverage_threshold(args: list[str]) -> None:
    [command] = dev.python_commands("test", args)

    assert "--cov-fail-under=0" in command


@pytest.mark.parametrize(
    "args",
    [[], ["-n", "2"], ["--loopsafe-scope=session", "-n", "2"], ["--loopsafe-scope", "session"], ["-x"]],
    ids=lambda args: " ".join(args) or "no arguments",
)
def test_a_full_run_enforces_the_coverage_threshold(args: list[str]) -> None:
    [command] = dev.python_commands("test", args)

    assert "--cov-fail-under=0" not in command


@pytest.mark.parametrize(
    ("args", "added"),
    [
        ([], ["-n", "auto", "--dist", "loadgroup"]),
        (["-k", "items"], ["-n", "auto", "--dist", "loadgroup"]),
        (["-n", "2"], []),
        (["-n2"], []),
        (["--numprocesses=4"], []),
        (["-p", "no:xdist"], []),
        (["--pdb"], []),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_tests_run_one_worker_per_core_unless_the_arguments_say_otherwise(args: list[str], added: list[str]) -> None:
    assert dev.parallel(args) == added


def test_an_unknown_command_prints_the_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert dev.main(["deploy"]) == 2
    assert "python3 scripts/dev.py test" in capsys.readouterr().out
