"""Every command the docs show (the ```sh blocks of README.md, docs/ and the package and tool READMEs) names
things that exist: dev.py commands and benchmarks, ferretdb.sh and nginx.sh verbs, compose services and
profiles, files, ports the compose file publishes, package paths and extras. A command of a new kind
fails here until a check for it is added.

CI runs the commands themselves (.ci/run); this test catches a doc that drifts from the code in between.
"""

from __future__ import annotations

import itertools
import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from loopsafe_mongo import kata
from loopsafe_mongo.__main__ import COMMANDS
from loopsafe_mongo.check import parser

from scripts import dev

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "packages").glob("*/README.md"),
        ROOT / "tools" / "ferretdb" / "README.md",
    ]
)
_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
_ENV = re.compile(r"^[A-Z_]+=(\"[^\"]*\"|\$\([^)]*\)|\S*)\s+")


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for each command line of each ```sh block, comments dropped."""
    found = []
    for path in DOCS:
        for block in _BLOCK.findall(path.read_text()):
            for line in block.splitlines():
                command = line.split("  #", 1)[0].strip()
                if command and not command.startswith("#"):
                    found.append((str(path.relative_to(ROOT)), command))
    return found


def _published_ports() -> set[str]:
    return set(re.findall(r"127\.0\.0\.1:(\d+):\d+", (ROOT / "docker-compose.yml").read_text()))


def check_url(url: str) -> None:
    if url == "$(scripts/ferretdb.sh url)":
        check_command("scripts/ferretdb.sh url")
        return
    port = re.search(r"@?127\.0\.0\.1:(\d+)", url)
    assert port, f"a server URL in the docs must be ferretdb.sh's or the compose file's: {url}"
    assert port[1] in _published_ports(), f"nothing in docker-compose.yml publishes port {port[1]}: {url}"


def check_dev(args: list[str]) -> None:
    commands = {"serve", "test", "check", "pitfalls", "bench"}
    assert args[:1] in ([name] for name in commands), f"dev.py has no command {args[:1]}"
    if args[0] == "bench":
        assert args[1:2] in ([name] for name in dev.BENCHMARKS), (
            f"no benchmark {args[1:2]}: bench/ has {dev.BENCHMARKS}"
        )


def check_script_verb(script: str) -> Callable[[list[str]], None]:
    def check(args: list[str]) -> None:
        verbs = set(re.findall(r"^(\w+)\) cmd_", (ROOT / "scripts" / script).read_text(), re.MULTILINE))
        assert args[:1] in ([verb] for verb in verbs), f"{script} has no verb {args[:1]}; it has {sorted(verbs)}"

    return check


def check_compose(args: list[str]) -> None:
    """Profiles and services a documented `docker compose` command names exist (the file itself is
    validated by the compose loader in CI)."""
    compose = (ROOT / "docker-compose.yml").read_text()
    services = set(re.findall(r"^  (\w+):$", compose, re.MULTILINE))
    profiles = set(re.findall(r'profiles: \["(\w+)"\]', compose))
    for flag, value in itertools.pairwise(args):
        if flag == "--profile":
            assert value in profiles, f"docker-compose.yml has no profile {value!r}; it has {sorted(profiles)}"
    if "up" in args:
        named = [arg for arg in args[args.index("up") + 1 :] if not arg.startswith("-")]
        assert set(named) <= services, f"docker-compose.yml has no service {sorted(set(named) - services)}"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _local_project(spec: str) -> Path:
    """The project a pip requirement installs: a path, a `#subdirectory=`, a wheel built into dist/
    (`$(ls dist/NAME-*.whl)`), or the name a package of packages/ will be published under."""
    directory = re.search(r"#subdirectory=(\S+)", spec)
    if directory:
        return ROOT / directory[1]
    base = spec.split("[", 1)[0].split("@", 1)[0].strip()
    if (ROOT / base / "pyproject.toml").is_file():
        return ROOT / base
    wheel = re.fullmatch(r"\$\(ls dist/(\w+)-\*\.whl\)", base)
    name = _normalized(wheel[1] if wheel else base)
    for pyproject in ROOT.glob("packages/*/pyproject.toml"):
        if _normalized(tomllib.loads(pyproject.read_text())["project"]["name"]) == name:
            return pyproject.parent
    raise AssertionError(f"no local project is installed by {spec!r}")


# Tools the docs may install by name: the release tools scripts/check-package.sh pins.
_TOOLS = ROOT / "packages" / "loopsafe-mongo" / "ci" / "tools.txt"


def check_pip_install(args: list[str]) -> None:
    # The package spec is the argument with extras (others, such as fastapi, come from the index).
    spec = next((arg for arg in args if "[" in arg), args[-1])
    if spec in {line.split("==")[0] for line in _TOOLS.read_text().splitlines()}:
        return
    path = _local_project(spec)
    pyproject = tomllib.loads((path / "pyproject.toml").read_text())
    extras = re.findall(r"\[(\w+)\]", spec.split("@", 1)[0])
    for extra in extras:
        assert extra in pyproject["project"]["optional-dependencies"], f"{path.name} has no extra [{extra}]"


def check_loopsafe_mongo(args: list[str]) -> None:
    """`python -m loopsafe_mongo [COMMAND] ...`: the command exists and its own parser accepts the arguments."""
    assert args[:1] in ([], *([name] for name in COMMANDS)), f"loopsafe_mongo has no command {args[:1]}"
    if args[:1] == ["check"]:
        parser().parse_args(args[1:])  # exits (a test failure) on an option it does not know
    if args[:1] == ["kata"]:
        kata.parser().parse_args(args[1:])


def check_build(args: list[str]) -> None:
    # `python -m build PROJECT --outdir DIR`: the argument that is neither an option nor its value.
    projects = [
        arg
        for before, arg in zip(["", *args[:-1]], args, strict=True)
        if not arg.startswith("-") and before != "--outdir"
    ]
    assert projects, "python -m build names no project"
    assert (ROOT / projects[0] / "pyproject.toml").is_file(), f"{projects[0]} is not a project to build"


CHECKS: dict[str, Callable[[list[str]], None]] = {
    "python -m loopsafe_mongo": check_loopsafe_mongo,
    "python3 scripts/dev.py": check_dev,
    "scripts/ferretdb.sh": check_script_verb("ferretdb.sh"),
    "scripts/nginx.sh": check_script_verb("nginx.sh"),
    "pip install": check_pip_install,
    "python -m pip install": check_pip_install,
    "python -m build": check_build,
    "docker compose": check_compose,
    "cp": lambda args: None,  # the source is checked below, as a path
}


def check_command(command: str) -> None:
    while match := _ENV.match(command):
        name, value = match[0].split("=", 1)
        if name == "MONGODB_URL":
            check_url(value.strip().strip('"'))
        command = command[match.end() :]
    if command.startswith("export MONGODB_URL="):
        check_url(command.split("=", 1)[1].strip('"'))
        return
    for prefix, check in CHECKS.items():
        if command == prefix or command.startswith(prefix + " "):
            args = shlex.split(command[len(prefix) :])
            for arg in args:
                if prefix == "cp" and not arg.startswith("-"):
                    assert (ROOT / arg).exists() or arg == ".env", f"no such file: {arg}"
            check(args)
            return
    pytest.fail(f"no check for this kind of documented command yet: {command!r}")


@pytest.mark.parametrize(("where", "command"), documented_commands(), ids=lambda value: value)
def test_documented_command_names_things_that_exist(where: str, command: str) -> None:
    check_command(command)


def test_the_docs_show_commands() -> None:
    # Guards the extraction itself: the Quickstart's two commands must be among what is checked.
    commands = {command for _, command in documented_commands()}

    assert {"python3 scripts/dev.py serve", "python3 scripts/dev.py test"} <= commands
