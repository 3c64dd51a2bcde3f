"""A file saved mid-job follows the job again when it is opened, and imports the result."""

from __future__ import annotations

from pathlib import Path

import bpy
import pytest
import requests
from conftest import Addon, only_job, pump_until, start_held_job

from server_fixture import LocalServer

PROMPT = "a small stone gargoyle holding a lantern"


def save_mid_job(addon: Addon, server: LocalServer, path: Path) -> str:
    """Start a job the server keeps queued, save the file, and return the submission id."""
    start_held_job(addon, server, PROMPT)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return only_job().submission_id


def open_other_file(addon: Addon) -> None:
    bpy.ops.wm.read_homefile(use_empty=True)
    assert len(bpy.context.scene.thrixel.jobs) == 0
    state = addon.module("runtime").get()
    assert not state.has_runner() or not state.runner.active_job_ids(), "runs outlived the file"


@pytest.mark.parametrize("finished_while_closed", [False, True], ids=["running", "finished"])
def test_reopened_file_imports_result(
    configured: Addon, server: LocalServer, tmp_path: Path, finished_while_closed: bool
) -> None:
    saved = tmp_path / "mid_job.blend"
    submission_id = save_mid_job(configured, server, saved)
    open_other_file(configured)

    if finished_while_closed:
        server.admin.set_pace(paused=False)
        pump_until(
            configured,
            lambda: _remote_status(server, submission_id) == "completed",
            what="the submission to complete on the server",
        )
    bpy.ops.wm.open_mainfile(filepath=str(saved))
    assert only_job().submission_id == submission_id
    server.admin.set_pace(paused=False)

    pump_until(configured, lambda: only_job().imported, what="the resumed job's import")
    record = only_job()
    assert record.status == "completed"
    collection = bpy.data.collections[record.collection_name]
    objects = list(collection.all_objects)
    assert objects
    assert all(obj["thrixel_submission_id"] == submission_id for obj in objects)
    submits = server.admin.requests_log("phase1_submit")
    assert len(submits) == 1, "resuming must not submit the prompt again"


def test_completed_not_imported_is_imported(
    configured: Addon, server: LocalServer, tmp_path: Path
) -> None:
    bpy.context.scene.thrixel.prompt = PROMPT
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: only_job().imported, what="the first import")
    submission_id = only_job().submission_id

    # A file saved after the service finished but before the model was in the scene.
    bpy.data.collections.remove(bpy.data.collections[only_job().collection_name])
    record = only_job()
    record.imported = False
    record.status = "downloading"
    record.collection_name = ""
    saved = tmp_path / "not_imported.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    open_other_file(configured)

    bpy.ops.wm.open_mainfile(filepath=str(saved))
    pump_until(configured, lambda: only_job().imported, what="the import after reopening")
    record = only_job()
    assert record.submission_id == submission_id
    assert record.collection_name in bpy.data.collections
    assert len(server.admin.requests_log("phase1_submit")) == 1


def test_job_saved_before_submission_fails(
    configured: Addon, server: LocalServer, tmp_path: Path
) -> None:
    record = bpy.context.scene.thrixel.add_job(kind="generate", prompt=PROMPT, phase=1)
    saved = tmp_path / "unsubmitted.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    open_other_file(configured)

    bpy.ops.wm.open_mainfile(filepath=str(saved))
    pump_until(configured, lambda: only_job().status == "failed", what="the lookup to fail")
    record = only_job()
    assert "Press Retry" in record.message
    assert "no submission made from it" in record.message
    assert server.admin.requests_log("submissions"), "the submissions were not searched"
    assert server.admin.requests_log("phase1_submit") == [], "resuming must not submit"


def test_job_saved_unconfirmed_is_adopted(
    configured: Addon, server: LocalServer, tmp_path: Path
) -> None:
    # The request reached the service, but the file was saved before the answer arrived.
    bpy.context.scene.thrixel.add_job(kind="generate", prompt=PROMPT, phase=1)
    response = requests.post(
        f"{server.base_url}/phase1/submit",
        json={"task": PROMPT},
        headers=server.auth_headers(),
        timeout=10,
    )
    response.raise_for_status()
    submission_id = response.json()["submission_id"]
    saved = tmp_path / "unconfirmed.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    open_other_file(configured)

    bpy.ops.wm.open_mainfile(filepath=str(saved))
    pump_until(configured, lambda: only_job().imported, what="the adopted job's import")
    record = only_job()
    assert record.submission_id == submission_id
    assert record.status == "completed"
    assert len(server.admin.requests_log("phase1_submit")) == 1, "resuming submitted again"


def _remote_status(server: LocalServer, submission_id: str) -> str:
    response = requests.get(f"{server.base_url}/{submission_id}/info", timeout=10)
    response.raise_for_status()
    return str(response.json()["status"])
