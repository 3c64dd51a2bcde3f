"""Generate a model from a prompt in headless Blender against the local Thrixel server.

Starts the local server on 127.0.0.1, starts Blender as a Python module, enables the extension
from this source tree, presses Generate through the operator, shows progress in the terminal,
then saves a .blend and renders a preview PNG of the result.

Usage: python scripts/demo.py [--prompt TEXT] [--out FOLDER]
(scripts/demo.sh sets up the virtual environment first.)
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

DEFAULT_PROMPT = "a small stone gargoyle holding a lantern"
TIMEOUT_SECONDS = 120.0
BAR_WIDTH = 30


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="what to generate")
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "demo_output", help="folder for the results"
    )
    parser.add_argument(
        "--step-seconds", type=float, default=0.3, help="pace of the local server per step"
    )
    return parser.parse_args()


def enable_extension(bpy: object) -> str:
    """Enable the extension from the source tree through a local repository; return its module."""
    import addon_utils
    import bpy as blender

    repo = blender.context.preferences.extensions.repos.new(
        name="Thrixel source tree",
        module="thrixel_source_tree",
        custom_directory=str(REPO_ROOT),
        source='USER',
    )
    module_name = f"bl_ext.{repo.module}.thrixel_blender"
    failures: list[str] = []
    addon_utils.enable(
        module_name, default_set=True, handle_error=lambda e: failures.append(str(e))
    )
    if failures:
        raise SystemExit(f"Enabling the extension failed: {failures[0]}")
    return module_name


def progress_line(record: object) -> str:
    progress = float(getattr(record, "progress", 0.0))
    filled = int(round(progress * BAR_WIDTH))
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    status = getattr(record, "status", "")
    message = getattr(record, "message", "")
    return f"[{bar}] {progress * 100:5.1f}%  {status:<12} {message[:60]}"


def wait_for_job(pump: object, scene: object) -> object:
    """Drive the pump as Blender's timer would, printing progress, until the job ends."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    last_line = ""
    record = scene.thrixel.jobs[-1]
    while time.monotonic() < deadline:
        pump.pump()
        record = scene.thrixel.jobs[-1]
        line = progress_line(record)
        if line != last_line:
            print(line, flush=True)
            last_line = line
        if record.status in ("failed", "cancelled") or (
            record.status == "completed" and record.imported
        ):
            return record
        time.sleep(0.05)
    raise SystemExit(f"The job did not finish within {TIMEOUT_SECONDS:.0f} s: {last_line}")


def frame_and_render(bpy: object, collection_name: str, png: Path) -> None:
    """Add a camera and lights that frame the imported collection, then render with Cycles."""
    import bpy as blender
    from mathutils import Vector

    scene = blender.context.scene
    objects = [obj for obj in blender.data.collections[collection_name].all_objects]
    corners = [
        obj.matrix_world @ Vector(corner)
        for obj in objects
        if obj.type == 'MESH'
        for corner in obj.bound_box
    ]
    low = Vector((min(c.x for c in corners), min(c.y for c in corners), min(c.z for c in corners)))
    high = Vector((max(c.x for c in corners), max(c.y for c in corners), max(c.z for c in corners)))
    center = (low + high) / 2
    radius = max((high - low).length / 2, 0.1)

    camera_data = blender.data.cameras.new("Preview Camera")
    camera = blender.data.objects.new("Preview Camera", camera_data)
    scene.collection.objects.link(camera)
    direction = Vector((1.0, -1.2, 0.8)).normalized()
    distance = radius / math.sin(camera_data.angle / 2) * 1.1
    camera.location = center + direction * distance
    camera.rotation_euler = (center - camera.location).to_track_quat('-Z', 'Y').to_euler()
    scene.camera = camera

    sun_data = blender.data.lights.new("Preview Sun", type='SUN')
    sun_data.energy = 3.0
    sun = blender.data.objects.new("Preview Sun", sun_data)
    sun.rotation_euler = (math.radians(50), math.radians(10), math.radians(30))
    scene.collection.objects.link(sun)
    if scene.world is None:
        scene.world = blender.data.worlds.new("Preview World")
    scene.world.color = (0.6, 0.62, 0.66)

    scene.render.engine = 'CYCLES'
    scene.cycles.device = 'CPU'
    scene.cycles.samples = 16
    scene.render.resolution_x = 512
    scene.render.resolution_y = 512
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = 'PNG'
    scene.render.filepath = str(png)
    blender.ops.render.render(write_still=True)


def main() -> int:
    args = parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    blend_path = out / "thrixel_demo.blend"
    png_path = out / "thrixel_demo.png"

    user_resources = tempfile.mkdtemp(prefix="thrixel-demo-user-")
    os.environ["BLENDER_USER_RESOURCES"] = user_resources
    from server_fixture import running_server

    print("Starting the local Thrixel server on 127.0.0.1 ...", flush=True)
    with running_server(step_seconds=args.step_seconds) as server:
        # The key goes through the environment, the way a studio deploys it: the add-on
        # prefers THRIXEL_API_KEY and never writes it into the .blend file.
        os.environ["THRIXEL_API_KEY"] = server.api_key
        import bpy

        print(f"Blender {bpy.app.version_string} as a Python module", flush=True)
        module_name = enable_extension(bpy)
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.context.preferences.system.use_online_access = True
        preferences = bpy.context.preferences.addons[module_name].preferences
        preferences.base_url = server.base_url

        import importlib

        pump = importlib.import_module(f"{module_name}.pump")
        scene = bpy.context.scene
        scene.cursor.location = (0.0, 0.0, 0.0)
        scene.thrixel.prompt = args.prompt
        print(f'Generating "{args.prompt}" ...', flush=True)
        result = bpy.ops.thrixel.generate_model()
        if result != {'FINISHED'}:
            raise SystemExit(f"The Generate operator returned {result}")
        record = wait_for_job(pump, scene)
        if record.status != "completed":
            raise SystemExit(f"The job ended as {record.status}: {record.message}")

        collection_name = record.collection_name
        tagged = [
            obj.name
            for obj in bpy.data.collections[collection_name].all_objects
            if obj.get("thrixel_submission_id") == record.submission_id
        ]
        print(f'Imported {len(tagged)} objects into "{collection_name}": {", ".join(tagged)}')

        print("Rendering a preview with Cycles ...", flush=True)
        frame_and_render(bpy, collection_name, png_path)
        # One save after rendering, so the .blend contains the preview's camera and lights too.
        # No .blend1 backup: a rerun replaces the demo's own output.
        bpy.context.preferences.filepaths.save_version = 0
        bpy.ops.wm.save_as_mainfile(filepath=str(blend_path))

        import addon_utils

        addon_utils.disable(module_name, default_set=True)

    print(f"Saved the scene to  {blend_path}")
    print(f"Saved the preview to {png_path}")
    shutil.rmtree(user_resources, ignore_errors=True)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    status = main()
    # Blender's teardown at interpreter exit can crash or hang on older versions.
    os._exit(status)
