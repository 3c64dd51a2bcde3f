"""Build the extension zip and install it into Blender the way Install from Disk does.

The zip is built by scripts/build.py with Blender's own builder, installed with
`extensions.package_install_files` into the "User Default" repository and enabled. The test then
checks what a user would see: the add-on loads as `bl_ext.user_default.thrixel_blender` with no
error, its operators and panels exist in `bpy.types`, and disabling it removes them again.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

# Keeps configuration and installed extensions out of the user's own Blender folders when no
# conftest has set this yet. It has to happen before the first `import bpy`.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="thrixel-blender-user-"))

import bpy  # noqa: E402

# addon_utils lives in Blender's script folder, which only `import bpy` puts on sys.path, so the
# functions below import it after bpy.

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ID = "thrixel_blender"
INSTALLED_MODULE = f"bl_ext.user_default.{PACKAGE_ID}"

# Top-level folders of the repository that are not part of the extension.
NOT_IN_ZIP_FOLDERS = ("tests/", "scripts/", "local_server/", "dist/", "build/", ".venv/", ".ci/")
NOT_IN_ZIP_NAMES = ("__pycache__", ".pyc", ".git", "conftest.py", ".mypy_cache", ".ruff_cache")


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output_dir = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build.py"), f"--output-dir={output_dir}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"scripts/build.py failed:\n{result.stdout}{result.stderr}"
    zip_path = Path(result.stdout.strip().splitlines()[-1])
    assert zip_path.is_file(), f"scripts/build.py printed {zip_path}, which does not exist"
    return zip_path


def enabled_copies() -> list[str]:
    """Return the module names of every enabled copy of the add-on (source tree or installed)."""
    return [
        name
        for name in bpy.context.preferences.addons.keys()
        if name == PACKAGE_ID or name.endswith(f".{PACKAGE_ID}")
    ]


@pytest.fixture
def no_other_copy_enabled() -> Iterator[None]:
    """Disable copies enabled by other tests, so two copies never register the same classes."""
    import addon_utils

    others = enabled_copies()
    for name in others:
        addon_utils.disable(name, default_set=True)
    yield
    for name in others:
        addon_utils.enable(name, default_set=True)


def user_default_directory() -> Path:
    for repo in bpy.context.preferences.extensions.repos:
        if repo.module == "user_default":
            return Path(repo.directory)
    raise AssertionError("Blender has no 'user_default' extension repository")


def registered_classes(module_name: str) -> list[type]:
    """Return the registered bpy classes defined in the module and its submodules."""
    found: dict[str, type] = {}
    for name, module in list(sys.modules.items()):
        if not isinstance(module, ModuleType):
            continue
        if name != module_name and not name.startswith(module_name + "."):
            continue
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, bpy.types.bpy_struct)
                and value.__module__.startswith(module_name)
                and getattr(value, "is_registered", False)
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def test_zip_holds_only_the_extension(extension_zip: Path) -> None:
    with zipfile.ZipFile(extension_zip) as archive:
        names = archive.namelist()

    assert "blender_manifest.toml" in names, f"{extension_zip.name} has no manifest at its root"
    assert "__init__.py" in names, f"{extension_zip.name} has no __init__.py at its root"
    for name in names:
        assert not name.startswith(NOT_IN_ZIP_FOLDERS), f"{extension_zip.name} contains {name}"
        assert not any(part in name for part in NOT_IN_ZIP_NAMES), (
            f"{extension_zip.name} contains {name}"
        )

    # Every source file of the package ships, at the same relative path.
    package_dir = REPO_ROOT / PACKAGE_ID
    for source in package_dir.rglob("*.py"):
        if "__pycache__" in source.parts:
            continue
        relative = source.relative_to(package_dir).as_posix()
        assert relative in names, f"{extension_zip.name} lacks {PACKAGE_ID}/{relative}"


def test_zip_installs_and_enables(
    extension_zip: Path, no_other_copy_enabled: None, capfd: pytest.CaptureFixture[str]
) -> None:
    import addon_utils

    repo_directory = user_default_directory()
    result = bpy.ops.extensions.package_install_files(
        filepath=str(extension_zip), repo='user_default', enable_on_install=True
    )
    output = capfd.readouterr()
    log = output.out + output.err
    try:
        assert result == {'FINISHED'}, f"package_install_files returned {result}:\n{log}"
        assert "Traceback" not in log, f"enabling the installed add-on raised:\n{log}"
        assert (repo_directory / PACKAGE_ID / "__init__.py").is_file(), (
            f"nothing was installed in {repo_directory / PACKAGE_ID}"
        )
        assert INSTALLED_MODULE in sys.modules, f"{INSTALLED_MODULE} was not imported:\n{log}"
        assert addon_utils.check(INSTALLED_MODULE) == (True, True), (
            f"{INSTALLED_MODULE} is installed but not enabled:\n{log}"
        )

        classes = registered_classes(INSTALLED_MODULE)
        operators = [cls for cls in classes if issubclass(cls, bpy.types.Operator)]
        panels = [cls for cls in classes if issubclass(cls, bpy.types.Panel)]
        assert operators, f"{INSTALLED_MODULE} registered no operator"
        assert panels, f"{INSTALLED_MODULE} registered no panel"
        for cls in operators + panels:
            assert getattr(bpy.types, cls.__name__, None) is not None, (
                f"{cls.__name__} is registered but missing from bpy.types"
            )

        addon_utils.disable(INSTALLED_MODULE, default_set=True)
        output = capfd.readouterr()
        assert "Traceback" not in output.out + output.err, (
            f"disabling the installed add-on raised:\n{output.out}{output.err}"
        )
        for cls in classes:
            assert not cls.is_registered, f"{cls.__name__} is still registered after disabling"
    finally:
        # Uninstalling also disables the add-on when an assertion above stopped the test early.
        bpy.ops.extensions.package_uninstall(repo_directory=str(repo_directory), pkg_id=PACKAGE_ID)

    assert not (repo_directory / PACKAGE_ID).exists(), "uninstalling left the package on disk"
    assert INSTALLED_MODULE not in bpy.context.preferences.addons.keys()
