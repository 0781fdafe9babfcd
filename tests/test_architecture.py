"""The layering of the repository, checked on every import statement.

An AST walk over every ``.py`` file of the contract, the engine and the plugins
reads each ``import`` and ``from ... import`` statement wherever it stands (module
level, inside a function, under ``if TYPE_CHECKING:``) and each
``importlib.import_module("...")`` / ``__import__("...")`` with a literal name
(for the cycle check, a computed name counts as every engine module the file
names in a string constant: see :func:`dynamic_imports`).
The rules (docs/design.md, "Layers"):

``contract``
    ``hookspecs/wfaudit_hookspecs`` imports no other ``wfaudit*`` package.
``stage-plugin``
    The packages of the stage plugins (ci, cd, maskers, keyring, sql, objectstore)
    import only ``wfaudit_hookspecs`` (and third-party code and themselves).
``app-plugin``
    The packages of the application-tier plugins (web, webhooks, prometheus)
    import only the top-level ``wfaudit`` (``import wfaudit``,
    ``from wfaudit import X`` where ``X`` is not a submodule) and
    ``wfaudit_hookspecs``.
``plugin-tests``
    A plugin's tests (and anything else of the plugin outside its package) import
    its own package, ``wfaudit_hookspecs``, the top-level ``wfaudit`` and
    ``wfaudit.testing`` -- no other plugin, no engine internals.
``engine-plugin``
    The engine (``wfaudit/``) imports no plugin package.
``engine-builtin``
    The engine imports ``wfaudit.builtin.*`` only inside ``wfaudit/builtin`` and
    the plugin registration (``wfaudit/plugins.py``, ``wfaudit/host.py``, and
    ``wfaudit/cli.py`` for the command line's own plugins, ``CLI_PLUGINS``). One
    exception: the reference backend ``wfaudit.builtin.memory`` (``memory://``) is
    re-exported by the test kit (``wfaudit.testing.MemoryStore``) and copied by the
    scaffold (``wfaudit new-plugin store``). It stays a built-in plugin rather than
    moving into ``wfaudit.testing`` because ``memory://`` must open anywhere
    (``Auditor.from_url("memory://")``, demos, embedders) while ``wfaudit.testing``
    imports pytest and hypothesis, the optional ``test`` extra: a plugin living
    there would make every ``memory://`` store need the extra. The backend imports
    nothing but the contract, so the kit's import of it closes no cycle.
``hook-call``
    Only ``wfaudit/host.py`` touches hooks: no ``.hook`` attribute (``pm.hook``,
    ``self.hook``) and no ``_hook`` name or attribute elsewhere in the engine.
    The test kit (``wfaudit/testing``, ``wfaudit/pytest_plugin.py``) is exempt: it
    drives plugins directly, as a harness, and is not the engine.
``engine-cycle``
    The import graph of the engine's modules has no cycle. Every import between
    two modules of one strongly connected component is reported, with the
    component's modules.

Every violation is ``file:line`` plus the rule. Today's known violations are in
``ALLOWED`` below, a temporary list: the engineers reshaping the code remove
their entries as the imports go, and ``test_allow_list_has_no_stale_entries``
fails on an entry that no longer matches a violation.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent

CONTRACT = "wfaudit_hookspecs"
ENGINE = "wfaudit"
STAGE_PLUGINS = ("ci", "cd", "maskers", "keyring", "sql", "objectstore")
APP_PLUGINS = ("web", "webhooks", "prometheus")
REGISTRATION = ("wfaudit/plugins.py", "wfaudit/host.py", "wfaudit/cli.py")
HOOK_HOST = "wfaudit/host.py"
TEST_KIT = ("wfaudit/testing/", "wfaudit/pytest_plugin.py")
REFERENCE_BACKEND = "wfaudit.builtin.memory"
REFERENCE_BACKEND_USERS = ("wfaudit/testing/", "wfaudit/scaffold.py")
SKIPPED_PARTS = {".venv", "build", "dist", "__pycache__", ".tox", ".git"}

RULES = (
    "contract",
    "stage-plugin",
    "app-plugin",
    "plugin-tests",
    "engine-plugin",
    "engine-builtin",
    "hook-call",
    "engine-cycle",
)

# rule -> "file:line" of today's violations. TEMPORARY: each entry goes when the
# import (or hook call) it names does; an entry that matches nothing fails
# test_allow_list_has_no_stale_entries. Do not add entries for new code.
ALLOWED: dict[str, list[str]] = {
    "contract": [],
    "stage-plugin": [],
    "app-plugin": [],
    "plugin-tests": [],
    "engine-plugin": [],
    "engine-builtin": [],
    "hook-call": [],
    "engine-cycle": [],
}


@attrs.frozen
class Import:
    """One imported module: ``module`` is absolute; ``names`` the from-imported names."""

    file: str  # relative to the root, with /
    line: int
    module: str
    names: tuple[str, ...] = ()


@attrs.frozen
class Violation:
    rule: str
    file: str
    line: int
    detail: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def __str__(self) -> str:
        return f"{self.where}: [{self.rule}] {self.detail}"


# -- reading the sources -----------------------------------------------------------------


def python_files(root: Path) -> Iterator[Path]:
    """Every .py file of the contract, the engine and the plugins."""
    for top in (root / "hookspecs" / CONTRACT, root / ENGINE, root / "plugins"):
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*.py")):
            parts = set(path.relative_to(root).parts)
            if parts & SKIPPED_PARTS or any(part.endswith(".egg-info") for part in parts):
                continue
            yield path


def module_name(root: Path, path: Path) -> str | None:
    """The dotted name of an importable module of the engine, contract or a plugin package."""
    relative = path.relative_to(root)
    parts = list(relative.with_suffix("").parts)
    if parts[0] == "hookspecs":
        parts = parts[1:]
    elif parts[0] == "plugins":
        if len(parts) < 3 or not parts[2].startswith("wfaudit_"):
            return None  # a plugin's tests, bench, ...: not a package module
        parts = parts[2:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package_of(root: Path, path: Path) -> str | None:
    name = module_name(root, path)
    if name is None:
        return None
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _resolve(package: str | None, module: str | None, level: int) -> str | None:
    if level == 0:
        return module
    if package is None:
        return None  # a relative import outside a package (a test's sibling): local
    base = package.split(".")
    if level > 1:
        base = base[: -(level - 1)]
    return ".".join([*base, module] if module else base)


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """Every import of ``path``, wherever it stands in the file."""
    file = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=file)
    package = _package_of(root, path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(package, node.module, node.level)
            if module is None:
                continue
            names = tuple(alias.name for alias in node.names)
            yield Import(file, node.lineno, module, names)
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            called = (
                function.attr
                if isinstance(function, ast.Attribute)
                else function.id
                if isinstance(function, ast.Name)
                else None
            )
            first = node.args[0]
            if (
                called in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and not first.value.startswith(".")
            ):
                yield Import(file, node.lineno, first.value)


def dynamic_imports(root: Path, path: Path, modules: set[str]) -> Iterator[Import]:
    """Imports through a computed name, as far as the file names its candidates.

    In a file calling ``import_module``/``__import__`` with a computed argument,
    each string constant that is an engine module's dotted name, or (for
    ``f"{__package__}.{name}"``) a sibling module's bare name, counts as an
    import of that module at the constant's line: ``cli.py``'s
    ``COMMAND_MODULES`` loads its ``*_cli`` modules this way.
    """
    file = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=file)
    package = _package_of(root, path)
    computed = relative = False
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        function = node.func
        called = getattr(function, "attr", None) or getattr(function, "id", None)
        first = node.args[0]
        if called not in ("import_module", "__import__") or isinstance(first, ast.Constant):
            continue
        computed = True
        if isinstance(first, ast.JoinedStr) and "__package__" in ast.unparse(first):
            relative = True
    if not computed:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "." in node.value and node.value in modules:  # not the bare "wfaudit"
                yield Import(file, node.lineno, node.value)
            elif relative and package and f"{package}.{node.value}" in modules:
                yield Import(file, node.lineno, f"{package}.{node.value}")


def hook_uses(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """``(line, what)`` of every touch of a hook relay: ``x.hook``, ``_hook``,
    ``getattr(x, "hook")``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("hook", "_hook"):
            yield node.lineno, f"`.{node.attr}` accessed"
        elif isinstance(node, ast.Name) and node.id == "_hook":
            yield node.lineno, "`_hook` used"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in ("hook", "_hook")
        ):
            yield node.lineno, f'getattr(..., "{node.args[1].value}")'


# -- the rules ---------------------------------------------------------------------------


def _top(module: str) -> str:
    return module.partition(".")[0]


def _ours(module: str) -> bool:
    top = _top(module)
    return top == ENGINE or top.startswith("wfaudit_")


def _engine_modules(root: Path) -> set[str]:
    names = set()
    for path in (root / ENGINE).rglob("*.py"):
        name = module_name(root, path)
        if name is not None:
            names.add(name)
    return names


def _targets(item: Import, modules: set[str]) -> list[str]:
    """The modules an import loads: ``from a import b`` loads ``a.b`` when it is one."""
    found = [f"{item.module}.{name}" for name in item.names if f"{item.module}.{name}" in modules]
    if not found or len(found) < len(item.names):
        found.append(item.module)
    return found


def _plugin_of(relative: str) -> tuple[str, str, bool] | None:
    """(short name, package, in the package?) of a file under plugins/."""
    parts = relative.split("/")
    if parts[0] != "plugins" or len(parts) < 3:
        return None
    short = parts[1].removeprefix("wfaudit-")
    package = "wfaudit_" + short.replace("-", "_")
    return short, package, parts[2] == package


def layering_violations(root: Path) -> list[Violation]:
    """Every import or hook use that breaks a layering rule."""
    engine_modules = _engine_modules(root)
    engine_submodules = {name.split(".")[1] for name in engine_modules if "." in name}
    found: list[Violation] = []

    def add(rule: str, item: Import, detail: str) -> None:
        found.append(Violation(rule, item.file, item.line, detail))

    for path in python_files(root):
        relative = path.relative_to(root).as_posix()
        for item in imports_of(root, path):
            if not _ours(item.module):
                continue  # the standard library or third-party
            top = _top(item.module)
            shown = item.module + (f" ({', '.join(item.names)})" if item.names else "")
            if relative.startswith(f"hookspecs/{CONTRACT}/"):
                if top != CONTRACT:
                    add("contract", item, f"the contract imports {shown}")
            elif relative.startswith(f"{ENGINE}/"):
                if top != ENGINE and top != CONTRACT:
                    add("engine-plugin", item, f"the engine imports the plugin {shown}")
                elif any(
                    name == f"{ENGINE}.builtin" or name.startswith(f"{ENGINE}.builtin.")
                    for name in (item.module, *(f"{item.module}.{n}" for n in item.names))
                ) and not (
                    relative.startswith(f"{ENGINE}/builtin/")
                    or relative in REGISTRATION
                    or (
                        relative.startswith(REFERENCE_BACKEND_USERS)
                        and REFERENCE_BACKEND
                        in (item.module, *(f"{item.module}.{n}" for n in item.names))
                    )
                ):
                    add("engine-builtin", item, f"built-in plugin internals imported: {shown}")
            elif (plugin := _plugin_of(relative)) is not None:
                short, own, in_package = plugin
                if top in (own, CONTRACT):
                    continue
                if not in_package:
                    public = top == ENGINE and (
                        (
                            item.module == ENGINE
                            and not set(item.names) & (engine_submodules - {"testing"})
                        )
                        or item.module == f"{ENGINE}.testing"
                        or item.module.startswith(f"{ENGINE}.testing.")
                    )
                    if not public:
                        add(
                            "plugin-tests",
                            item,
                            f"the tests of wfaudit-{short} import {shown}: only {own}, "
                            f"{CONTRACT}, the top-level {ENGINE} and {ENGINE}.testing",
                        )
                elif short in STAGE_PLUGINS:
                    add(
                        "stage-plugin",
                        item,
                        f"the stage plugin wfaudit-{short} imports {shown}: only {CONTRACT}",
                    )
                elif short in APP_PLUGINS:
                    deep = item.module != ENGINE or set(item.names) & engine_submodules
                    if deep:
                        add(
                            "app-plugin",
                            item,
                            f"the application-tier plugin wfaudit-{short} imports {shown}: "
                            f"only the top-level {ENGINE} API and {CONTRACT}",
                        )
                else:  # a new plugin directory: classify it above
                    add("stage-plugin", item, f"wfaudit-{short} is in no layer; it imports {shown}")
        if (
            relative.startswith(f"{ENGINE}/")
            and relative != HOOK_HOST
            and not relative.startswith(TEST_KIT)
        ):
            for line, what in hook_uses(root, path):
                found.append(
                    Violation("hook-call", relative, line, f"{what}: only {HOOK_HOST} calls hooks")
                )
    return found + cycle_violations(root, engine_modules)


def _components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of ``graph`` (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def cycle_violations(root: Path, engine_modules: set[str] | None = None) -> list[Violation]:
    """Each import between two modules of one import cycle of the engine."""
    modules = engine_modules if engine_modules is not None else _engine_modules(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for path in (root / ENGINE).rglob("*.py"):
        if set(path.relative_to(root).parts) & SKIPPED_PARTS:
            continue
        source = module_name(root, path)
        assert source is not None
        for item in [*imports_of(root, path), *dynamic_imports(root, path, modules)]:
            for target in _targets(item, modules):
                if target in modules and target != source:
                    graph[source].add(target)
                    edges[source, target].append(item)
    found: list[Violation] = []
    for component in _components(graph):
        if len(component) < 2:
            continue
        members = ", ".join(sorted(component))
        for (source, target), items in sorted(edges.items()):
            if source in component and target in component:
                for item in items:
                    found.append(
                        Violation(
                            "engine-cycle",
                            item.file,
                            item.line,
                            f"{source} imports {target}, in the import cycle of {members}",
                        )
                    )
    return found


def by_rule(violations: Iterable[Violation]) -> dict[str, dict[str, list[Violation]]]:
    out: dict[str, dict[str, list[Violation]]] = {rule: {} for rule in RULES}
    for violation in violations:
        out[violation.rule].setdefault(violation.where, []).append(violation)
    return out


# -- the tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def violations() -> dict[str, dict[str, list[Violation]]]:
    return by_rule(layering_violations(ROOT))


@pytest.mark.parametrize("rule", RULES)
def test_layering(rule: str, violations: dict[str, dict[str, list[Violation]]]) -> None:
    allowed = set(ALLOWED.get(rule, ()))
    new = [
        v
        for where, found in sorted(violations[rule].items())
        if where not in allowed
        for v in found
    ]
    assert not new, f"{len(new)} import(s) break the rule {rule!r}:\n" + "\n".join(map(str, new))


def test_allow_list_has_no_stale_entries(
    violations: dict[str, dict[str, list[Violation]]],
) -> None:
    assert set(ALLOWED) <= set(RULES), f"unknown rules in ALLOWED: {set(ALLOWED) - set(RULES)}"
    stale = [
        f"{where} [{rule}]"
        for rule, entries in ALLOWED.items()
        for where in entries
        if where not in violations[rule]
    ]
    assert not stale, (
        "these ALLOWED entries of tests/test_architecture.py no longer match a violation "
        "(the import moved or went): remove them\n" + "\n".join(stale)
    )
    duplicates = [rule for rule, entries in ALLOWED.items() if len(entries) != len(set(entries))]
    assert not duplicates, f"duplicate ALLOWED entries under {duplicates}"


# -- the checker itself, on a small tree made for each rule ------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    base = {
        "hookspecs/wfaudit_hookspecs/__init__.py": "",
        "wfaudit/__init__.py": "",
        "wfaudit/builtin/__init__.py": "",
        "wfaudit/builtin/spool.py": "",
        "wfaudit/testing/__init__.py": "",
        "wfaudit/history.py": "",
        "plugins/wfaudit-sql/wfaudit_sql/__init__.py": "",
        "plugins/wfaudit-web/wfaudit_web/__init__.py": "",
    }
    for name, text in {**base, **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def _found(root: Path) -> set[str]:
    return {f"{v.rule} {v.where}" for v in layering_violations(root)}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"hookspecs/wfaudit_hookspecs/model.py": "import os\n\ndef f():\n    import wfaudit\n"},
            {"contract hookspecs/wfaudit_hookspecs/model.py:4"},
            id="contract-function-level",
        ),
        pytest.param(
            {
                "plugins/wfaudit-sql/wfaudit_sql/store.py": (
                    "from typing import TYPE_CHECKING\n"
                    "import sqlalchemy\n"
                    "from wfaudit_hookspecs import Store\n"
                    "from . import urls\n"
                    "if TYPE_CHECKING:\n"
                    "    from wfaudit.auditor import Auditor\n"
                    "from wfaudit_ci import x\n"
                )
            },
            {
                "stage-plugin plugins/wfaudit-sql/wfaudit_sql/store.py:6",
                "stage-plugin plugins/wfaudit-sql/wfaudit_sql/store.py:7",
            },
            id="stage-plugin-type-checking",
        ),
        pytest.param(
            {
                "plugins/wfaudit-web/wfaudit_web/app.py": (
                    "import wfaudit\n"
                    "from wfaudit import Auditor, diff_snapshots\n"
                    "from wfaudit import history\n"
                    "from wfaudit.cli import main\n"
                    "import wfaudit_sql\n"
                )
            },
            {
                "app-plugin plugins/wfaudit-web/wfaudit_web/app.py:3",
                "app-plugin plugins/wfaudit-web/wfaudit_web/app.py:4",
                "app-plugin plugins/wfaudit-web/wfaudit_web/app.py:5",
            },
            id="app-plugin-top-level-only",
        ),
        pytest.param(
            {
                "plugins/wfaudit-web/tests/test_x.py": (
                    "from wfaudit import Auditor, testing\n"
                    "from wfaudit.testing import Clock\n"
                    "from wfaudit_web import create_app\n"
                    "from .conftest import TOKEN\n"
                    "from wfaudit.settings import parse\n"
                    "from wfaudit_sql import SqlStore\n"
                )
            },
            {
                "plugin-tests plugins/wfaudit-web/tests/test_x.py:5",
                "plugin-tests plugins/wfaudit-web/tests/test_x.py:6",
            },
            id="plugin-tests",
        ),
        pytest.param(
            {
                "wfaudit/retrigger.py": (
                    "from .builtin.spool import Spool\n"
                    "from . import builtin\n"
                    "import importlib\n"
                    "importlib.import_module('wfaudit_sql.store')\n"
                ),
                "wfaudit/plugins.py": "from wfaudit.builtin import spool\n",
                "wfaudit/builtin/retry.py": "from .spool import Spool\n",
            },
            {
                "engine-builtin wfaudit/retrigger.py:1",
                "engine-builtin wfaudit/retrigger.py:2",
                "engine-plugin wfaudit/retrigger.py:4",
            },
            id="engine-builtin-and-plugins",
        ),
        pytest.param(
            {
                "wfaudit/builtin/memory.py": "",
                "wfaudit/testing/__init__.py": (
                    "from wfaudit.builtin.memory import MemoryStore\n"
                    "from wfaudit.builtin import spool\n"
                ),
                "wfaudit/scaffold.py": "from wfaudit.builtin import memory\n",
                "wfaudit/demo.py": "from wfaudit.builtin.memory import MemoryStore\n",
            },
            {
                "engine-builtin wfaudit/testing/__init__.py:2",
                "engine-builtin wfaudit/demo.py:1",
            },
            id="engine-builtin-reference-backend",
        ),
        pytest.param(
            {
                "wfaudit/health.py": (
                    "def f(pm, auditor):\n"
                    "    pm.hook.wfaudit_x()\n"
                    "    auditor._hook.wfaudit_y()\n"
                    "    getattr(pm, 'hook')\n"
                    "    json.loads('{}', object_pairs_hook=dict)\n"
                ),
                "wfaudit/host.py": "def call(pm):\n    return pm.hook.wfaudit_x()\n",
                "wfaudit/testing/kit.py": "def call(pm):\n    return pm.hook.wfaudit_x()\n",
            },
            {
                "hook-call wfaudit/health.py:2",
                "hook-call wfaudit/health.py:3",
                "hook-call wfaudit/health.py:4",
            },
            id="hook-calls-only-in-host",
        ),
        pytest.param(
            {
                "wfaudit/auditor.py": "from wfaudit import history\n",
                "wfaudit/history.py": (
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n"
                    "    from .retrigger import X\n"
                ),
                "wfaudit/retrigger.py": "def f():\n    from wfaudit.auditor import Auditor\n",
                "wfaudit/diff.py": "from wfaudit import history\n",
            },
            {
                "engine-cycle wfaudit/auditor.py:1",
                "engine-cycle wfaudit/history.py:3",
                "engine-cycle wfaudit/retrigger.py:2",
            },
            id="cycle-through-lazy-imports",
        ),
    ],
)
def test_the_checker_finds(tmp_path: Path, files: dict[str, str], expected: set[str]) -> None:
    assert _found(_tree(tmp_path, files)) == expected


def test_the_checker_follows_imports_through_computed_names(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "wfaudit/cli.py": (
                "import importlib\n"
                "COMMANDS = {'log': 'history_cli', 'x': 'not_a_module'}\n"
                "def load(name):\n"
                "    importlib.import_module(f'{__package__}.{COMMANDS[name]}')\n"
            ),
            "wfaudit/history_cli.py": "from .cli import load\n",
        },
    )
    assert {v.where for v in layering_violations(root) if v.rule == "engine-cycle"} == {
        "wfaudit/cli.py:2",
        "wfaudit/history_cli.py:1",
    }


def test_the_checker_names_the_cycle(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, {"wfaudit/a.py": "from . import b\n", "wfaudit/b.py": "import wfaudit.a\n"}
    )
    (message,) = [str(v) for v in layering_violations(root) if v.where == "wfaudit/a.py:1"]
    assert message == (
        "wfaudit/a.py:1: [engine-cycle] wfaudit.a imports wfaudit.b, "
        "in the import cycle of wfaudit.a, wfaudit.b"
    )


def _sort_key(where: str) -> tuple[str, int]:
    file, _, line = where.rpartition(":")
    return file, int(line)


if __name__ == "__main__":  # print today's violations as an ALLOWED dict
    table = by_rule(layering_violations(ROOT))
    for rule in RULES:
        entries = sorted(table[rule], key=_sort_key)
        if not entries:
            print(f'    "{rule}": [],')
            continue
        print(f'    "{rule}": [')
        for where in entries:
            print(f'        "{where}",')
        print("    ],")
    sys.exit(0)
