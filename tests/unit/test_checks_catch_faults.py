"""The checks fail on the faults they exist for, and their messages name the rule and the file.

Each test copies the repository into a temporary folder, injects faults, runs the check that
the test command runs for them, and asserts that the check fails with a message naming the rule
and the file. Faults that one check reports independently share a copy and a run, so the many
cases stay cheap. The faults:

- lint: print() in the extension, also behind `# noqa: T201`;
- types-core: a type error in the client, also under `sys.platform` and `sys.version_info`
  guards that only another mypy target reaches;
- layer tests: a bpy import in the client at module level, inside a function, through
  importlib with a keyword, through `__import__` of a computed name or through exec. Also print
  bound to another name or behind `# noqa`, writes to sys.stdout and sys.stderr, and a draw
  handler, msgbus subscription, app handler, timer or preview collection with no removal call;
- registration tests: a badly named operator, and a timer and Bone and PoseBone properties
  left after unregister().
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
CHECK_SECONDS = 300

COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "dist", "build", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"
)

needs_bpy = pytest.mark.skipif(
    importlib.util.find_spec("bpy") is None,
    reason="needs the bpy module; run the unit tests with a .venv/bpy-* python",
)

# Each snippet wraps register() under its own names, so the snippets can be appended together.
BAD_OPERATOR = """

import bpy as _operator_bpy


class ExportEverything(_operator_bpy.types.Operator):
    bl_idname = "object.export_everything"
    bl_label = "Export Everything"

    def execute(self, context):
        return {'FINISHED'}


_operator_register, _operator_unregister = register, unregister


def register():
    _operator_register()
    _operator_bpy.utils.register_class(ExportEverything)


def unregister():
    _operator_bpy.utils.unregister_class(ExportEverything)
    _operator_unregister()
"""

LEAKED_TIMER = """

import bpy as _timer_bpy


def refresh_previews():
    return 1.0


_timer_register = register


def register():
    _timer_register()
    _timer_bpy.app.timers.register(refresh_previews, persistent=True)
"""

LEAKED_BONE_PROPERTIES = """

import bpy as _bone_bpy

_bone_register = register


def register():
    _bone_register()
    _bone_bpy.types.PoseBone.thrixel_fault_weight = _bone_bpy.props.FloatProperty()
    setattr(_bone_bpy.types.Bone, "thrixel_fault_flag", _bone_bpy.props.BoolProperty())
"""


@dataclass(frozen=True)
class TypeFault:
    """A type error and the mypy target (platform, Python version) that has to report it."""

    name: str
    guard: str | None
    """The condition the code sits under, or None for code every target checks."""
    platform: str
    version: str


TYPE_FAULTS: tuple[TypeFault, ...] = (
    TypeFault("unguarded", None, "linux", "3.11"),
    TypeFault("windows_only", 'sys.platform == "win32"', "win32", "3.11"),
    TypeFault("macos_only", 'sys.platform == "darwin"', "darwin", "3.11"),
    TypeFault("python_3_12_and_later", "sys.version_info >= (3, 12)", "linux", "3.13"),
)


@dataclass(frozen=True)
class LayerFault:
    """A module that breaks one rule of tests/unit/test_architecture.py, marked `# FAULT`."""

    name: str
    folder: str
    """Folder of the repository that the module goes into."""
    code: str
    expected: str
    """The failure message, with {where} standing for the file:line of the `# FAULT` line."""


CLIENT = "thrixel_blender/client"
GLUE = "thrixel_blender"
LAYER_FAULTS: tuple[LayerFault, ...] = (
    LayerFault(
        "bpy_import",
        CLIENT,
        """
        import bpy  # FAULT
        """,
        "layer rule: {where} imports bpy at module level",
    ),
    LayerFault(
        "lazy_bpy_import",
        CLIENT,
        """
        def _scene_name() -> str:
            import bpy  # FAULT

            return str(bpy.context.scene)
        """,
        "layer rule: {where} imports bpy inside a function",
    ),
    LayerFault(
        "import_module_keyword",
        CLIENT,
        """
        import importlib


        def _load() -> object:
            return importlib.import_module(name="bpy")  # FAULT
        """,
        "dynamic import rule: {where} uses importlib.import_module",
    ),
    LayerFault(
        "dunder_import_computed_name",
        CLIENT,
        """
        def _load() -> object:
            return __import__("b" + "py")  # FAULT
        """,
        "dynamic import rule: {where} uses __import__",
    ),
    LayerFault(
        "exec_import",
        CLIENT,
        """
        def _load() -> None:
            exec("import bpy")  # FAULT
        """,
        "dynamic import rule: {where} uses exec",
    ),
    LayerFault(
        "print_alias",
        GLUE,
        """
        def _show() -> None:
            show = print  # FAULT
            show("state")
        """,
        "output rule: {where} references print",
    ),
    LayerFault(
        "print_noqa",
        GLUE,
        """
        def _show() -> None:
            print("state")  # noqa: T201  FAULT
        """,
        "output rule: {where} references print",
    ),
    LayerFault(
        "stdout_write",
        GLUE,
        """
        import sys


        def _show() -> None:
            sys.stdout.write("state")  # FAULT
        """,
        "output rule: {where} references sys.stdout",
    ),
    LayerFault(
        "stderr_write",
        GLUE,
        """
        import sys


        def _show() -> None:
            sys.stderr.write("state")  # FAULT
        """,
        "output rule: {where} references sys.stderr",
    ),
    LayerFault(
        "draw_handler_kept",
        GLUE,
        """
        import bpy


        def _draw() -> None:
            pass


        def register() -> None:
            bpy.types.SpaceView3D.draw_handler_add(_draw, (), 'WINDOW', 'POST_PIXEL')  # FAULT
        """,
        "removal rule: {where} calls bpy.types.SpaceView3D.draw_handler_add",
    ),
    LayerFault(
        "msgbus_subscription_kept",
        GLUE,
        """
        import bpy

        OWNER = object()


        def _moved() -> None:
            pass


        def register() -> None:
            key = (bpy.types.Object, "location")
            bpy.msgbus.subscribe_rna(key=key, owner=OWNER, args=(), notify=_moved)  # FAULT
        """,
        "removal rule: {where} calls bpy.msgbus.subscribe_rna",
    ),
    LayerFault(
        "app_handler_kept",
        GLUE,
        """
        import bpy


        def _changed(*_args: object) -> None:
            pass


        def register() -> None:
            bpy.app.handlers.depsgraph_update_post.append(_changed)  # FAULT
        """,
        "removal rule: {where} calls bpy.app.handlers.depsgraph_update_post.append",
    ),
    LayerFault(
        "timer_kept",
        GLUE,
        """
        from bpy.app import timers


        def _tick() -> float:
            return 1.0


        def register() -> None:
            timers.register(_tick)  # FAULT
        """,
        "removal rule: {where} calls bpy.app.timers.register",
    ),
    LayerFault(
        "previews_kept",
        GLUE,
        """
        import bpy.utils.previews


        def register() -> None:
            bpy.utils.previews.new()  # FAULT
        """,
        "removal rule: {where} calls bpy.utils.previews.new",
    ),
)

# What the registration tests report for BAD_OPERATOR, LEAKED_TIMER and LEAKED_BONE_PROPERTIES,
# with {pose_line} and {bone_line} standing for the lines that set the two properties.
REGISTRATION_FAULTS: dict[str, str] = {
    "badly_named_operator": "operator naming rule: ExportEverything (thrixel_blender/__init__.py)",
    "leaked_timer": (
        "timer rule: refresh_previews (thrixel_blender/__init__.py) is still registered"
    ),
    "leaked_pose_bone_property": (
        "property rule: bpy.types.PoseBone.thrixel_fault_weight is still defined after "
        "unregister() (set at thrixel_blender/__init__.py:{pose_line})"
    ),
    "leaked_bone_property": (
        "property rule: bpy.types.Bone.thrixel_fault_flag is still defined after "
        "unregister() (set at thrixel_blender/__init__.py:{bone_line})"
    ),
}


def copy_repository(destination: Path) -> Path:
    """Copy the repository without environments, caches or build output and return the copy."""
    copy = destination / "repo"
    shutil.copytree(REPO_ROOT, copy, ignore=COPY_IGNORE)
    return copy


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return copy_repository(tmp_path)


def inject(tree: Path, relative: str, code: str, marker: str) -> int:
    """Append `code` to a file of the copy and return the line number of `marker` in it."""
    path = tree / relative
    original = path.read_text(encoding="utf-8")
    path.write_text(original.rstrip("\n") + "\n" + code, encoding="utf-8")
    start = original.rstrip("\n").count("\n") + 2
    lines = code.split("\n")
    return start + next(i for i, line in enumerate(lines) if marker in line)


def copy_core_type_cache(tree: Path) -> None:
    """Copy the repository's types-core mypy caches, if any, into the copy `tree`.

    mypy then rechecks only the changed modules, as in a developer's checkout. It compares each
    cached module with its source, so a stale cache cannot hide an error.
    """
    for cache in sorted((REPO_ROOT / ".mypy_cache").glob("core-*")):
        shutil.copytree(cache, tree / ".mypy_cache" / cache.name)


def client_module(tree: Path) -> str:
    """Return a client module other than the package's __init__.py, relative to the copy."""
    modules = sorted((tree / "thrixel_blender" / "client").glob("*.py"))
    chosen = next(path for path in modules if path.name != "__init__.py")
    return chosen.relative_to(tree).as_posix()


def run(tree: Path, *command: str) -> tuple[int, str]:
    result = subprocess.run(
        command,
        cwd=tree,
        env={**os.environ, "THRIXEL_VENV": str(VENV)},
        capture_output=True,
        text=True,
        timeout=CHECK_SECONDS,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def run_pytest(tree: Path, test_file: str) -> tuple[int, str]:
    return run(
        tree, sys.executable, "-m", "pytest", test_file, "-q", "-p", "no:cacheprovider", "-rN"
    )


def mypy_sections(output: str) -> dict[tuple[str, str], str]:
    """Split the output of a type check by the `-- mypy --platform P --python-version V` lines."""
    sections: dict[tuple[str, str], str] = {}
    current: tuple[str, str] | None = None
    for line in output.splitlines():
        words = line.split()
        if line.startswith("-- mypy --platform ") and len(words) == 6:
            current = (words[3], words[5])
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return sections


@dataclass(frozen=True)
class CheckRun:
    """The result of one check over a copy with several faults injected."""

    status: int
    output: str
    places: dict[str, str]
    """Where each fault sits, by fault name: a file:line or a line number."""


@pytest.fixture(scope="module")
def types_core_run(tmp_path_factory: pytest.TempPathFactory) -> CheckRun:
    """Add every fault of TYPE_FAULTS to one client module and run types-core once."""
    tree = copy_repository(tmp_path_factory.mktemp("types-core"))
    relative = client_module(tree)
    places = {}
    for fault in TYPE_FAULTS:
        code = f"\n\ndef _{fault.name}() -> int:\n    return 'none'\n"
        if fault.guard is not None:
            code = f"\n\nif {fault.guard}:\n" + textwrap.indent(code, "    ")
        places[fault.name] = f"{relative}:{inject(tree, relative, code, 'return')}"
    inject(tree, relative, "\nimport sys  # noqa: E402\n", "import sys")
    copy_core_type_cache(tree)
    status, output = run(tree, "bash", "scripts/check.sh", "types-core")
    return CheckRun(status, output, places)


@pytest.fixture(scope="module")
def layer_run(tmp_path_factory: pytest.TempPathFactory) -> CheckRun:
    """Add every fault of LAYER_FAULTS as its own module and run the layer tests once."""
    tree = copy_repository(tmp_path_factory.mktemp("layers"))
    places = {}
    for fault in LAYER_FAULTS:
        relative = f"{fault.folder}/fault_{fault.name}.py"
        code = textwrap.dedent(fault.code).lstrip("\n")
        (tree / relative).write_text(code, encoding="utf-8")
        line = 1 + next(i for i, text in enumerate(code.split("\n")) if "FAULT" in text)
        places[fault.name] = f"{relative}:{line}"
    status, output = run_pytest(tree, "tests/unit/test_architecture.py")
    return CheckRun(status, output, places)


@pytest.fixture(scope="module")
def registration_run(tmp_path_factory: pytest.TempPathFactory) -> CheckRun:
    """Append the three registration faults to __init__.py and run the registration tests."""
    tree = copy_repository(tmp_path_factory.mktemp("registration"))
    relative = "thrixel_blender/__init__.py"
    inject(tree, relative, BAD_OPERATOR, "class ExportEverything")
    inject(tree, relative, LEAKED_TIMER, "def refresh_previews")
    pose_line = inject(tree, relative, LEAKED_BONE_PROPERTIES, "PoseBone.thrixel_fault_weight")
    bone_line = pose_line + 1
    status, output = run_pytest(tree, "tests/blender/test_registration.py")
    return CheckRun(status, output, {"pose_line": str(pose_line), "bone_line": str(bone_line)})


def test_lint_catches_print_in_extension(tree: Path) -> None:
    code = '\n\ndef _dump_state() -> None:\n    print("state")\n'
    line = inject(tree, "thrixel_blender/__init__.py", code, "print(")

    status, output = run(tree, "bash", "scripts/check.sh", "lint")

    assert status != 0, f"the lint check passed with a print() in the extension:\n{output}"
    assert f"thrixel_blender/__init__.py:{line}:5: T201" in output, output


def test_lint_ignores_noqa_for_print(tree: Path) -> None:
    code = '\n\ndef _dump_state() -> None:\n    print("state")  # noqa: T201\n'
    line = inject(tree, "thrixel_blender/__init__.py", code, "print(")

    status, output = run(tree, "bash", "scripts/check.sh", "lint")

    assert status != 0, f"the lint check passed with print() behind `# noqa: T201`:\n{output}"
    assert f"thrixel_blender/__init__.py:{line}:5: T201" in output, output


def test_print_stays_allowed_in_scripts(tree: Path) -> None:
    code = '\n\ndef _show_version() -> None:\n    print("0.1.0")\n'
    line = inject(tree, "scripts/build.py", code, "print(")

    _, output = run(tree, "bash", "scripts/check.sh", "lint")

    assert f"scripts/build.py:{line}:" not in output, output


@pytest.mark.parametrize("fault", TYPE_FAULTS, ids=lambda fault: fault.name)
def test_types_core_catches_type_error(fault: TypeFault, types_core_run: CheckRun) -> None:
    output = types_core_run.output
    section = mypy_sections(output).get((fault.platform, fault.version), "")

    assert types_core_run.status != 0, f"mypy --strict passed with type errors:\n{output}"
    assert f"{types_core_run.places[fault.name]}: error:" in section, output
    assert "[return-value]" in section, output


@pytest.mark.parametrize("fault", LAYER_FAULTS, ids=lambda fault: fault.name)
def test_architecture_catches_fault(fault: LayerFault, layer_run: CheckRun) -> None:
    expected = fault.expected.format(where=layer_run.places[fault.name])

    assert layer_run.status != 0, f"the layer tests passed with the faults:\n{layer_run.output}"
    assert expected in layer_run.output, layer_run.output


@needs_bpy
@pytest.mark.parametrize("fault", REGISTRATION_FAULTS)
def test_registration_catches_fault(fault: str, registration_run: CheckRun) -> None:
    expected = REGISTRATION_FAULTS[fault].format(**registration_run.places)
    output = registration_run.output

    assert registration_run.status != 0, f"the registration tests passed with faults:\n{output}"
    assert expected in output, output
