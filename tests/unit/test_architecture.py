"""Layer rules of the extension package, checked without Blender.

- client/ and jobs/ import and run with `bpy` made unimportable, and contain no import of a
  Blender module anywhere, not even inside a function.
- Imports go one way: the glue may use jobs and client, jobs may use client, client uses
  neither.
- client/ and jobs/ use no dynamic import or code execution (`__import__`,
  `importlib.import_module`, `exec`, `eval`, `compile` and their relatives), whatever the
  arguments, so no import can hide from the checks above.
- The extension imports only the standard library, Blender's own modules, the packages Blender
  ships (requests, numpy) and the wheels its manifest bundles.
- The extension never references `print` and never writes to sys.stdout or sys.stderr; its
  output goes through `logging`.
- Every module that adds a draw handler, msgbus subscription, app handler, timer or preview
  collection also contains the call that removes it. The registration test cannot list draw
  handlers or msgbus subscriptions through Blender's API, so this static rule covers them.

Failure messages name the rule, the file and the line.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "thrixel_blender"
PACKAGE_DIR = REPO_ROOT / PACKAGE
CORE_LAYERS = ("client", "jobs")

# Modules that exist only inside Blender (or the bpy wheel).
BLENDER_MODULES = frozenset(
    {
        "_bpy",
        "_bpy_internal",
        "addon_utils",
        "aud",
        "bgl",
        "bl_app_template_utils",
        "bl_i18n_utils",
        "bl_keymap_utils",
        "bl_math",
        "bl_operators",
        "bl_previews_utils",
        "bl_rna_utils",
        "bl_text_utils",
        "bl_ui",
        "bl_ui_utils",
        "blf",
        "bmesh",
        "bpy",
        "bpy_extras",
        "bpy_restrict_state",
        "bpy_types",
        "freestyle",
        "gpu",
        "gpu_extras",
        "idprop",
        "imbuf",
        "io_scene_gltf2",
        "keyingsets_utils",
        "mathutils",
        "nodeitems_utils",
        "rna_keymap_ui",
        "rna_prop_ui",
    }
)
# Third-party packages that Blender's own Python ships: requests with its dependencies, numpy.
BLENDER_BUNDLED = frozenset(
    {"requests", "urllib3", "idna", "certifi", "charset_normalizer", "numpy", "zstandard"}
)

# Builtins and attributes that import a module or run code chosen at run time. Any use of
# them in client/ or jobs/ breaks the dynamic import rule, whatever the arguments.
DYNAMIC_BUILTINS = frozenset({"__import__", "__builtins__", "exec", "eval", "compile"})
DYNAMIC_ATTRIBUTES = frozenset(
    {
        "__import__",
        "import_module",
        "exec_module",
        "load_module",
        "module_from_spec",
        "spec_from_file_location",
        "spec_from_loader",
    }
)
# Modules whose purpose is running code or reaching the builtins by another name.
DYNAMIC_MODULES = frozenset({"builtins", "code", "codeop", "runpy"})
# `sys.modules["bpy"]` returns bpy inside Blender without an import statement.
DYNAMIC_NAMES = frozenset({"sys.modules"})
LOOKUP_BUILTINS = frozenset({"getattr", "setattr", "hasattr", "delattr"})

# Names that write to the console instead of going through `logging`. A reference to one of
# the standard streams is allowed only as an argument of logging.StreamHandler.
STREAM_NAMES = frozenset({"sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__"})
CONSOLE_NAMES = STREAM_NAMES | {
    "builtins.print",
    "pprint.pp",
    "pprint.pprint",
    "traceback.print_exc",
    "traceback.print_exception",
    "traceback.print_last",
    "traceback.print_stack",
    "traceback.print_tb",
}
LOGGING_HANDLERS = frozenset({"logging.StreamHandler"})

# Calls that add something to Blender, each with the call that removes it again. A call
# matches when its resolved dotted name or its dotted text ends with the pattern, so
# `bpy.types.SpaceView3D.draw_handler_add` and, after `from bpy.app import timers`,
# `timers.register` both count.
ADD_REMOVE_CALLS: tuple[tuple[str, str], ...] = (
    ("draw_handler_add", "draw_handler_remove"),
    ("msgbus.subscribe_rna", "msgbus.clear_by_owner"),
    ("timers.register", "timers.unregister"),
    ("previews.new", "previews.remove"),
)
# `bpy.app.handlers.<list>.append(function)`, removed by a `.remove(function)` call.
HANDLER_LIST_PREFIX = "bpy.app.handlers."
HANDLER_ADD_METHODS = frozenset({"append", "insert"})

# Runs in a fresh interpreter: blocks every Blender module, then imports the package root and
# each core module, as plain Python would.
IMPORT_PROBE = r"""
import importlib, importlib.abc, json, sys
from pathlib import Path

repo, modules, blocked = Path(sys.argv[1]), json.loads(sys.argv[2]), set(json.loads(sys.argv[3]))

def importer_location():
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(repo / "thrixel_blender"):
            return f"{path.relative_to(repo).as_posix()}:{frame.f_lineno}"
        frame = frame.f_back
    return "unknown location"

class BlockBlender(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ImportError(f"{importer_location()} imports {name}")
        return None

sys.meta_path.insert(0, BlockBlender())
for name in list(sys.modules):
    if name.partition(".")[0] in blocked:
        del sys.modules[name]

try:
    import bpy
    blocker_works = False
except ImportError:
    blocker_works = True

sys.path.insert(0, str(repo))

failures, imported = {}, []
for name in modules:
    try:
        importlib.import_module(name)
        imported.append(name)
    except BaseException as error:
        failures[name] = f"{type(error).__name__}: {error}"
print(json.dumps({"blocker_works": blocker_works, "imported": imported, "failures": failures}))
"""


@dataclass(frozen=True)
class ImportSite:
    """One import statement (or importlib call) in a source file."""

    file: Path
    line: int
    target: str
    """Absolute dotted module name, with relative imports resolved."""
    in_function: bool

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(REPO_ROOT).as_posix()}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def resolve_relative(path: Path, level: int, module: str | None) -> str:
    package_parts = module_name(path).split(".")
    if path.name != "__init__.py":
        package_parts.pop()
    base = package_parts[: len(package_parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_sites(path: Path) -> list[ImportSite]:
    """Return every import in `path`, including imports inside functions and importlib calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    sites: list[ImportSite] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                sites.append(ImportSite(path, node.lineno, alias.name, in_function))
        elif isinstance(node, ast.ImportFrom):
            base = (
                resolve_relative(path, node.level, node.module) if node.level else node.module
            ) or ""
            for alias in node.names:
                # `from . import jobs` imports a submodule; `from .x import y` imports from x.
                is_package = node.module is None or base == PACKAGE
                target = f"{base}.{alias.name}" if is_package else base
                sites.append(ImportSite(path, node.lineno, target, in_function))
        elif isinstance(node, ast.Call) and (target := _dynamic_import_target(node)):
            sites.append(ImportSite(path, node.lineno, target, in_function))
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return sites


def _dynamic_import_target(node: ast.Call) -> str | None:
    """Return the module that an `import_module` or `__import__` call names as a literal."""
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    if name not in ("import_module", "__import__"):
        return None
    arguments = node.args[:1] + [
        keyword.value for keyword in node.keywords if keyword.arg == "name"
    ]
    for argument in arguments:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            return argument.value
    return None


def import_aliases(tree: ast.AST) -> dict[str, str]:
    """Map each name that an import or a plain `name = a.b` binds to the dotted name behind it.

    A name bound in several places keeps the last binding in source order, whatever its scope.
    """
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and (value := full_name(node.value, aliases)) is not None
        ):
            aliases[node.targets[0].id] = value
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def dotted_text(node: ast.AST) -> str | None:
    """Return `a.b.c` for a chain of names and attributes, or None for any other expression."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def full_name(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """Return the dotted name of `node` with its first part resolved through the imports."""
    text = dotted_text(node)
    if text is None:
        return None
    head, _, rest = text.partition(".")
    base = aliases.get(head, head)
    return f"{base}.{rest}" if rest else base


def constant_name_lookups(node: ast.AST) -> list[str]:
    """Return the names that `getattr(x, "name")` or `x["name"]` in `node` look up."""
    keys: list[ast.expr] = []
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") in LOOKUP_BUILTINS:
        keys = node.args[1:2]
    elif isinstance(node, ast.Subscript):
        keys = [node.slice]
    return [
        key.value for key in keys if isinstance(key, ast.Constant) and isinstance(key.value, str)
    ]


def layer_of(module: str) -> str:
    """Return "client", "jobs" or "glue" for a module of the package."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in CORE_LAYERS:
        return parts[1]
    return "glue"


def manifest_wheel_modules() -> set[str]:
    """Return the import names of the wheels the manifest bundles, guessed from file names."""
    manifest = tomllib.loads((REPO_ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))
    names = set()
    for wheel in manifest.get("wheels", []):
        distribution = Path(wheel).name.split("-")[0]
        names.add(distribution.lower().replace(".", "_"))
    return names


def fail_on(problems: list[str]) -> None:
    """Fail with one line per problem; pytest's own repr of the list would hide most of them."""
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def core_files() -> list[Path]:
    return [path for layer in CORE_LAYERS for path in python_files(PACKAGE_DIR / layer)]


def test_core_layers_exist() -> None:
    for layer in CORE_LAYERS:
        assert python_files(PACKAGE_DIR / layer), f"{PACKAGE}/{layer}/ has no Python module"


def test_core_imports_with_bpy_blocked() -> None:
    modules = [PACKAGE, *(module_name(path) for path in core_files())]
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORT_PROBE,
            str(REPO_ROOT),
            json.dumps(modules),
            json.dumps(sorted(BLENDER_MODULES)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"the import probe crashed:\n{result.stderr}"
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["blocker_works"], "the probe could still import bpy, so it proves nothing"
    problems = [
        f"layer rule: {name} cannot be imported without Blender ({message})"
        for name, message in report["failures"].items()
    ]
    fail_on(problems)
    assert sorted(report["imported"]) == sorted(modules)


def test_core_has_no_blender_import() -> None:
    problems = []
    for path in core_files():
        for site in import_sites(path):
            if site.target.partition(".")[0] in BLENDER_MODULES:
                place = "inside a function" if site.in_function else "at module level"
                problems.append(
                    f"layer rule: {site.where} imports {site.target} {place}; client/ and jobs/ "
                    "must not import Blender modules, not even lazily"
                )
    fail_on(problems)


def test_layers_import_one_way() -> None:
    allowed = {"client": {"client"}, "jobs": {"client", "jobs"}}
    problems = []
    for path in core_files():
        layer = layer_of(module_name(path))
        for site in import_sites(path):
            if site.target != PACKAGE and not site.target.startswith(PACKAGE + "."):
                continue
            target_layer = layer_of(site.target)
            if target_layer not in allowed[layer]:
                problems.append(
                    f"layer rule: {site.where} in {layer}/ imports {site.target} "
                    f"({target_layer}); glue -> jobs -> client is the only direction"
                )
    fail_on(problems)


def test_extension_imports_only_what_blender_ships() -> None:
    allowed = set(sys.stdlib_module_names) | BLENDER_MODULES | BLENDER_BUNDLED
    allowed |= manifest_wheel_modules() | {PACKAGE, "__future__"}
    problems = []
    for path in python_files(PACKAGE_DIR):
        for site in import_sites(path):
            top = site.target.partition(".")[0]
            if top and top not in allowed:
                problems.append(
                    f"dependency rule: {site.where} imports {site.target}, which Blender does not "
                    "ship; bundle it as a wheel in blender_manifest.toml or do without it"
                )
    fail_on(problems)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO_ROOT).as_posix()}:{line}"


def dynamic_code_uses(path: Path) -> list[tuple[int, str]]:
    """Return (line, description) for each dynamic import or code execution in `path`."""
    tree = parse(path)
    aliases = import_aliases(tree)
    banned = DYNAMIC_BUILTINS | DYNAMIC_ATTRIBUTES
    uses: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.partition(".")[0] in DYNAMIC_MODULES:
                    uses.add((node.lineno, f"imports {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.partition(".")[0] in DYNAMIC_MODULES:
                uses.add((node.lineno, f"imports from {node.module}"))
            for alias in node.names:
                if alias.name in DYNAMIC_ATTRIBUTES:
                    uses.add((node.lineno, f"imports {node.module}.{alias.name}"))
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
            # A builtin, or a name bound to one such as `run = exec`. A name imported from
            # elsewhere, such as `from re import compile`, resolves to that module's name.
            name = full_name(node, aliases) or node.id
            if (
                name in DYNAMIC_BUILTINS | DYNAMIC_NAMES
                or name.rpartition(".")[2] in DYNAMIC_ATTRIBUTES
            ):
                bound = f" ({node.id})" if node.id != name else ""
                uses.add((node.lineno, f"uses {name}{bound}"))
        elif isinstance(node, ast.Attribute):
            name = full_name(node, aliases)
            if node.attr in DYNAMIC_ATTRIBUTES or name in DYNAMIC_NAMES:
                uses.add((node.lineno, f"uses {name or '.' + node.attr}"))
        for looked_up in constant_name_lookups(node):
            if looked_up in banned:
                uses.add((node.lineno, f"looks up {looked_up!r}"))
    return sorted(uses)


def test_core_has_no_dynamic_code() -> None:
    problems = [
        f"dynamic import rule: {where(path, line)} {description}; client/ and jobs/ use no "
        "__import__, importlib.import_module, exec, eval or compile, whatever the arguments"
        for path in core_files()
        for line, description in dynamic_code_uses(path)
    ]
    fail_on(problems)


def console_uses(path: Path) -> list[tuple[int, str]]:
    """Return (line, name) for each reference to print or to a console stream in `path`."""
    tree = parse(path)
    aliases = import_aliases(tree)
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and full_name(node.func, aliases) in LOGGING_HANDLERS:
            for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
                allowed.update(id(inner) for inner in ast.walk(argument))
    uses: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "print":
            uses.add((node.lineno, "print"))
        if isinstance(node, ast.Name | ast.Attribute):
            name = full_name(node, aliases)
            if name in CONSOLE_NAMES and not (name in STREAM_NAMES and id(node) in allowed):
                uses.add((node.lineno, name))
        if "print" in constant_name_lookups(node):
            uses.add((node.lineno, "print"))
    return sorted(uses)


def test_extension_writes_no_console_output() -> None:
    problems = [
        f"output rule: {where(path, line)} references {name}; the extension never uses print "
        "or writes to sys.stdout/sys.stderr, it logs through logging.getLogger(__name__)"
        for path in python_files(PACKAGE_DIR)
        for line, name in console_uses(path)
    ]
    fail_on(problems)


def matches(name: str | None, pattern: str) -> bool:
    return name is not None and (name == pattern or name.endswith("." + pattern))


def missing_removals(path: Path) -> list[tuple[int, str, str]]:
    """Return (line, added with, removed with) for each addition that `path` never undoes."""
    tree = parse(path)
    aliases = import_aliases(tree)
    calls = [
        (node, full_name(node.func, aliases), dotted_text(node.func))
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    ]

    def called(pattern: str) -> bool:
        return any(matches(name, pattern) or matches(text, pattern) for _, name, text in calls)

    missing: list[tuple[int, str, str]] = []
    for call, name, text in calls:
        for add, remove in ADD_REMOVE_CALLS:
            if (matches(name, add) or matches(text, add)) and not called(remove):
                added = name if matches(name, add) else text or add
                missing.append((call.lineno, added, added.removesuffix(add) + remove))

    # A handler list counts as cleaned up when the module calls `.remove()` on the list itself,
    # or names the list outside the adding call and calls `.remove()` on a local variable, such
    # as `handlers` in `for handlers, handler in ((list, f), ...): handlers.remove(handler)`.
    adds: list[tuple[int, str, str]] = []
    adding_receivers: set[int] = set()
    removal_receivers: list[str] = []
    removes_from_variable = False
    for call, name, _text in calls:
        if not isinstance(call.func, ast.Attribute) or name is None:
            continue
        list_name, _, method = name.rpartition(".")
        receiver = call.func.value
        if method == "remove":
            removal_receivers.append(list_name)
            if isinstance(receiver, ast.Name) and receiver.id not in aliases:
                removes_from_variable = True
        elif (
            method in HANDLER_ADD_METHODS
            and list_name.startswith(HANDLER_LIST_PREFIX)
            and list_name.count(".") == HANDLER_LIST_PREFIX.count(".")
        ):
            adds.append((call.lineno, list_name, method))
            adding_receivers.add(id(receiver))
    named_elsewhere = {
        full_name(node, aliases)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute | ast.Name) and id(node) not in adding_receivers
    }
    for line, list_name, method in adds:
        if list_name in removal_receivers or (
            list_name in named_elsewhere and removes_from_variable
        ):
            continue
        missing.append((line, f"{list_name}.{method}", f"{list_name}.remove"))
    return sorted(missing)


def test_every_addition_has_a_removal() -> None:
    problems = [
        f"removal rule: {where(path, line)} calls {added} but the module never calls {removed}; "
        "unregister() must undo it from the same module"
        for path in python_files(PACKAGE_DIR)
        for line, added, removed in missing_removals(path)
    ]
    fail_on(problems)
