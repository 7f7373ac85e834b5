"""The rules at work on one parsed file, given what the project defines (project.Facts): each finding has a
rule code, a place and a message; a `# loopsafe: ignore[CODE]` comment on its line silences it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from loopsafe_mongo.check.project import (
    CLIENT_CLASSES,
    FUNCTION_SCOPE,
    LIFESPAN_ENTRIES,
    SCOPES,
    ClientCalls,
    Facts,
    Function,
    Module,
    PytestSettings,
    fixture_of,
    is_cached,
    keyword,
    last_name,
    own_body_nodes,
    own_nodes,
    string,
)

ROUTE_DECORATORS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route", "route", "websocket"}
)
# Awaiting one of these on a database, collection or cursor means the test uses the client's loop.
DB_METHODS = frozenset(
    {
        "aggregate", "bulk_write", "command", "count_documents", "create_index", "create_indexes", "delete_many",
        "delete_one", "distinct", "drop", "drop_collection", "drop_database", "estimated_document_count", "find",
        "find_one", "find_one_and_delete", "find_one_and_replace", "find_one_and_update", "insert_many",
        "insert_one", "list_collection_names", "list_database_names", "replace_one", "to_list", "update_many",
        "update_one",
    }
)  # fmt: skip
LOOP_GETTERS = frozenset({"get_running_loop", "get_event_loop"})
SUPPRESSION = re.compile(r"#\s*loopsafe:\s*ignore(?:\[(?P<codes>[A-Za-z0-9,\s]*)\])?")
SCOPE_NAMES = {number: name for name, number in SCOPES.items()}


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    column: int  # 1-based, as editors and SARIF count
    code: str
    message: str


def suppressed(line: str, code: str) -> bool:
    match = SUPPRESSION.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or code in {c.strip().upper() for c in codes.split(",")}


class FileChecker:
    """Runs every rule over one module."""

    def __init__(self, module: Module, facts: Facts, settings: PytestSettings, path: str) -> None:
        self.module = module
        self.facts = facts
        self.settings = settings
        self.path = path
        self.clients = ClientCalls(module, facts)
        self.findings: list[Finding] = []
        self.module_loop_scope = _module_loop_scope(module.tree)

    def report(self, node: ast.AST, code: str, message: str) -> None:
        line: int = getattr(node, "lineno", 1)
        text = self.module.lines[line - 1] if line <= len(self.module.lines) else ""
        if not suppressed(text, code):
            self.findings.append(Finding(self.path, line, getattr(node, "col_offset", 0) + 1, code, message))

    def run(self) -> list[Finding]:
        self.check_import_time(self.module.tree.body)
        for node in self.module.nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.check_function(node)
            elif isinstance(node, ast.ClassDef):
                self.check_io_loop_method(node)
            elif isinstance(node, ast.Assign):
                self.check_io_loop_assignment(node)
            elif isinstance(node, ast.Call) and last_name(node.func) == "setattr":
                self.check_io_loop_setattr(node)
        return sorted(self.findings)

    # LSM001: statements that run at import time, in the module and in its classes' bodies.
    def check_import_time(self, body: list[ast.stmt]) -> None:
        for statement in body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.Import | ast.ImportFrom):
                continue
            if isinstance(statement, ast.ClassDef):
                self.check_import_time(statement.body)
            elif isinstance(statement, ast.If) and _runs_later(statement.test):
                self.check_import_time(statement.orelse)
            elif isinstance(statement, ast.If | ast.Try | ast.With):
                for block in _blocks(statement):
                    self.check_import_time(block)
            elif call := self.clients.first_in(own_nodes(statement)):
                name = last_name(call.func)
                self.report(call, "LSM001", f"{name}() called at import time: the client outlives every test loop")

    def check_function(self, function: Function) -> None:
        self.check_cached(function)
        self.check_per_loop_dict(function)
        self.check_per_request(function)
        fixture = fixture_of(function)
        if fixture is not None:
            self.check_fixture_loop(function, fixture.scope, fixture.loop_scope, asyncio=fixture.asyncio)
            if function.name != "event_loop":
                self.check_loop_runner(function)
        if isinstance(function, ast.AsyncFunctionDef):
            self.check_testclient_db(function)
            self.check_app_without_lifespan(function)
        if function.name.startswith("test"):
            self.check_test_marker(function)

    # LSM002
    def check_cached(self, function: Function) -> None:
        if is_cached(function) and function.name in self.facts.cached:
            self.report(function, "LSM002", f"{function.name}() caches a client for good (lru_cache)")
        nodes = own_body_nodes(function)
        globals_ = {name for n in nodes if isinstance(n, ast.Global) for name in n.names}
        for node in nodes:
            if not (isinstance(node, ast.Assign | ast.AnnAssign) and node.value and self.clients.made_in(node.value)):
                continue
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                kept = (isinstance(target, ast.Name) and target.id in globals_) or (
                    isinstance(target, ast.Attribute) and _outlives_the_call(target.value, self.module)
                )
                # A lifespan or startup hook that stores a new client each time it runs is the fix; made only
                # `if client is None`, the client of the first lifespan is kept for every later one.
                if kept and (function.name not in self.facts.startup or _made_lazily(node, target, nodes)):
                    held = ast.unparse(target)
                    self.report(node, "LSM002", f"{held} keeps a client made in {function.name}() for good")

    # LSM003
    def check_per_loop_dict(self, function: Function) -> None:
        nodes = own_body_nodes(function)
        if self.clients.first_in(nodes) is None:
            return
        loops: set[str] = set()  # names holding the loop, or something of it: `loop_id = id(loop)`
        for n in nodes:
            if isinstance(n, ast.Assign) and _mentions_loop(n.value, loops):
                loops.update(t.id for t in n.targets if isinstance(t, ast.Name))
        for node in nodes:
            key = None
            if isinstance(node, ast.Subscript):
                key = node.slice
            elif isinstance(node, ast.Call) and last_name(node.func) in {"get", "setdefault", "pop"} and node.args:
                key = node.args[0]
            if key is not None and _mentions_loop(key, loops):
                self.report(node, "LSM003", f"{function.name}() keeps clients per event loop")
                return

    # LSM004
    def check_per_request(self, function: Function) -> None:
        is_route = any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in ROUTE_DECORATORS
            for d in function.decorator_list
        )
        if not is_route and function.name not in self.facts.dependencies:
            return
        call = self.clients.first_in(own_body_nodes(function))
        if call is not None:
            role = "route" if is_route else "dependency"
            self.report(
                call, "LSM004", f"{last_name(call.func)}() called in {role} {function.name}(): a client per request"
            )

    # LSM005
    def check_fixture_loop(self, function: Function, scope: int, loop_scope: int | None, *, asyncio: bool) -> None:
        if scope == FUNCTION_SCOPE or not self.opens_client(function):
            return
        scope_name = SCOPE_NAMES[scope]
        tests_loop = self.tests_loop_scope()
        if isinstance(function, ast.AsyncFunctionDef):
            if not (asyncio or self.settings.auto_mode):
                return  # anyio runs it on the runner its tests share, or pytest refuses the scope mismatch
            own_loop = next(
                (s for s in (loop_scope, self.settings.fixture_loop_scope) if s is not None),
                max(scope, self.facts.event_loop_scope),  # pytest-asyncio's default: the fixture's own scope
            )
            if own_loop < scope:
                self.report(
                    function, "LSM005", f"{scope_name} fixture {function.name}() runs on a {SCOPE_NAMES[own_loop]} loop"
                )
                return
        if tests_loop is not None and tests_loop < scope:
            self.report(
                function,
                "LSM005",
                f"{scope_name} fixture {function.name}() opens a client; tests run on {SCOPE_NAMES[tests_loop]} loops",
            )

    def opens_client(self, function: Function) -> bool:
        """It enters a lifespan (whose client the app's requests use), or hands tests a client it made."""
        nodes = own_body_nodes(function)
        if any(
            isinstance(n, ast.Call) and last_name(n.func) in LIFESPAN_ENTRIES | self.facts.client_contexts
            for n in nodes
        ):
            return True
        gives = any(
            isinstance(n, ast.Return | ast.Yield) and n.value is not None and string(n.value) is None for n in nodes
        )
        return gives and self.clients.first_in(nodes) is not None

    def tests_loop_scope(self) -> int | None:
        """The shortest loop the tests this fixture serves run on: those of its module, or for a conftest.py
        those of the checked modules below it. None when no such test is among the checked files."""
        here = self.module.path.resolve()
        if here.name == "conftest.py":
            loops = [scope for path, scope in self.facts.test_loops.items() if path.is_relative_to(here.parent)]
        else:
            loops = [self.facts.test_loops[here]] if here in self.facts.test_loops else []
        return min(loops, default=None)

    # LSM006
    def check_test_marker(self, function: Function) -> None:
        marker = _loop_marker(function)
        module_scope = self.module_loop_scope
        if marker is not None and module_scope is not None and marker[1] < module_scope:
            self.report(
                marker[0],
                "LSM006",
                f"{function.name} runs on a loop of its own, not the module's {SCOPE_NAMES[module_scope]} loop",
            )

    # LSM007
    def check_testclient_db(self, function: ast.AsyncFunctionDef) -> None:
        params = {a.arg for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)}
        nodes = own_body_nodes(function)
        uses_testclient = bool(params & self.facts.testclient_fixtures) or any(
            isinstance(n, ast.Call) and last_name(n.func) == "TestClient" for n in nodes
        )
        enters_lifespan = any(isinstance(n, ast.Call) and last_name(n.func) in LIFESPAN_ENTRIES for n in nodes)
        if not uses_testclient or enters_lifespan:
            return  # with a lifespan of its own on this loop, the database it awaits is most likely that one
        for node in nodes:
            if isinstance(node, ast.Await) and last_name(node.value) in DB_METHODS:
                self.report(node, "LSM007", f"{function.name} awaits the database beside a sync TestClient")
                return

    # LSM008
    def check_loop_runner(self, function: Function) -> None:
        for node in own_body_nodes(function):
            if not isinstance(node, ast.Call):
                continue
            name = self.module.qualified(node.func)
            if name in {"asyncio.run", "anyio.run"} or last_name(node.func) == "run_until_complete":
                self.report(node, "LSM008", f"fixture {function.name}() runs a loop of its own ({name or 'run'})")

    # LSM009: in a client's subclass, assigned onto a client class, or patched in with setattr.
    def check_io_loop_method(self, cls: ast.ClassDef) -> None:
        if not any(last_name(base) in CLIENT_CLASSES | self.facts.factories for base in cls.bases):
            return
        for node in cls.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "get_io_loop":
                self.report(node, "LSM009", f"{cls.name}.get_io_loop overridden: Motor clients are pinned to one loop")

    def check_io_loop_setattr(self, call: ast.Call) -> None:
        if len(call.args) > 1 and string(call.args[1]) == "get_io_loop":
            self.report(call, "LSM009", "get_io_loop patched: Motor clients are pinned to one loop")

    def check_io_loop_assignment(self, node: ast.Assign) -> None:
        if any(isinstance(t, ast.Attribute) and t.attr == "get_io_loop" for t in node.targets):
            self.report(node, "LSM009", "get_io_loop replaced: Motor clients are pinned to one loop")

    # LSM010
    def check_app_without_lifespan(self, function: ast.AsyncFunctionDef) -> None:
        nodes = own_body_nodes(function)
        calls = [n for n in nodes if isinstance(n, ast.Call)]
        lifespan_args = {
            a.id
            for c in calls
            if last_name(c.func) in LIFESPAN_ENTRIES | {"TestClient"}
            for a in c.args
            if isinstance(a, ast.Name)
        }
        built = {
            t.id
            for n in nodes
            if isinstance(n, ast.Assign) and last_name(n.value) in self.facts.lifespan_apps
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for call in calls:
            if last_name(call.func) not in {"ASGITransport", "AsyncClient"}:
                continue
            app = keyword(call, "app") or (
                call.args[0] if call.args and last_name(call.func) == "ASGITransport" else None
            )
            if not isinstance(app, ast.Name):
                continue
            if app.id in lifespan_args and any(last_name(c.func) == "run_lifespan" for c in calls):
                self.report(call, "LSM010", f"requests go to the raw {app.id}, not the app run_lifespan yields")
            elif app.id in built and not lifespan_args:
                self.report(call, "LSM010", f"requests go to {app.id}, whose lifespan is never entered")


def loops_of_tests(module: Module, settings: PytestSettings, facts: Facts) -> list[int]:
    """The loop each async test of a module runs on, as a scope: its own marker, else the module's pytestmark,
    else the pytest settings; no shorter than a project-wide loop fixture (`event_loop`, `anyio_backend`)."""
    marked = _module_loop_scope(module.tree)
    configured = FUNCTION_SCOPE if settings.test_loop_scope is None else settings.test_loop_scope
    scopes = []
    for function in module.functions:
        if not (isinstance(function, ast.AsyncFunctionDef) and function.name.startswith("test")):
            continue
        marker = _loop_marker(function)
        own = None if marker is None else marker[1]
        if own is not None and marked is not None and own < marked:
            continue  # a test taken off its module's loop by its own marker is rule LSM006's finding
        scope = own if own is not None else marked if marked is not None else configured
        scopes.append(max(scope, facts.event_loop_scope, facts.anyio_backend_scope))
    return scopes


def _loop_marker(function: Function) -> tuple[ast.expr, int] | None:
    """A test's own asyncio or anyio marker and the loop it gives the test (a bare one: a loop of its own)."""
    for decorator in function.decorator_list:
        name = last_name(decorator.func if isinstance(decorator, ast.Call) else decorator)
        if name == "anyio":
            return decorator, FUNCTION_SCOPE
        if name == "asyncio":
            loop_scope = string(keyword(decorator, "loop_scope")) if isinstance(decorator, ast.Call) else None
            return decorator, SCOPES.get(loop_scope or "function", FUNCTION_SCOPE)
    return None


def _runs_later(test: ast.expr) -> bool:
    """`if __name__ == "__main__":` and `if TYPE_CHECKING:` bodies do not run on import."""
    text = ast.unparse(test)
    return "__main__" in text or text.endswith("TYPE_CHECKING")


def _blocks(statement: ast.If | ast.Try | ast.With) -> Iterator[list[ast.stmt]]:
    yield statement.body
    if isinstance(statement, ast.If | ast.Try):
        yield statement.orelse
    if isinstance(statement, ast.Try):
        yield statement.finalbody
        for handler in statement.handlers:
            yield handler.body


def _outlives_the_call(expr: ast.expr, module: Module) -> bool:
    """An object that outlives the function setting an attribute on it: a class (`cls`, `self.__class__`,
    `type(self)`, or reached from one: `cls._instance`), or an object or class bound at module level."""
    while isinstance(expr, ast.Attribute):
        if expr.attr == "__class__":
            return True
        expr = expr.value
    if isinstance(expr, ast.Call):
        return last_name(expr.func) == "type"
    if not isinstance(expr, ast.Name):
        return False
    return expr.id == "cls" or any(
        (isinstance(s, ast.ClassDef) and s.name == expr.id)
        or (isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == expr.id for t in s.targets))
        for s in module.tree.body
    )


def _made_lazily(assignment: ast.stmt, target: ast.expr, nodes: list[ast.AST]) -> bool:
    """The assignment sits under an `if` that tests what it assigns (`if cls._client is None:`)."""
    held = ast.unparse(target)
    return any(
        isinstance(n, ast.If) and held in ast.unparse(n.test) and any(c is assignment for c in own_nodes(n))
        for n in nodes
    )


def _mentions_loop(expr: ast.AST, loop_names: frozenset[str] | set[str]) -> bool:
    return any(
        (isinstance(n, ast.Call) and last_name(n.func) in LOOP_GETTERS)
        or (isinstance(n, ast.Name) and n.id in loop_names)
        for n in (expr, *own_nodes(expr))
    )


def _module_loop_scope(tree: ast.Module) -> int | None:
    """The loop_scope a module's `pytestmark = pytest.mark.asyncio(loop_scope=...)` gives its tests, if any."""
    for statement in tree.body:
        if not (isinstance(statement, ast.Assign) and any(ast.unparse(t) == "pytestmark" for t in statement.targets)):
            continue
        for node in (statement.value, *own_nodes(statement.value)):
            if isinstance(node, ast.Call) and last_name(node.func) == "asyncio":
                return SCOPES.get(string(keyword(node, "loop_scope")) or "function", 0)
    return None
