"""One step of the new-process resume test, run in a fresh Python process with `bpy`.

    python resume_process.py save FILE BASE_URL API_KEY PROMPT
    python resume_process.py resume FILE BASE_URL API_KEY

`save` starts a generate job, waits for its submission id and saves FILE. `resume` opens FILE
and pumps until the job's model is imported. Each prints one JSON line starting with
RESULT_PREFIX, then ends the process with os._exit, as Blender's teardown may crash.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="thrixel-resume-user-")

import bpy  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_PREFIX = "RESUME-RESULT "
PUMP_TIMEOUT_SECONDS = 60.0


def enable_addon(base_url: str, api_key: str) -> str:
    """Enable the add-on from the source tree, as tests/blender/conftest.py does."""
    import addon_utils

    repo = bpy.context.preferences.extensions.repos.new(
        name="Thrixel source tree",
        module="thrixel_source_tree",
        custom_directory=str(REPO_ROOT),
        source='USER',
    )
    module_name = f"bl_ext.{repo.module}.thrixel_blender"
    errors: list[str] = []
    addon_utils.enable(module_name, default_set=True, handle_error=lambda e: errors.append(repr(e)))
    if errors:
        raise RuntimeError(f"enabling {module_name} failed: {errors}")
    bpy.context.preferences.system.use_online_access = True
    preferences = bpy.context.preferences.addons[module_name].preferences
    preferences.api_key = api_key
    preferences.base_url = base_url
    return module_name


def pump_until(module_name: str, condition: Any, what: str) -> None:
    import importlib

    pump = importlib.import_module(f"{module_name}.pump")
    deadline = time.monotonic() + PUMP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        pump.pump()
        if condition():
            return
        time.sleep(0.02)
    jobs = [(job.status, job.message) for job in bpy.context.scene.thrixel.jobs]
    raise RuntimeError(f"timed out waiting for {what}; jobs: {jobs}")


def save(path: Path, base_url: str, api_key: str, prompt: str) -> dict[str, Any]:
    module_name = enable_addon(base_url, api_key)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.thrixel.prompt = prompt
    bpy.ops.thrixel.generate_model()
    jobs = bpy.context.scene.thrixel.jobs
    pump_until(module_name, lambda: bool(jobs[0].submission_id), "the submission id")
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return {"job_id": jobs[0].job_id, "submission_id": jobs[0].submission_id}


def resume(path: Path, base_url: str, api_key: str) -> dict[str, Any]:
    module_name = enable_addon(base_url, api_key)
    bpy.ops.wm.open_mainfile(filepath=str(path))
    jobs = bpy.context.scene.thrixel.jobs
    pump_until(module_name, lambda: jobs[0].imported, "the resumed import")
    record = jobs[0]
    objects = bpy.data.collections[record.collection_name].all_objects
    return {
        "job_id": record.job_id,
        "submission_id": record.submission_id,
        "status": record.status,
        "tagged": sorted({str(obj["thrixel_submission_id"]) for obj in objects}),
        "objects": len(objects),
    }


def main(argv: list[str]) -> int:
    step, path = argv[0], Path(argv[1])
    try:
        if step == "save":
            result = save(path, argv[2], argv[3], argv[4])
        else:
            result = resume(path, argv[2], argv[3])
    except Exception:
        traceback.print_exc()
        return 1
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
