"""Build the extension zip with Blender's own extension builder.

Blender's builder expects the manifest at the top of the package folder, while this repository
keeps it beside the package. This script copies the contents of thrixel_blender/ and
blender_manifest.toml into a staging folder, runs the builder's `build` there and `validate` on
the result, and writes dist/thrixel_blender-<version>.zip.

The builder is the `bl_pkg` command-line module that the `bpy` wheel ships (the code behind
`blender --command extension build`). It runs as a plain script, so bpy is never imported here.

Usage: .venv/bpy-5.0.1/bin/python scripts/build.py [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO_ROOT / "thrixel_blender"
MANIFEST = REPO_ROOT / "blender_manifest.toml"


class BuildError(Exception):
    """A build step failed; the message names the step and the reason."""


def find_bpy_dir() -> Path:
    """Return the `bpy/X.Y` folder of the installed bpy wheel, without importing bpy."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise BuildError(
            f"bpy is not installed for {sys.executable}; run scripts/setup.sh and use "
            "the virtual environment's python"
        )
    # Before `import bpy` the origin is bpy/__init__.so; after it, bpy/X.Y/scripts/modules/bpy.
    for bpy_root in Path(spec.origin).parents:
        if bpy_root.name != "bpy":
            continue
        version_dirs = sorted(
            p for p in bpy_root.iterdir() if (p / "scripts" / "addons_core").is_dir()
        )
        if version_dirs:
            return version_dirs[-1]
    raise BuildError(f"no Blender data folder (bpy/X.Y) found above {spec.origin}")


def find_builder(bpy_dir: Path) -> tuple[Path, Path]:
    """Return the builder script and the file of valid tags that Blender itself uses."""
    builder = bpy_dir / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    tags = bpy_dir / "scripts" / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    for path in (builder, tags):
        if not path.is_file():
            raise BuildError(f"{path} is missing from the bpy wheel")
    return builder, tags


def read_manifest() -> dict[str, object]:
    with MANIFEST.open("rb") as fh:
        return tomllib.load(fh)


def stage(staging: Path) -> None:
    """Copy the package contents and the manifest into `staging`.

    Everything is copied as is: the manifest's [build] paths_exclude_pattern decides what goes
    into the zip, so the patterns are exercised by every build.
    """
    if not (PACKAGE_DIR / "__init__.py").is_file():
        raise BuildError(f"{PACKAGE_DIR / '__init__.py'} is missing: nothing to build")
    shutil.copytree(PACKAGE_DIR, staging, dirs_exist_ok=True)
    shutil.copy2(MANIFEST, staging / MANIFEST.name)


def run_builder(builder: Path, args: list[str]) -> None:
    command = [sys.executable, str(builder), *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise BuildError(f"{args[0]} failed (exit {result.returncode}):\n{output}")


def build(output_dir: Path) -> Path:
    """Build and validate the extension zip in `output_dir` and return its path."""
    manifest = read_manifest()
    zip_path = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    builder, tags = find_builder(find_bpy_dir())
    output_dir.mkdir(parents=True, exist_ok=True)
    zip_path.unlink(missing_ok=True)

    with tempfile.TemporaryDirectory(prefix="thrixel-build-") as tmp:
        staging = Path(tmp) / "source"
        stage(staging)
        run_builder(builder, ["validate", f"--valid-tags={tags}", str(staging)])
        run_builder(
            builder,
            [
                "build",
                f"--source-dir={staging}",
                f"--output-filepath={zip_path}",
                f"--valid-tags={tags}",
            ],
        )

    if not zip_path.is_file():
        raise BuildError(f"the builder reported success but wrote no {zip_path}")
    run_builder(builder, ["validate", f"--valid-tags={tags}", str(zip_path)])
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=REPO_ROOT / "dist",
        help="folder that receives the zip (default: dist/ in the repository)",
    )
    args = parser.parse_args(argv)
    try:
        zip_path = build(args.output_dir.resolve())
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    print(zip_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
