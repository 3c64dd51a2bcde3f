"""The checks fail on the faults they exist for, and their messages name the rule and the file.

Each test copies the repository into a temporary folder, injects one fault, runs the check that
the test command runs for it, and asserts that the check fails with a message naming the rule
and the file. The faults: a print() in the extension, a type error in the client, a badly named
operator, a bpy import in the client and a timer left registered after unregister().
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
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

BAD_OPERATOR = """

import bpy as _fault_bpy


class ExportEverything(_fault_bpy.types.Operator):
    bl_idname = "object.export_everything"
    bl_label = "Export Everything"

    def execute(self, context):
        return {'FINISHED'}


_fault_register, _fault_unregister = register, unregister


def register():
    _fault_register()
    _fault_bpy.utils.register_class(ExportEverything)


def unregister():
    _fault_bpy.utils.unregister_class(ExportEverything)
    _fault_unregister()
"""

LEAKED_TIMER = """

import bpy as _fault_bpy


def refresh_previews():
    return 1.0


_fault_register = register


def register():
    _fault_register()
    _fault_bpy.app.timers.register(refresh_previews, persistent=True)
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Return a copy of the repository without environments, caches or build output."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO_ROOT, copy, ignore=COPY_IGNORE)
    return copy


def inject(tree: Path, relative: str, code: str, marker: str) -> int:
    """Append `code` to a file of the copy and return the line number of `marker` in it."""
    path = tree / relative
    original = path.read_text(encoding="utf-8")
    path.write_text(original.rstrip("\n") + "\n" + code, encoding="utf-8")
    start = original.rstrip("\n").count("\n") + 2
    lines = code.split("\n")
    return start + next(i for i, line in enumerate(lines) if marker in line)


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


def test_lint_catches_print_in_extension(tree: Path) -> None:
    code = '\n\ndef _dump_state() -> None:\n    print("state")\n'
    line = inject(tree, "thrixel_blender/__init__.py", code, "print(")

    status, output = run(tree, "bash", "scripts/check.sh", "lint")

    assert status != 0, f"the lint check passed with a print() in the extension:\n{output}"
    assert f"thrixel_blender/__init__.py:{line}:5: T201" in output, output


def test_print_stays_allowed_in_scripts(tree: Path) -> None:
    code = '\n\ndef _show_version() -> None:\n    print("0.1.0")\n'
    line = inject(tree, "scripts/build.py", code, "print(")

    _, output = run(tree, "bash", "scripts/check.sh", "lint")

    assert f"scripts/build.py:{line}:" not in output, output


def test_types_core_catches_type_error_in_client(tree: Path) -> None:
    relative = client_module(tree)
    code = '\n\ndef _retry_count_label() -> int:\n    return "none"\n'
    line = inject(tree, relative, code, "return")

    status, output = run(tree, "bash", "scripts/check.sh", "types-core")

    assert status != 0, f"mypy --strict passed with a type error in {relative}:\n{output}"
    assert f"{relative}:{line}: error:" in output, output
    assert "[return-value]" in output, output


def test_architecture_catches_bpy_import_in_client(tree: Path) -> None:
    relative = client_module(tree)
    line = inject(tree, relative, "\nimport bpy  # noqa: E402,F401\n", "import bpy")

    status, output = run_pytest(tree, "tests/unit/test_architecture.py")

    assert status != 0, f"the layer tests passed with `import bpy` in {relative}:\n{output}"
    assert f"layer rule: {relative}:{line} imports bpy" in output, output


def test_architecture_catches_lazy_bpy_import(tree: Path) -> None:
    relative = client_module(tree)
    code = "\n\ndef _scene_name() -> str:\n    import bpy\n\n    return str(bpy.context.scene)\n"
    line = inject(tree, relative, code, "import bpy")

    status, output = run_pytest(tree, "tests/unit/test_architecture.py")

    assert status != 0, f"the layer tests passed with a lazy bpy import in {relative}:\n{output}"
    assert f"layer rule: {relative}:{line} imports bpy inside a function" in output, output


@needs_bpy
def test_registration_catches_badly_named_operator(tree: Path) -> None:
    inject(tree, "thrixel_blender/__init__.py", BAD_OPERATOR, "class ExportEverything")

    status, output = run_pytest(tree, "tests/blender/test_registration.py")

    assert status != 0, f"the registration tests passed with a badly named operator:\n{output}"
    assert "operator naming rule: ExportEverything (thrixel_blender/__init__.py)" in output, output


@needs_bpy
def test_registration_catches_leaked_timer(tree: Path) -> None:
    inject(tree, "thrixel_blender/__init__.py", LEAKED_TIMER, "def refresh_previews")

    status, output = run_pytest(tree, "tests/blender/test_registration.py")

    assert status != 0, f"the registration tests passed with a timer left registered:\n{output}"
    expected = "timer rule: refresh_previews (thrixel_blender/__init__.py) is still registered"
    assert expected in output, output
