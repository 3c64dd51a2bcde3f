"""Layer rules of the extension package, checked without Blender.

- client/ and jobs/ import and run with `bpy` made unimportable, and contain no import of a
  Blender module anywhere, not even inside a function.
- Imports go one way: the glue may use jobs and client, jobs may use client, client uses
  neither.
- The extension imports only the standard library, Blender's own modules, the packages Blender
  ships (requests, numpy) and the wheels its manifest bundles.

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
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            argument = node.args[0]
            assert isinstance(argument, ast.Constant)
            sites.append(ImportSite(path, node.lineno, str(argument.value), in_function))
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return sites


def _is_dynamic_import(node: ast.Call) -> bool:
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    return (
        name in ("import_module", "__import__")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


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
