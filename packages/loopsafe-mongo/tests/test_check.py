"""`python -m loopsafe_mongo check`: each rule fires on a small bad snippet and stays quiet on its correct twin;
suppression comments, the output formats, exit codes and unparseable files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from loopsafe_mongo.__main__ import main as loopsafe_mongo_main
from loopsafe_mongo.check import check_paths, main
from loopsafe_mongo.check.rules import RULES

# rule -> (bad snippet, its correct twin). Each snippet is a test module of its own, checked alone.
CASES: dict[str, tuple[str, str]] = {
    "LSM001": (
        """
        from motor.motor_asyncio import AsyncIOMotorClient
        client = AsyncIOMotorClient("mongodb://db")
        """,
        """
        from contextlib import asynccontextmanager
        from motor.motor_asyncio import AsyncIOMotorClient

        @asynccontextmanager
        async def lifespan(app):
            client = AsyncIOMotorClient("mongodb://db")
            yield {"db": client["app"]}
            client.close()
        """,
    ),
    "LSM002": (
        """
        import functools
        from pymongo import AsyncMongoClient

        @functools.lru_cache
        def get_client():
            return AsyncMongoClient("mongodb://db")
        """,
        """
        from pymongo import AsyncMongoClient

        def get_client():
            return AsyncMongoClient("mongodb://db")
        """,
    ),
    "LSM003": (
        """
        import asyncio
        from motor.motor_asyncio import AsyncIOMotorClient
        _clients = {}

        def client_for_this_loop():
            loop_id = id(asyncio.get_running_loop())
            if loop_id not in _clients:
                _clients[loop_id] = AsyncIOMotorClient("mongodb://db")
            return _clients[loop_id]
        """,
        """
        from motor.motor_asyncio import AsyncIOMotorClient
        _clients = {}

        def client_for(name):
            _clients[name] = AsyncIOMotorClient("mongodb://db")
        """,
    ),
    "LSM004": (
        """
        from fastapi import FastAPI
        from motor.motor_asyncio import AsyncIOMotorClient
        app = FastAPI()

        @app.get("/items")
        async def items():
            return await AsyncIOMotorClient("mongodb://db")["app"]["items"].find({}).to_list()
        """,
        """
        from fastapi import FastAPI, Request
        app = FastAPI()

        @app.get("/items")
        async def items(request: Request):
            return await request.state.db["items"].find({}).to_list()
        """,
    ),
    "LSM005": (
        """
        import pytest
        from motor.motor_asyncio import AsyncIOMotorClient

        @pytest.fixture(scope="module")
        def db():
            return AsyncIOMotorClient("mongodb://db")["test"]

        async def test_nothing_stored(db):
            assert await db["items"].find_one({}) is None
        """,
        """
        import pytest
        from motor.motor_asyncio import AsyncIOMotorClient

        @pytest.fixture
        def db():
            return AsyncIOMotorClient("mongodb://db")["test"]

        async def test_nothing_stored(db):
            assert await db["items"].find_one({}) is None
        """,
    ),
    "LSM006": (
        """
        import pytest
        pytestmark = pytest.mark.asyncio(loop_scope="session")

        @pytest.mark.asyncio
        async def test_items(client):
            assert (await client.get("/items")).status_code == 200
        """,
        """
        import pytest
        pytestmark = pytest.mark.asyncio(loop_scope="session")

        @pytest.mark.asyncio(loop_scope="session")
        async def test_items(client):
            assert (await client.get("/items")).status_code == 200
        """,
    ),
    "LSM007": (
        """
        import pytest
        from fastapi.testclient import TestClient
        from myapp import app

        @pytest.fixture
        def api():
            with TestClient(app) as api:
                yield api

        async def test_stored(api):
            api.post("/items", json={"name": "lamp"})
            assert await api.app.state.db["items"].find_one({"name": "lamp"})
        """,
        """
        import pytest
        from fastapi.testclient import TestClient
        from myapp import app

        @pytest.fixture
        def api():
            with TestClient(app) as api:
                yield api

        def test_stored(api):
            assert api.post("/items", json={"name": "lamp"}).status_code == 201
        """,
    ),
    "LSM008": (
        """
        import asyncio
        import pytest

        @pytest.fixture
        def seeded(db):
            asyncio.run(db["items"].insert_one({"name": "lamp"}))
        """,
        """
        import pytest

        @pytest.fixture
        async def seeded(db):
            await db["items"].insert_one({"name": "lamp"})
        """,
    ),
    "LSM009": (
        """
        import asyncio
        from motor.motor_asyncio import AsyncIOMotorClient
        AsyncIOMotorClient.get_io_loop = asyncio.get_running_loop
        """,
        """
        import asyncio

        class FakeClient:
            def get_io_loop(self):
                return asyncio.get_running_loop()
        """,
    ),
    "LSM010": (
        """
        import httpx
        from fastapi import FastAPI

        def create_app():
            return FastAPI(lifespan=lifespan)

        async def test_items():
            app = create_app()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
                assert (await http.get("/items")).status_code == 200
        """,
        """
        import httpx
        from fastapi import FastAPI
        from loopsafe_mongo import run_lifespan

        def create_app():
            return FastAPI(lifespan=lifespan)

        async def test_items():
            async with run_lifespan(create_app()) as running:
                transport = httpx.ASGITransport(app=running.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                    assert (await http.get("/items")).status_code == 200
        """,
    ),
}


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return directory


def codes(directory: Path, files: dict[str, str]) -> list[str]:
    findings, errors, _ = check_paths([write(directory, files)])
    assert errors == []
    return [f.code for f in findings]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(argv)
    return status, capsys.readouterr().out


def test_every_rule_has_a_case() -> None:
    assert sorted(CASES) == [rule.code for rule in RULES]


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_fires_on_its_bad_pattern(code: str, tmp_path: Path) -> None:
    assert codes(tmp_path, {"test_bad.py": CASES[code][0]}) == [code]


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_is_quiet_on_the_correct_twin(code: str, tmp_path: Path) -> None:
    assert codes(tmp_path, {"test_good.py": CASES[code][1]}) == []


# LSM001: how a client is named.
@pytest.mark.parametrize(
    "source",
    [
        "from motor import motor_asyncio as ma\nclient = ma.AsyncIOMotorClient()\n",
        "import motor.motor_asyncio\nclient = motor.motor_asyncio.AsyncIOMotorClient()\n",
        "import pymongo\nclient = pymongo.AsyncMongoClient()\n",
        "from pymongo.asynchronous.mongo_client import AsyncMongoClient as C\nclient = C()\n",
        "from mongomock_motor import AsyncMongoMockClient\nclass Db:\n    client = AsyncMongoMockClient()\n",
    ],
    ids=["module-alias", "dotted", "pymongo", "class-alias", "mock-in-class-body"],
)
def test_a_client_made_at_import_time_is_found_under_any_name(source: str, tmp_path: Path) -> None:
    assert codes(tmp_path, {"m.py": source}) == ["LSM001"]


def test_a_sync_mongoclient_is_never_flagged(tmp_path: Path) -> None:
    assert codes(tmp_path, {"m.py": "from pymongo import MongoClient\nclient = MongoClient()\n"}) == []


def test_a_client_under_main_or_type_checking_is_not_import_time(tmp_path: Path) -> None:
    source = """
    from typing import TYPE_CHECKING
    from motor.motor_asyncio import AsyncIOMotorClient
    if TYPE_CHECKING:
        client = AsyncIOMotorClient()
    if __name__ == "__main__":
        client = AsyncIOMotorClient()
    """
    assert codes(tmp_path, {"m.py": source}) == []


def test_import_time_code_in_if_and_try_blocks_is_checked(tmp_path: Path) -> None:
    source = """
    from motor.motor_asyncio import AsyncIOMotorClient
    try:
        import uvloop
    except ImportError:
        client = AsyncIOMotorClient()
    """
    assert codes(tmp_path, {"m.py": source}) == ["LSM001"]


def test_a_factory_of_the_project_counts_as_a_client(tmp_path: Path) -> None:
    factory = """
    from motor.motor_asyncio import AsyncIOMotorClient
    def _new(url):
        return AsyncIOMotorClient(url)
    def create_client(url):
        client = _new(url)
        return client
    """
    files = {
        "pkg/__init__.py": "",
        "pkg/database.py": factory,
        "tests/test_x.py": "from pkg.database import create_client\nclient = create_client('u')\n",
    }
    write(tmp_path, files)
    findings, _, _ = check_paths([tmp_path / "tests"])  # the factory's module is found through the import
    assert [(f.code, f.path.endswith("test_x.py")) for f in findings] == [("LSM001", True)]


def test_a_class_that_makes_a_client_in_init_counts_as_a_client(tmp_path: Path) -> None:
    source = """
    from motor.motor_asyncio import AsyncIOMotorClient
    class Mongo:
        def __init__(self):
            self.client = AsyncIOMotorClient()
    mongo = Mongo()
    """
    assert codes(tmp_path, {"m.py": source}) == ["LSM001"]


# LSM002
def test_a_global_assigned_lazily_is_a_cached_client(tmp_path: Path) -> None:
    source = """
    from motor.motor_asyncio import AsyncIOMotorClient
    client = None
    def get_client():
        global client
        if client is None:
            client = AsyncIOMotorClient()
        return client
    """
    assert codes(tmp_path, {"m.py": source}) == ["LSM002"]


def test_a_startup_hook_that_sets_a_global_each_time_is_fine(tmp_path: Path) -> None:
    source = """
    from fastapi import FastAPI
    from motor.motor_asyncio import AsyncIOMotorClient
    client = None
    async def connect():
        global client
        client = AsyncIOMotorClient()
    app = FastAPI(on_startup=[connect])
    """
    assert codes(tmp_path, {"m.py": source}) == []


def test_a_startup_hook_that_keeps_the_first_client_is_cached(tmp_path: Path) -> None:
    source = """
    from motor.motor_asyncio import AsyncIOMotorClient
    class Database:
        _client = None
        @classmethod
        async def connect(cls):
            if cls._client is None:
                cls._client = AsyncIOMotorClient()
    def setup(app):
        app.add_event_handler("startup", Database.connect)
    """
    assert codes(tmp_path, {"m.py": source}) == ["LSM002"]


@pytest.mark.parametrize("holder", ["self.__class__", "type(self)", "Database"])
def test_a_client_kept_on_the_class_is_cached(holder: str, tmp_path: Path) -> None:
    source = f"""
    from motor.motor_asyncio import AsyncIOMotorClient
    class Database:
        def connect(self):
            {holder}.client = AsyncIOMotorClient()
    """
    assert codes(tmp_path, {"m.py": source}) == ["LSM002"]


def test_a_global_set_in_an_on_event_startup_handler_is_fine(tmp_path: Path) -> None:
    source = """
    from fastapi import FastAPI
    from motor.motor_asyncio import AsyncIOMotorClient
    app = FastAPI()
    client = None

    @app.on_event("startup")
    async def connect():
        global client
        client = AsyncIOMotorClient()
    """
    assert codes(tmp_path, {"m.py": source}) == []


def test_a_dict_of_clients_filled_by_loop_with_setdefault_is_per_loop(tmp_path: Path) -> None:
    source = """
    import asyncio
    from motor.motor_asyncio import AsyncIOMotorClient
    _clients = {}
    def client():
        return _clients.setdefault(asyncio.get_running_loop(), AsyncIOMotorClient())
    """
    assert codes(tmp_path, {"m.py": source}) == ["LSM003"]


def test_an_instance_attribute_set_in_a_method_is_not_a_cache(tmp_path: Path) -> None:
    source = """
    from motor.motor_asyncio import AsyncIOMotorClient
    class Repo:
        def open(self):
            self.client = AsyncIOMotorClient()
    """
    assert codes(tmp_path, {"m.py": source}) == []


# LSM004
def test_a_dependency_that_makes_a_client_makes_one_per_request(tmp_path: Path) -> None:
    source = """
    from fastapi import Depends
    from motor.motor_asyncio import AsyncIOMotorClient
    async def get_db():
        client = AsyncIOMotorClient()
        yield client["app"]
        client.close()
    async def items(db=Depends(get_db)):
        return db
    """
    assert codes(tmp_path, {"m.py": source}) == ["LSM004"]


# LSM005: the loop a long-lived fixture and its tests run on.
SESSION_LIFESPAN = """
import pytest_asyncio
from loopsafe_mongo import run_lifespan
from myapp import create_app

@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def running_app():
    async with run_lifespan(create_app()) as running:
        yield running
"""


TESTS = "async def test_items(running_app):\n    assert running_app\n"


def test_a_session_lifespan_with_tests_on_per_test_loops_is_flagged(tmp_path: Path) -> None:
    assert codes(tmp_path, {"conftest.py": SESSION_LIFESPAN, "tests/test_items.py": TESTS}) == ["LSM005"]


def test_a_session_lifespan_with_tests_on_the_session_loop_is_fine(tmp_path: Path) -> None:
    ini = "[pytest]\nasyncio_default_test_loop_scope = session\n"
    assert codes(tmp_path, {"pytest.ini": ini, "conftest.py": SESSION_LIFESPAN, "test_items.py": TESTS}) == []


def test_a_session_lifespan_whose_tests_each_carry_the_session_marker_is_fine(tmp_path: Path) -> None:
    tests = '@pytest.mark.asyncio(loop_scope="session")\n' + TESTS
    assert codes(tmp_path, {"conftest.py": SESSION_LIFESPAN, "test_items.py": "import pytest\n" + tests}) == []


def test_a_conftest_fixture_is_judged_only_by_the_tests_below_it(tmp_path: Path) -> None:
    files = {"a/conftest.py": SESSION_LIFESPAN, "b/test_items.py": TESTS}  # b's tests cannot use a's fixture
    assert codes(tmp_path, files) == []


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("pyproject.toml", '[tool.pytest.ini_options]\nasyncio_default_test_loop_scope = "session"\n'),
        ("setup.cfg", "[tool:pytest]\nasyncio_default_test_loop_scope = session\n"),
        ("tox.ini", "[pytest]\nasyncio_default_test_loop_scope = session\n"),
    ],
)
def test_the_test_loop_scope_is_read_from_any_pytest_configuration(name: str, settings: str, tmp_path: Path) -> None:
    assert codes(tmp_path, {name: settings, "tests/conftest.py": SESSION_LIFESPAN, "tests/test_items.py": TESTS}) == []


def test_a_configuration_without_a_pytest_section_is_passed_over(tmp_path: Path) -> None:
    files = {
        "tox.ini": "[tox]\nenvlist = py311\n",
        "pyproject.toml": "not toml [",
        "conftest.py": SESSION_LIFESPAN,
        "test_items.py": TESTS,
    }
    assert codes(tmp_path, files) == ["LSM005"]


def test_a_session_fixture_on_a_shorter_loop_of_its_own_is_flagged(tmp_path: Path) -> None:
    source = SESSION_LIFESPAN.replace('loop_scope="session"', 'loop_scope="function"')
    findings, _, _ = check_paths([write(tmp_path, {"conftest.py": source})])
    assert [(f.code, f.message) for f in findings] == [
        ("LSM005", "session fixture running_app() runs on a function loop")
    ]


def test_the_default_fixture_loop_scope_applies_to_fixtures_without_one(tmp_path: Path) -> None:
    source = SESSION_LIFESPAN.replace(', loop_scope="session"', "")
    ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = session\n"
    findings, _, _ = check_paths([write(tmp_path, {"pytest.ini": ini, "conftest.py": source})])
    assert [f.message for f in findings] == ["session fixture running_app() runs on a function loop"]


def test_an_old_style_session_event_loop_fixture_gives_tests_the_session_loop(tmp_path: Path) -> None:
    loop = """
    import asyncio
    import pytest

    @pytest.fixture(scope="session")
    def event_loop():
        loop = asyncio.new_event_loop()
        yield loop
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    """
    assert codes(tmp_path, {"conftest.py": SESSION_LIFESPAN, "loop.py": loop, "test_items.py": TESTS}) == []


def test_an_anyio_session_fixture_is_left_to_anyio(tmp_path: Path) -> None:
    source = """
    import pytest
    from asgi_lifespan import LifespanManager
    from myapp import app

    @pytest.fixture(scope="session")
    def anyio_backend():
        return "asyncio"

    @pytest.fixture(scope="session")
    async def manager():
        async with LifespanManager(app) as manager:
            yield manager
    """
    assert codes(tmp_path, {"conftest.py": source}) == []


def test_auto_mode_makes_a_plain_async_fixture_pytest_asyncios(tmp_path: Path) -> None:
    source = SESSION_LIFESPAN.replace("pytest_asyncio.fixture", "pytest.fixture").replace(
        "import pytest_asyncio", "import pytest"
    )
    ini = "[pytest]\nasyncio_mode = auto\n"
    assert codes(tmp_path, {"pytest.ini": ini, "conftest.py": source, "test_items.py": TESTS}) == ["LSM005"]


def test_a_session_fixture_that_hands_tests_nothing_is_fine(tmp_path: Path) -> None:
    source = """
    import pytest
    from motor.motor_asyncio import AsyncIOMotorClient

    @pytest.fixture(scope="session")
    def created_indexes():
        AsyncIOMotorClient().close()
        yield
    """
    assert codes(tmp_path, {"conftest.py": source}) == []


# LSM006
def test_an_anyio_marker_in_a_session_loop_module_is_off_the_loop(tmp_path: Path) -> None:
    source = CASES["LSM006"][0].replace("@pytest.mark.asyncio", "@pytest.mark.anyio", 1)
    assert codes(tmp_path, {"test_m.py": source}) == ["LSM006"]


# LSM007
def test_a_testclient_beside_a_lifespan_of_the_tests_own_is_fine(tmp_path: Path) -> None:
    source = """
    from fastapi.testclient import TestClient
    from loopsafe_mongo import run_lifespan
    from myapp import create_app

    async def test_both():
        async with run_lifespan(create_app()) as running:
            with TestClient(create_app()) as sync:
                sync.get("/items")
            assert await running.state["db"]["items"].find_one({}) is None
    """
    assert codes(tmp_path, {"test_m.py": source}) == []


# LSM008
def test_an_event_loop_fixture_may_run_its_loop(tmp_path: Path) -> None:
    source = """
    import asyncio
    import pytest

    @pytest.fixture
    def event_loop():
        loop = asyncio.new_event_loop()
        yield loop
        loop.run_until_complete(loop.shutdown_asyncgens())
    """
    assert codes(tmp_path, {"conftest.py": source}) == []


# LSM009
@pytest.mark.parametrize(
    "source",
    [
        "from motor.motor_asyncio import AsyncIOMotorClient\n"
        "class Client(AsyncIOMotorClient):\n    def get_io_loop(self):\n        return None\n",
        "import asyncio\ndef test_x(monkeypatch, client):\n"
        "    monkeypatch.setattr(client, 'get_io_loop', asyncio.get_running_loop)\n",
    ],
    ids=["subclass", "monkeypatch"],
)
def test_a_get_io_loop_override_is_found_in_any_form(source: str, tmp_path: Path) -> None:
    assert codes(tmp_path, {"test_m.py": source}) == ["LSM009"]


# LSM010
def test_requests_to_the_raw_app_beside_run_lifespan_miss_its_state(tmp_path: Path) -> None:
    source = """
    import httpx
    from loopsafe_mongo import run_lifespan

    async def test_items(app):
        transport = httpx.ASGITransport(app=app)
        async with run_lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.get("/items")
    """
    assert codes(tmp_path, {"test_m.py": source}) == ["LSM010"]


# Suppression
@pytest.mark.parametrize(
    "comment", ["# loopsafe: ignore[LSM001]", "# loopsafe: ignore", "#loopsafe:ignore[lsm002, LSM001]"]
)
def test_a_suppression_comment_silences_its_line(comment: str, tmp_path: Path) -> None:
    source = f"from motor.motor_asyncio import AsyncIOMotorClient\nclient = AsyncIOMotorClient()  {comment}\n"
    assert codes(tmp_path, {"m.py": source}) == []


def test_a_suppression_of_another_rule_does_not_silence_the_line(tmp_path: Path) -> None:
    source = "from motor.motor_asyncio import AsyncIOMotorClient as C\nclient = C()  # loopsafe: ignore[LSM002]\n"
    assert codes(tmp_path, {"m.py": source}) == ["LSM001"]


# The command: output formats, selection, files, exit codes.
BAD = {"app.py": CASES["LSM001"][0], "test_seed.py": CASES["LSM008"][0]}


def test_text_output_names_place_rule_message_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, BAD)
    status, out = run([str(tmp_path / "app.py")], capsys)
    lines = out.splitlines()
    assert status == 1
    assert lines[0].endswith(
        "app.py:3:10: LSM001 [import-time-client] AsyncIOMotorClient() called at import time:"
        " the client outlives every test loop"
    )
    assert lines[1].startswith("    fix: create the client in the app's lifespan")
    assert lines[2] == "1 finding in 1 file checked"


def test_a_clean_run_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"app.py": CASES["LSM001"][1]})
    assert run([str(tmp_path)], capsys) == (0, "0 findings in 1 file checked\n")


def test_json_output_lists_each_finding_with_its_rule_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, BAD)
    status, out = run(["--format", "json", str(tmp_path)], capsys)
    document = json.loads(out)
    assert status == 1
    assert document["files_checked"] == 2
    assert document["errors"] == []
    assert [(f["code"], f["rule"], f["line"], f["column"]) for f in document["findings"]] == [
        ("LSM001", "import-time-client", 3, 10),
        ("LSM008", "loop-runner-in-fixture", 7, 5),
    ]
    assert all(f["fix"] and f["message"] and f["path"].endswith(".py") for f in document["findings"])


def test_sarif_output_describes_every_rule_and_locates_each_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, BAD)
    status, out = run(["--format", "sarif", str(tmp_path)], capsys)
    sarif = json.loads(out)
    assert status == 1
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-2.1.0.json")
    (only_run,) = sarif["runs"]
    rules = only_run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [rule.code for rule in RULES]
    assert all(r["help"]["text"] and r["shortDescription"]["text"] for r in rules)
    result = only_run["results"][0]
    assert (result["ruleId"], rules[result["ruleIndex"]]["id"]) == ("LSM001", "LSM001")
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("app.py")
    assert location["region"] == {"startLine": 3, "startColumn": 10}
    assert only_run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_select_and_ignore_choose_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, BAD)
    assert (
        json.loads(run(["--format", "json", "--select", "LSM008", str(tmp_path)], capsys)[1])["findings"][0]["code"]
        == "LSM008"
    )
    assert run(["--ignore", "LSM001,LSM008", str(tmp_path)], capsys) == (0, "0 findings in 2 files checked\n")


def test_an_unknown_rule_code_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--select", "LSM999", str(tmp_path)]) == 2
    assert "unknown rule code(s): LSM999" in capsys.readouterr().err


def test_a_missing_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "loopsafe: ignore[LSM001]" in capsys.readouterr().out


def test_a_syntax_error_is_reported_with_its_place_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, {"broken.py": "def f(:\n", **BAD})
    status, out = run([str(tmp_path)], capsys)
    assert status == 2
    assert "broken.py:1:7: error: cannot check this file: syntax error: invalid syntax" in out
    assert "LSM001" in out  # the other files are still checked


def test_a_file_that_is_not_utf8_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "latin.py").write_bytes(b"name = '\xe9'\n")
    status, out = run(["--format", "sarif", str(tmp_path)], capsys)
    (only_run,) = json.loads(out)["runs"]
    assert status == 2
    assert only_run["invocations"][0]["executionSuccessful"] is False
    assert "cannot check this file" in only_run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]


def test_hidden_environment_and_excluded_directories_are_not_walked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = CASES["LSM001"][0]
    write(
        tmp_path,
        {".venv/lib/x.py": bad, "node_modules/x.py": bad, "build/x.py": bad, "gen/x.py": bad, "a.egg-info/x.py": bad},
    )
    write(tmp_path, {"src/skip_me.py": bad, "src/ok.py": "x = 1\n", "notes.txt": bad})
    status, out = run(["--exclude", "gen", "--exclude", "skip_*.py", str(tmp_path)], capsys)
    assert (status, out) == (0, "0 findings in 1 file checked\n")


def test_a_file_named_on_the_command_line_is_checked_whatever_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, {"script": CASES["LSM001"][0]})
    assert run([str(tmp_path / "script")], capsys)[0] == 1
    assert run(["--exclude", "script", str(tmp_path / "script")], capsys) == (0, "0 findings in 0 files checked\n")


def test_a_file_named_twice_is_checked_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"app.py": CASES["LSM001"][0]})
    status, out = run([str(tmp_path), str(tmp_path / "app.py")], capsys)
    assert (status, out.count("LSM001"), out.splitlines()[-1]) == (1, 1, "1 finding in 1 file checked")


def test_the_command_runs_as_a_module(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": CASES["LSM001"][0]})
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "loopsafe_mongo", "check", "--format", "json", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["findings"][0]["code"] == "LSM001"


def test_the_package_command_line_routes_check_here(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"app.py": CASES["LSM001"][0]})
    assert loopsafe_mongo_main(["check", str(tmp_path)]) == 1
    assert "LSM001" in capsys.readouterr().out


def test_a_method_named_like_a_projects_factory_is_not_a_client(tmp_path: Path) -> None:
    # `items` makes a client in one module; a dict's `items()` elsewhere is not a call to it.
    (tmp_path / "factories.py").write_text(
        "from motor.motor_asyncio import AsyncIOMotorClient\n\n\ndef items():\n    return AsyncIOMotorClient()\n"
    )
    (tmp_path / "table.py").write_text("RULES = {'a': 1}\nNAMES = sorted(RULES.items())\n")

    findings, errors, _ = check_paths([tmp_path])

    assert errors == []
    assert findings == []
