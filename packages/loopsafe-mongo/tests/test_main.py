"""`python -m loopsafe_mongo`: the guide with no command, each tool by name, and a clear refusal otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest
from loopsafe_mongo.__main__ import main


def test_no_command_prints_the_guide_the_guards_message_points_to(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0

    assert "Bad patterns, and their fix:" in capsys.readouterr().out


def test_an_unknown_command_is_refused_naming_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint"]) == 2

    assert "unknown command 'lint'; one of: check, kata" in capsys.readouterr().err


def test_the_module_runs_as_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loopsafe_mongo", "nonsense"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 2
    assert "unknown command 'nonsense'" in result.stderr
