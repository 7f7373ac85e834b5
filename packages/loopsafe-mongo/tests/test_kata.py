"""The kata: every exercise fails as laid out, with the guard's error; passes with its reference solution; and
refuses each way of making its test pass without fixing the code. Each state is one pytest run of the exercise,
as `kata check` runs it."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from loopsafe_mongo.guard import LoopMismatchError
from loopsafe_mongo.kata import MARKER, diagrams, lay_out, main, solve
from loopsafe_mongo.kata.catalogue import EXERCISES, Exercise, exercise
from loopsafe_mongo.kata.judge import Verdict, judge, run
from loopsafe_mongo.kata.referee import guard_error

BY_NAME = pytest.mark.parametrize("item", EXERCISES, ids=lambda item: item.folder)
# Every cheat on every exercise: each is a project of its own, and a refusal proved on one proves nothing on
# the next (a test failing on anyio, a fixture failing in setup, one test of a pytest-asyncio session suite).
CHEATED = BY_NAME


@pytest.fixture
def kata(tmp_path: Path) -> Path:
    lay_out(tmp_path / "kata")
    return tmp_path / "kata"


def verdict(kata: Path, item: Exercise) -> Verdict:
    return judge(item, *run(item, kata / item.folder))


@BY_NAME
def test_exercise_as_laid_out_fails_with_the_guards_error(kata: Path, item: Exercise) -> None:
    result = verdict(kata, item)

    assert not result.passed
    assert result.error is not None, result.output
    assert result.error["type"] == item.error
    if item.bound:
        assert f"that loop {item.bound}" in result.error["message"]
    else:
        assert "MongoDB client created with no running event loop" in result.error["message"]
    failing = {problem.split(" ", 1)[0] for problem in result.problems}
    assert failing == set(item.failing), result.problems


@BY_NAME
def test_exercise_passes_with_its_reference_solution(kata: Path, item: Exercise) -> None:
    solve(kata, item)

    result = verdict(kata, item)

    assert result.passed, (result.problems, result.error, result.output)
    assert result.error is None


def _function(source: str, name: str) -> tuple[int, int, int]:
    """Where the test function `name` is (0-based lines): its first decorator, its `def`, its last line."""
    node = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
    )
    first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)]) - 1
    return first, node.lineno - 1, (node.end_lineno or node.lineno) - 1


Edit = Callable[[list[str], str, tuple[int, int, int]], list[str]]


def _edit_test(folder: Path, name: str, edit: Edit) -> None:
    path = folder / "test_app.py"
    source = path.read_text()
    path.write_text("\n".join(edit(source.splitlines(), name, _function(source, name))) + "\n")


def delete(lines: list[str], name: str, where: tuple[int, int, int]) -> list[str]:
    first, _, last = where
    return lines[:first] + lines[last + 1 :]


def skip(lines: list[str], name: str, where: tuple[int, int, int]) -> list[str]:
    return [*lines[: where[0]], '@pytest.mark.skip(reason="later")', *lines[where[0] :]]


def xfail(lines: list[str], name: str, where: tuple[int, int, int]) -> list[str]:
    return [*lines[: where[0]], '@pytest.mark.xfail(reason="flaky")', *lines[where[0] :]]


def empty(lines: list[str], name: str, where: tuple[int, int, int]) -> list[str]:
    # Its markers kept, its fixtures dropped: the emptied test asks for nothing that could fail in setup.
    _, definition, last = where
    return [*lines[:definition], f"async def {name}() -> None:", "    pass", *lines[last + 1 :]]


CHEATS: dict[str, tuple[Edit, str]] = {
    "deleted": (delete, "did not run"),
    "skipped": (skip, "was skipped"),
    "xfailed": (xfail, "is marked xfail"),
    "emptied": (empty, "without using the app's guarded MongoDB client"),
}


@pytest.mark.parametrize("cheat", CHEATS)
@CHEATED
def test_a_failing_test_cheated_out_of_failing_is_refused(kata: Path, item: Exercise, cheat: str) -> None:
    edit, reason = CHEATS[cheat]
    _edit_test(kata / item.folder, item.failing[0], edit)

    result = verdict(kata, item)

    assert not result.passed
    assert any(reason in problem for problem in result.problems), result.problems


@CHEATED
def test_a_solution_that_takes_the_guard_off_the_client_is_refused(kata: Path, item: Exercise) -> None:
    # Without guard(), mongomock binds to no loop: every test passes, but none used the guarded client.
    solve(kata, item)
    for path in (kata / item.folder).glob("*.py"):
        path.write_text(re.sub(r"guard\((AsyncMongoMockClient\(\))(, strict=False)?\)", r"\1", path.read_text()))

    result = verdict(kata, item)

    assert not result.passed
    assert any("without using the app's guarded MongoDB client" in problem for problem in result.problems)


def test_a_caught_guard_error_is_refused(kata: Path) -> None:
    item = exercise(3)
    path = kata / item.folder / "test_app.py"
    check = '    assert await db["items"].find_one({"name": "desk"}) is not None'
    hidden = f"    try:\n    {check}\n    except RuntimeError:\n        pass"
    path.write_text(path.read_text().replace(check, hidden))

    result = verdict(kata, item)

    assert not result.passed
    assert result.problems == (
        "test_added_item_is_stored passed, but the guard raised LoopMismatchError while it ran (was it caught?).",
    )


def test_check_shows_progress_the_next_exercise_and_its_error(
    kata: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three exercises are enough to show progress: the tests above run every one.
    monkeypatch.setattr("loopsafe_mongo.kata.EXERCISES", EXERCISES[:3])
    for item in EXERCISES[:2]:
        solve(kata, item)
    monkeypatch.chdir(kata / EXERCISES[0].folder)  # from inside an exercise, as a learner runs it

    status = main(["check"])

    out = capsys.readouterr().out
    assert status == 1
    assert "2 of 3 done" in out
    assert "[x] 01-import-time-client" in out
    assert "[ ] 03-testclient-then-async-db" in out
    assert "Next: exercise 3" in out
    assert "LoopMismatchError: MongoDB client used from an event loop it does not belong to." in out
    assert "kata hint 3" in out


def test_check_says_when_every_exercise_is_done(kata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for item in EXERCISES:
        solve(kata, item)

    status = main(["check", str(kata)])

    assert status == 0
    assert "All done." in capsys.readouterr().out


def test_start_lays_out_exercises_without_their_solutions(kata: Path) -> None:
    for item in EXERCISES:
        folder = kata / item.folder
        assert {path.name for path in folder.iterdir()} >= {"app.py", "test_app.py", "pytest.ini", "README.md"}
        assert not (folder / "solution").exists()
        assert (folder / "diagram.svg").read_text() == diagrams.svg(item)
    assert (kata / MARKER).exists()


def test_start_refuses_a_folder_that_is_not_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    status = main(["start", str(tmp_path)])

    assert status == 2
    assert "is not empty" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_start_on_a_laid_out_kata_says_carry_on(kata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["start", str(kata)])

    assert status == 0
    assert "already holds the kata" in capsys.readouterr().out


def test_start_prints_the_exercises_and_the_next_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["start", str(tmp_path / "new")])

    out = capsys.readouterr().out
    assert status == 0
    assert all(item.folder in out for item in EXERCISES)
    assert "python -m loopsafe_mongo kata check" in out


def test_check_outside_a_kata_says_how_to_start_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", str(tmp_path)])

    assert status == 2
    assert "kata start" in capsys.readouterr().err


def test_a_missing_dependency_is_named_with_the_line_that_installs_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("loopsafe_mongo.kata.missing_modules", lambda: ["mongomock-motor"])

    status = main(["check"])

    assert status == 2
    assert "needs what is not installed here: pip install mongomock-motor" in (capsys.readouterr().err)


def test_hint_prints_the_exercises_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hint", "5"]) == 0

    assert "asyncio.run()" in capsys.readouterr().out


def test_diagram_draws_the_lanes_in_the_terminal_and_names_the_svg(
    kata: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(kata)

    assert main(["diagram", "1"]) == 0

    out = capsys.readouterr().out
    assert "test 1: loop A" in out
    assert "✗ bound loop is closed" in out
    assert str(kata / "01-import-time-client" / "diagram.svg") in out


def test_a_test_file_that_cannot_be_imported_is_reported_with_its_error(kata: Path) -> None:
    item = exercise(1)
    (kata / item.folder / "test_app.py").write_text("import nowhere_to_be_found\n")

    result = verdict(kata, item)

    assert not result.passed
    assert result.problems[0] == "the tests could not be collected: ModuleNotFoundError."
    assert result.error == {"type": "ModuleNotFoundError", "message": "No module named 'nowhere_to_be_found'"}


def test_a_run_that_wrote_no_report_is_not_done() -> None:
    result = judge(exercise(1), None, "ERROR: usage")

    assert not result.passed
    assert result.problems == ("pytest could not run the tests (see its output below).",)


def test_an_extra_failing_test_keeps_an_exercise_from_being_done() -> None:
    item = exercise(5)
    passed = {"outcome": "passed", "uses": {"call": 2}, "mismatches": 0, "error": None}
    report = {"tests": {"test_lists_seeded_item": passed}, "collection_errors": [], "exitstatus": 1}

    result = judge(item, report, "")

    assert result.problems == ("pytest exited with status 1: another test fails.",)


def test_diagrams_are_written_one_svg_per_exercise(tmp_path: Path) -> None:
    written = diagrams.write_all(tmp_path)

    assert [path.name for path in written] == [f"{item.folder}.svg" for item in EXERCISES]
    assert written[0].read_text(encoding="utf-8").startswith('<svg xmlns="http://www.w3.org/2000/svg"')


def test_python_m_loopsafe_mongo_runs_the_kata(capsys: pytest.CaptureFixture[str]) -> None:
    from loopsafe_mongo.__main__ import main as dispatch  # noqa: PLC0415 - the command line's entry point

    assert dispatch(["kata", "hint", "8"]) == 0
    assert "request.state.db" in capsys.readouterr().out


def test_python_m_loopsafe_mongo_names_its_commands_for_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    from loopsafe_mongo.__main__ import main as dispatch  # noqa: PLC0415 - the command line's entry point

    assert dispatch(["katas"]) == 2
    assert "unknown command 'katas'; one of: check, kata" in capsys.readouterr().err


def test_check_says_why_a_cheated_exercise_is_not_done(
    kata: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    item = exercise(1)
    monkeypatch.setattr("loopsafe_mongo.kata.EXERCISES", (item,))
    _edit_test(kata / item.folder, item.failing[0], delete)

    assert main(["check", str(kata)]) == 1

    out = capsys.readouterr().out
    assert "Not done yet:" in out
    assert "test_list_starts_empty did not run" in out
    assert "pytest said" in out  # nothing failed, so pytest's own summary shows what did run


def test_the_referee_finds_the_guards_error_inside_groups_and_chains() -> None:
    mismatch = LoopMismatchError("wrong loop")
    try:
        raise RuntimeError("while handling a request") from mismatch
    except RuntimeError as wrapped:
        group = ExceptionGroup("task group", [ValueError("other"), wrapped])

    assert guard_error(group) is mismatch
    assert guard_error(ValueError("no guard here")).args == ("no guard here",)


def test_check_runs_a_passed_exercise_again_only_when_its_files_change(
    kata: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    item = exercise(1)
    monkeypatch.setattr("loopsafe_mongo.kata.EXERCISES", (item,))
    solve(kata, item)
    runs: list[str] = []

    def counted_run(exercise: Exercise, folder: Path) -> tuple[dict[str, object] | None, str]:
        runs.append(exercise.folder)
        return run(exercise, folder)

    monkeypatch.setattr("loopsafe_mongo.kata.run", counted_run)
    assert main(["check", str(kata)]) == 0
    assert main(["check", str(kata)]) == 0
    with (kata / item.folder / "test_app.py").open("a") as tests:
        tests.write("# changed\n")
    assert main(["check", str(kata)]) == 0

    assert runs == [item.folder, item.folder]


def test_kata_alone_says_what_it_is_and_how_to_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0

    assert "python -m loopsafe_mongo kata start loop-kata" in capsys.readouterr().out
