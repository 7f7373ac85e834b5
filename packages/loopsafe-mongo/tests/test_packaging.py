"""The package as released: its declared floors are the versions CI installs and the plugin enforces, its
version is written once, and its README reads right on a package index (no links into this repository)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import loopsafe_mongo
from loopsafe_mongo import _compat

PACKAGE = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]


def _floors(requirements: list[str]) -> dict[str, str]:
    """name -> floor, from requirements like "pytest>=7.4,<10"."""
    found = (re.match(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement) for requirement in requirements)
    return {match[1].lower(): match[2] for match in found if match}


def _pins(name: str) -> dict[str, str]:
    lines = (PACKAGE / "ci" / name).read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def _same_release(pinned: str, floor: str) -> bool:
    return _compat.release(pinned) == _compat.release(floor)


def test_each_floor_is_pinned_by_a_lowest_versions_run() -> None:
    extras = PYPROJECT["optional-dependencies"]
    runs = {
        "lowest.txt": [*PYPROJECT["dependencies"], *extras["asyncio"], *extras["motor"]],
        "lowest-anyio.txt": [*PYPROJECT["dependencies"], *extras["pytest"], *extras["motor"]],
    }
    for run, requirements in runs.items():
        pins = _pins(run)
        for name, floor in _floors(requirements).items():
            assert _same_release(pins[name], floor), f"{run} pins {name}=={pins[name]}, the floor is {floor}"


def test_the_plugin_enforces_the_declared_floors() -> None:
    extras = PYPROJECT["optional-dependencies"]
    declared = _floors([*PYPROJECT["dependencies"], *extras["pytest"], *extras["asyncio"], *extras["motor"]])
    declared["pytest"] = _floors(extras["pytest"])["pytest"]  # the lower of the two extras' floors
    for name, (floor, _) in {**_compat.FLOORS, **_compat.ASYNCIO_FLOORS}.items():
        assert _same_release(declared[name], floor), f"{name}: pyproject says {declared[name]}, _compat {floor}"


def test_the_version_is_written_once_and_installed_as_such() -> None:
    assert PYPROJECT["dynamic"] == ["version"]
    assert metadata.version("loopsafe-mongo") == loopsafe_mongo.__version__


def test_the_changelog_has_an_entry_for_this_version() -> None:
    changelog = (PACKAGE / "CHANGELOG.md").read_text()

    assert f"## {loopsafe_mongo.__version__} " in changelog


def test_every_link_in_the_readme_works_on_a_package_index() -> None:
    # A package index shows the README alone: a relative link points nowhere there.
    readme = (PACKAGE / "README.md").read_text()
    targets = re.findall(r"\]\(([^)]+)\)", readme)

    assert [target for target in targets if not target.startswith(("https://", "#"))] == []
