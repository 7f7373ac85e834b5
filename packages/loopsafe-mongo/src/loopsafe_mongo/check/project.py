"""What the checker learns about a project before it judges any file: the pytest settings that decide
which loop a fixture or a test runs on, and the names the project's code gives to client factories,
dependencies, startup hooks and TestClient fixtures."""

from __future__ import annotations

import ast
import configparser
import tomllib
import weakref
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

CLIENT_CLASSES = frozenset({"AsyncIOMotorClient", "AsyncMongoClient", "AsyncMongoMockClient"})
CLIENT_MODULES = frozenset({"motor", "pymongo", "mongomock_motor"})
# Calls that run an app's lifespan: the client it makes lives on the loop that makes the call.
LIFESPAN_ENTRIES = frozenset({"LifespanManager", "run_lifespan", "lifespan_context"})
SCOPES = {"function": 0, "class": 1, "module": 2, "package": 3, "session": 4}
FUNCTION_SCOPE = 0

Function = ast.FunctionDef | ast.AsyncFunctionDef


_RUNS_LATER = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# Every rule reads a function's body: it is gathered once per function node (and forgotten with its tree).
_BODIES: weakref.WeakKeyDictionary[ast.AST, list[ast.AST]] = weakref.WeakKeyDictionary()


def own_nodes(node: ast.AST) -> list[ast.AST]:
    """Every node under `node` that runs when it runs, in source order: nested functions, classes and lambdas
    run later, so their insides are left out."""
    found: list[ast.AST] = []

    def visit(parent: ast.AST) -> None:
        for child in ast.iter_child_nodes(parent):
            found.append(child)
            if not isinstance(child, _RUNS_LATER):
                visit(child)

    visit(node)
    return found


def own_body_nodes(function: Function) -> list[ast.AST]:
    """The nodes of a function's body (not its decorators, arguments or defaults)."""
    if function not in _BODIES:
        found: list[ast.AST] = []
        for statement in function.body:
            found.append(statement)
            if not isinstance(statement, _RUNS_LATER):
                found.extend(own_nodes(statement))
        _BODIES[function] = found
    return _BODIES[function]


def last_name(expr: ast.expr) -> str | None:
    """`f` for `f`, `a.b.f` and `f(...)`: how a call names what it calls, whatever it was imported as."""
    if isinstance(expr, ast.Call):
        return last_name(expr.func)
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def string(expr: ast.expr | None) -> str | None:
    return expr.value if isinstance(expr, ast.Constant) and isinstance(expr.value, str) else None


def decorator_calls(function: Function | ast.ClassDef) -> Iterator[tuple[str | None, ast.Call | None]]:
    """(name, call) for each decorator: `@x.fixture(scope=...)` gives ("fixture", the call)."""
    for decorator in function.decorator_list:
        yield last_name(decorator), decorator if isinstance(decorator, ast.Call) else None


@dataclass(frozen=True)
class Fixture:
    scope: int
    loop_scope: int | None  # pytest-asyncio's loop_scope=, when given
    asyncio: bool  # declared with pytest_asyncio.fixture


def fixture_of(function: Function) -> Fixture | None:
    """The fixture a function declares, or None when it is not one."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if last_name(target) != "fixture":
            continue
        scope = loop_scope = None
        if isinstance(decorator, ast.Call):
            scope = string(keyword(decorator, "scope"))
            loop_scope = string(keyword(decorator, "loop_scope"))
        is_asyncio = isinstance(target, ast.Attribute) and last_name(target.value) == "pytest_asyncio"
        return Fixture(SCOPES.get(scope or "function", 0), SCOPES.get(loop_scope or ""), is_asyncio)
    return None


@dataclass(frozen=True)
class PytestSettings:
    """The pytest-asyncio settings that apply to a file, from the nearest pytest configuration above it."""

    auto_mode: bool = False
    fixture_loop_scope: int | None = None
    test_loop_scope: int | None = None


_NO_SETTINGS = PytestSettings()


def _read_section(path: Path) -> dict[str, str] | None:
    """The pytest section of a configuration file, or None when the file has none (or cannot be read)."""
    try:
        if path.name == "pyproject.toml":
            tool = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
            section = tool.get("pytest", {}).get("ini_options", tool.get("pytest"))
            return {key: str(value) for key, value in section.items()} if isinstance(section, dict) else None
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, configparser.Error):
        return None
    name = "tool:pytest" if path.name == "setup.cfg" else "pytest"
    return dict(parser[name]) if parser.has_section(name) else None


class SettingsFinder:
    """Finds, as pytest does, the first directory upwards with a pytest configuration; cached per directory."""

    FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")

    def __init__(self) -> None:
        self._cache: dict[Path, PytestSettings] = {}

    def for_file(self, path: Path) -> PytestSettings:
        return self._for_directory(path.resolve().parent)

    def _for_directory(self, directory: Path) -> PytestSettings:
        if directory not in self._cache:
            self._cache[directory] = self._find(directory)
        return self._cache[directory]

    def _find(self, directory: Path) -> PytestSettings:
        for name in self.FILES:
            candidate = directory / name
            section = _read_section(candidate) if candidate.is_file() else None
            if section is not None:
                return PytestSettings(
                    auto_mode=section.get("asyncio_mode", "").strip() == "auto",
                    fixture_loop_scope=SCOPES.get(section.get("asyncio_default_fixture_loop_scope", "").strip()),
                    test_loop_scope=SCOPES.get(section.get("asyncio_default_test_loop_scope", "").strip()),
                )
        return _NO_SETTINGS if directory.parent == directory else self._for_directory(directory.parent)


@dataclass
class Module:
    """One parsed file and the names its imports bind (`ma` -> `motor.motor_asyncio`)."""

    path: Path
    tree: ast.Module
    lines: list[str]
    aliases: dict[str, str] = field(default_factory=dict)
    nodes: list[ast.AST] = field(default_factory=list)  # every node, walked once for all the rules
    functions: list[Function] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nodes = list(ast.walk(self.tree))
        self.functions = [n for n in self.nodes if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for node in self.nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    self.aliases[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"

    def qualified(self, expr: ast.expr) -> str | None:
        """The dotted name an expression refers to, through the imports: `ma.X` -> `motor.motor_asyncio.X`."""
        if isinstance(expr, ast.Name):
            return self.aliases.get(expr.id, expr.id)
        if isinstance(expr, ast.Attribute):
            base = self.qualified(expr.value)
            return None if base is None else f"{base}.{expr.attr}"
        return None

    def local_imports(self, finder: ImportFinder) -> Iterator[Path]:
        """Files of this project that this module imports from, found next to it or in a directory above."""
        directory = self.path.resolve().parent
        for node in self.nodes:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found = finder.find(directory, node.module)
                if found is not None:
                    yield found


class ImportFinder:
    """Finds the file of a project module (`app.database`) from a checked file's directory, looking there and
    in each directory above; one lookup per directory and module name in a run."""

    def __init__(self) -> None:
        self._found: dict[tuple[Path, str], Path | None] = {}

    def find(self, start: Path, module: str) -> Path | None:
        key = (start, module)
        if key not in self._found:
            self._found[key] = self._search(start, module.split("."))
        return self._found[key]

    @staticmethod
    def _search(start: Path, parts: list[str]) -> Path | None:
        for directory in (start, *start.parents):
            base = directory.joinpath(*parts)
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None


@dataclass
class Facts:
    """Names the whole project gives to things the rules look for, collected from every file first."""

    factories: set[str] = field(default_factory=set)  # functions and classes that return or are a new client
    # The same, as `module.name` (the file's stem), for calls through a module: `database.create_client()`.
    factories_in_modules: set[str] = field(default_factory=set)
    client_contexts: set[str] = field(default_factory=set)  # context managers that open a client
    cached: set[str] = field(default_factory=set)  # cached functions that return a client
    dependencies: set[str] = field(default_factory=set)  # passed to Depends(...) or Security(...)
    startup: set[str] = field(default_factory=set)  # lifespans, startup handlers, and what they call
    testclient_fixtures: set[str] = field(default_factory=set)  # fixtures that make a sync TestClient
    lifespan_apps: set[str] = field(default_factory=set)  # functions that build an app with a lifespan
    event_loop_scope: int = FUNCTION_SCOPE  # scope of an `event_loop` fixture override (old pytest-asyncio)
    anyio_backend_scope: int = FUNCTION_SCOPE  # scope of the project's `anyio_backend` fixture
    # checked file -> the shortest loop its async tests run on (scan.loops_of_tests), for files with any
    test_loops: dict[Path, int] = field(default_factory=dict)


def is_cached(function: Function) -> bool:
    """Decorated with functools.lru_cache or functools.cache (called or not)."""
    return any(name in {"lru_cache", "cache"} for name, _ in decorator_calls(function))


def is_context_manager(function: Function) -> bool:
    return any(name in {"asynccontextmanager", "contextmanager"} for name, _ in decorator_calls(function))


class ClientCalls:
    """Tells a call that makes a new async client (a driver's class, or a factory of the project's) from others."""

    def __init__(self, module: Module, facts: Facts) -> None:
        self.module = module
        self.facts = facts

    def is_client(self, call: ast.Call) -> bool:
        name = self.module.qualified(call.func)
        if name is None:
            return False
        parts = name.lstrip(".").split(".")
        if parts[-1] in CLIENT_CLASSES and (len(parts) == 1 or parts[0] in CLIENT_MODULES):
            return True
        return self._reaches_a_factory(call.func)

    def _reaches_a_factory(self, func: ast.expr) -> bool:
        """`create_client()`, or `database.create_client()` through an imported module; not any object's
        method that shares a factory's name (a dict's `items()` where a project has an `items()` factory)."""
        if isinstance(func, ast.Attribute):
            qualified = self.module.qualified(func)
            return qualified is not None and ".".join(qualified.split(".")[-2:]) in self.facts.factories_in_modules
        return last_name(func) in self.facts.factories

    def first_in(self, nodes: Iterable[ast.AST]) -> ast.Call | None:
        return next((n for n in nodes if isinstance(n, ast.Call) and self.is_client(n)), None)

    def made_in(self, expr: ast.AST, tainted: Collection[str] = ()) -> bool:
        """`expr` holds a new client: a client call in it, or a name assigned one."""
        nodes = [expr, *own_nodes(expr)]
        return self.first_in(nodes) is not None or any(isinstance(n, ast.Name) and n.id in tainted for n in nodes)

    def returns_client(self, function: Function) -> bool:
        """The function returns a new client (possibly wrapped), made in its body."""
        tainted: set[str] = set()
        returns: list[ast.expr] = []
        nodes = own_body_nodes(function)
        # A global it sets is a cache (rule LSM002), not a new client per call.
        globals_ = {name for n in nodes if isinstance(n, ast.Global) for name in n.names}
        for node in nodes:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value and self.made_in(node.value, tainted):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                tainted.update(t.id for t in targets if isinstance(t, ast.Name) and t.id not in globals_)
            elif isinstance(node, ast.Return) and node.value is not None:
                returns.append(node.value)
            elif isinstance(node, ast.Yield | ast.YieldFrom):
                return False
        return any(self.made_in(value, tainted) for value in returns)


def _collect_factories(modules: list[Module], facts: Facts) -> None:
    """Functions and classes that make a client, to a fixed point: a factory that calls a factory is one."""
    while True:
        before = len(facts.factories) + len(facts.cached) + len(facts.client_contexts)
        for module in modules:
            calls = ClientCalls(module, facts)
            for function in module.functions:
                if not _calls_a_client(function, facts):
                    continue  # cheap test first: most functions call nothing that makes a client
                if calls.returns_client(function):
                    if is_cached(function):
                        facts.cached.add(function.name)
                    else:
                        facts.factories.add(function.name)
                        facts.factories_in_modules.add(f"{module.path.stem}.{function.name}")
                elif is_context_manager(function) and calls.first_in(own_body_nodes(function)):
                    facts.client_contexts.add(function.name)
            for cls in (n for n in module.nodes if isinstance(n, ast.ClassDef)):
                if _is_client_class(cls, calls):
                    facts.factories.add(cls.name)
                    facts.factories_in_modules.add(f"{module.path.stem}.{cls.name}")
        if len(facts.factories) + len(facts.cached) + len(facts.client_contexts) == before:
            return


def _calls_a_client(function: Function, facts: Facts) -> bool:
    names = CLIENT_CLASSES | facts.factories
    return any(isinstance(n, ast.Call) and last_name(n.func) in names for n in own_body_nodes(function))


def _is_client_class(cls: ast.ClassDef, calls: ClientCalls) -> bool:
    """A subclass of a client, or a class whose __init__ makes one (so `Database()` makes a client)."""
    if any(last_name(base) in CLIENT_CLASSES | calls.facts.factories for base in cls.bases):
        return True
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    return init is not None and calls.first_in(own_body_nodes(init)) is not None


def _collect_names(module: Module, facts: Facts) -> None:
    """Dependencies, startup hooks, TestClient fixtures, app factories and loop fixtures of one module."""
    for node in module.nodes:
        if isinstance(node, ast.Call):
            _collect_from_call(node, facts)
    for function in module.functions:
        if any(
            name == "on_event" and call is not None and string(call.args[0] if call.args else None) == "startup"
            for name, call in decorator_calls(function)
        ):
            facts.startup.add(function.name)
        _collect_from_fixture(function, facts)
    # What a lifespan or startup handler calls runs at startup too (`await connect_to_mongo()`).
    for function in module.functions:
        if function.name in facts.startup:
            facts.startup.update(
                name for n in own_body_nodes(function) if isinstance(n, ast.Call) and (name := last_name(n.func))
            )


def _collect_from_call(call: ast.Call, facts: Facts) -> None:
    name = last_name(call.func)
    if name in {"Depends", "Security"}:
        target = call.args[0] if call.args else keyword(call, "dependency")
        if target is not None and (dependency := last_name(target)):
            facts.dependencies.add(dependency)
    elif name == "add_event_handler" and len(call.args) == 2 and string(call.args[0]) == "startup":
        facts.startup.add(last_name(call.args[1]) or "")
    for kw in call.keywords:
        if kw.arg == "lifespan":
            facts.startup.add(last_name(kw.value) or "")
        elif kw.arg == "on_startup" and isinstance(kw.value, ast.List | ast.Tuple):
            facts.startup.update(last_name(e) or "" for e in kw.value.elts)


def _builds_app_with_lifespan(function: Function) -> bool:
    return any(
        isinstance(n, ast.Call) and last_name(n.func) in {"FastAPI", "Starlette"} and keyword(n, "lifespan")
        for n in own_body_nodes(function)
    )


def _collect_from_fixture(function: Function, facts: Facts) -> None:
    fixture = fixture_of(function)
    if fixture is None:
        return
    if any(isinstance(n, ast.Call) and last_name(n.func) == "TestClient" for n in own_body_nodes(function)):
        facts.testclient_fixtures.add(function.name)
    if function.name == "event_loop":
        facts.event_loop_scope = max(facts.event_loop_scope, fixture.scope)
    elif function.name == "anyio_backend":
        facts.anyio_backend_scope = max(facts.anyio_backend_scope, fixture.scope)


def collect(modules: list[Module], context: list[Module]) -> Facts:
    """The project's facts, from the files checked and (for factories and app factories) the local files they import."""
    facts = Facts()
    _collect_factories([*modules, *context], facts)
    facts.lifespan_apps = {f.name for m in [*modules, *context] for f in m.functions if _builds_app_with_lifespan(f)}
    for module in modules:
        _collect_names(module, facts)
    facts.startup.discard("")
    return facts
