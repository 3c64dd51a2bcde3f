"""The scene changes while a job is in flight: modes, undo, deleted or renamed sources, files
closed, reverted or replaced, and the add-on disabled. Each case ends in one clear state and
nothing lands on the wrong object or in the wrong file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy
import pytest
import requests
from conftest import (
    Addon,
    disable,
    enable,
    id_counts,
    only_job,
    pump_until,
    start_held_job,
)
from mathutils import Matrix, Vector
from selection_scene import import_fixture, newest_job, result_objects, run_job, select

from server_fixture import LocalServer

PROMPT = "a small stone gargoyle holding a lantern"
SETTLE_PUMPS = 25
"""Pump ticks given to events that must not change anything, after the server has finished."""


def phase1_submits(server: LocalServer) -> int:
    return len(server.admin.requests_log("phase1_submit"))


def remote_status(server: LocalServer, submission_id: str) -> str:
    response = requests.get(f"{server.base_url}/{submission_id}/info", timeout=10)
    response.raise_for_status()
    return str(response.json()["status"])


def settle(addon: Addon, server: LocalServer, submission_id: str) -> None:
    """Let the held submission finish on the server, then pump as the timer would."""
    server.admin.set_pace(paused=False)
    pump_until(
        addon,
        lambda: remote_status(server, submission_id) == "completed",
        what="the submission to complete on the server",
    )
    for _ in range(SETTLE_PUMPS):
        addon.module("pump").pump()


def tagged_objects() -> list[bpy.types.Object]:
    return [obj for obj in bpy.data.objects if "thrixel_submission_id" in obj]


def add_cube(name: str) -> bpy.types.Object:
    bpy.ops.mesh.primitive_cube_add(size=2.0)
    cube = bpy.context.active_object
    cube.name = name
    return cube


# --------------------------------------------------------------------------------------------
# A result arriving while the user works in another mode


@pytest.mark.parametrize(
    ("mode", "context_mode"),
    [("EDIT", "EDIT_MESH"), ("SCULPT", "SCULPT"), ("WEIGHT_PAINT", "PAINT_WEIGHT")],
    ids=["edit", "sculpt", "weight-paint"],
)
def test_result_waits_for_object_mode(
    configured: Addon, server: LocalServer, mode: str, context_mode: str
) -> None:
    cube = add_cube("Sculpted")
    vertices = len(cube.data.vertices)
    bpy.ops.object.mode_set(mode=mode)
    assert bpy.context.mode == context_mode
    objects_before = len(bpy.data.objects)
    bpy.context.scene.thrixel.prompt = PROMPT

    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: "Object Mode" in only_job().message, what="the import to wait")
    for _ in range(SETTLE_PUMPS):
        configured.module("pump").pump()

    record = only_job()
    assert not record.imported
    assert record.status == "downloading"
    assert record.progress == pytest.approx(1.0)
    assert bpy.context.mode == context_mode, "the pump changed the user's mode"
    assert bpy.context.view_layer.objects.active == cube
    assert len(bpy.data.objects) == objects_before
    assert tagged_objects() == []

    bpy.ops.object.mode_set(mode='OBJECT')
    pump_until(configured, lambda: only_job().imported, what="the import in Object Mode")

    record = only_job()
    assert record.status == "completed"
    imported = result_objects(record)
    assert imported
    assert cube not in imported
    assert "thrixel_submission_id" not in cube
    assert len(cube.data.vertices) == vertices
    assert sorted(obj.name for obj in tagged_objects()) == sorted(obj.name for obj in imported)
    assert phase1_submits(server) == 1


def test_file_closed_while_import_waits(configured: Addon, server: LocalServer) -> None:
    add_cube("Edited")
    bpy.ops.object.mode_set(mode='EDIT')
    bpy.context.scene.thrixel.prompt = PROMPT
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: "Object Mode" in only_job().message, what="the import to wait")

    bpy.ops.wm.read_homefile(use_empty=True)
    before = id_counts()
    for _ in range(SETTLE_PUMPS):
        configured.module("pump").pump()

    assert id_counts() == before
    assert len(bpy.context.scene.thrixel.jobs) == 0
    assert configured.module("runtime").get().deferred_imports == {}


# --------------------------------------------------------------------------------------------
# Undo


def test_undone_import_offers_import(configured: Addon, server: LocalServer) -> None:
    start_held_job(configured, server, PROMPT)
    # The user edits something while the job runs: the undo step contains the running record.
    bpy.ops.ed.undo_push(message="While the job runs")
    server.admin.set_pace(paused=False)
    pump_until(configured, lambda: only_job().imported, what="the first import")
    collection_name = only_job().collection_name
    job_id = only_job().job_id

    assert bpy.ops.ed.undo() == {'FINISHED'}

    record = only_job()
    assert collection_name not in bpy.data.collections
    assert tagged_objects() == []
    assert record.job_id == job_id
    assert record.status == "ready"
    assert not record.is_active
    assert "Import" in record.message
    # Undo must not fetch the model again on its own.
    for _ in range(SETTLE_PUMPS):
        configured.module("pump").pump()
    assert tagged_objects() == []
    assert not configured.module("runtime").get().is_following(job_id)

    assert bpy.ops.thrixel.import_result(job_id=job_id) == {'FINISHED'}
    pump_until(configured, lambda: only_job().imported, what="the import after undo")
    assert only_job().status == "completed"
    assert len(result_objects(only_job())) == len(tagged_objects())
    assert phase1_submits(server) == 1


def test_undone_record_stops_its_run(configured: Addon, server: LocalServer) -> None:
    bpy.ops.ed.undo_push(message="Before the job")
    start_held_job(configured, server, PROMPT)
    submission_id = only_job().submission_id
    bpy.ops.ed.undo_push(message="With the job")

    bpy.ops.ed.undo()
    assert len(bpy.context.scene.thrixel.jobs) == 0
    before = id_counts()
    settle(configured, server, submission_id)

    state = configured.module("runtime").get()
    assert not state.has_runner() or not state.runner.active_job_ids()
    assert id_counts() == before
    assert tagged_objects() == []
    assert phase1_submits(server) == 1


def test_import_result_needs_finished_model(configured: Addon, server: LocalServer) -> None:
    start_held_job(configured, server, PROMPT)
    assert bpy.ops.thrixel.import_result(job_id=only_job().job_id) == {'CANCELLED'}
    assert only_job().status == "queued"
    assert len(server.admin.requests_log("download")) == 0


# --------------------------------------------------------------------------------------------
# Source objects of a detail job deleted or renamed while it runs


def start_held_detail(addon: Addon, server: LocalServer) -> tuple[Any, bpy.types.Object]:
    """Send the Duck fixture's mesh for detailing while the server holds the job."""
    server.admin.configure(rate_limits=False)
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    duck.matrix_world = Matrix.Translation(Vector((3.0, -2.0, 1.0))) @ duck.matrix_world
    select([duck])
    server.admin.set_pace(paused=True)
    assert bpy.ops.thrixel.detail_selected() == {'FINISHED'}
    record = newest_job()
    job_id = record.job_id
    pump_until(
        addon,
        lambda: bool(bpy.context.scene.thrixel.find_job(job_id).submission_id),
        what="the detail submission id",
    )
    return bpy.context.scene.thrixel.find_job(job_id), duck


def test_detail_source_renamed_midway(configured: Addon, server: LocalServer) -> None:
    record, duck = start_held_detail(configured, server)
    matrix = duck.matrix_world.copy()
    duck.name = "Renamed Duck"
    # Another object now carries the source's old name; the result must not land on it.
    decoy = add_cube(record.sources[0].object_name)
    decoy.location = (-9.0, 9.0, 0.0)

    server.admin.set_pace(paused=False)
    record = run_job(configured, record)

    assert record.status == "completed", record.message
    assert "no longer exist" not in record.message
    assert duck.hide_get(), "the renamed source was not hidden"
    assert not decoy.hide_get(), "an unrelated object with the old name was hidden"
    placed = [obj for obj in result_objects(record) if obj.type == 'MESH']
    assert placed
    for obj in placed:
        assert (obj.matrix_world.translation - matrix.translation).length < 1e-4


def test_detail_source_deleted_midway(configured: Addon, server: LocalServer) -> None:
    record, duck = start_held_detail(configured, server)
    matrix = duck.matrix_world.copy()
    name = duck.name
    bpy.data.objects.remove(duck)

    server.admin.set_pace(paused=False)
    record = run_job(configured, record)

    assert record.status == "completed", record.message
    assert f"\"{name}\"" in record.message
    assert "no longer exist" in record.message
    placed = [obj for obj in result_objects(record) if obj.type == 'MESH']
    assert placed
    for obj in placed:
        assert (obj.matrix_world.translation - matrix.translation).length < 1e-4


# --------------------------------------------------------------------------------------------
# The file closed, reverted or replaced mid-job


def test_reverted_file_follows_once(configured: Addon, server: LocalServer, tmp_path: Path) -> None:
    start_held_job(configured, server, PROMPT)
    saved = tmp_path / "reverted.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    state = configured.module("runtime").get()
    old_run = state.run_of_record(only_job().job_id)

    assert bpy.ops.wm.revert_mainfile() == {'FINISHED'}
    new_run = state.run_of_record(only_job().job_id)
    assert new_run is not None
    assert new_run != old_run
    assert state.runner.active_job_ids() == {new_run}

    server.admin.set_pace(paused=False)
    pump_until(configured, lambda: only_job().imported, what="the import after reverting")
    for _ in range(SETTLE_PUMPS):
        configured.module("pump").pump()
    assert len(bpy.data.collections) == 1
    assert len(tagged_objects()) == len(result_objects(only_job()))
    assert phase1_submits(server) == 1


def test_other_file_opened_midway(configured: Addon, server: LocalServer, tmp_path: Path) -> None:
    other = tmp_path / "other.blend"
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Marker", None))
    bpy.ops.wm.save_as_mainfile(filepath=str(other))
    bpy.ops.wm.read_homefile(use_empty=True)

    start_held_job(configured, server, PROMPT)
    submission_id = only_job().submission_id
    bpy.ops.wm.open_mainfile(filepath=str(other))
    before = id_counts()
    settle(configured, server, submission_id)

    assert id_counts() == before
    assert [obj.name for obj in bpy.data.objects] == ["Marker"]
    assert len(bpy.context.scene.thrixel.jobs) == 0


def test_late_event_of_closed_file_is_ignored(configured: Addon, server: LocalServer) -> None:
    start_held_job(configured, server, PROMPT)
    state = configured.module("runtime").get()
    record = only_job()
    old_run = state.run_of_record(record.job_id)
    submission_id = record.submission_id
    server.admin.set_pace(paused=False)
    pump_until(
        configured,
        lambda: remote_status(server, submission_id) == "completed",
        what="the submission to complete on the server",
    )
    glb = configured.module("tracking").results_dir(record.job_id) / "late.glb"
    response = requests.get(
        f"{server.base_url}/{submission_id}/download", params={"format": "glb"}, timeout=10
    )
    glb.write_bytes(response.content)

    bpy.ops.wm.read_homefile(use_empty=True)
    # A worker that missed the cancel delivers its result after the file changed.
    state.runner.events.put(
        configured.module("jobs").JobEvent(
            old_run, "completed", submission_id=submission_id, files={"glb": str(glb)}
        )
    )
    before = id_counts()
    for _ in range(SETTLE_PUMPS):
        configured.module("pump").pump()
    assert id_counts() == before
    assert tagged_objects() == []


# --------------------------------------------------------------------------------------------
# The add-on disabled and enabled again


def test_disable_while_import_waits(configured: Addon, server: LocalServer) -> None:
    add_cube("Edited")
    bpy.ops.object.mode_set(mode='EDIT')
    bpy.context.scene.thrixel.prompt = PROMPT
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: "Object Mode" in only_job().message, what="the import to wait")

    disable(configured.module_name)
    bpy.ops.object.mode_set(mode='OBJECT')
    enable(configured.module_name)
    configured.preferences.api_key = server.api_key
    configured.preferences.base_url = server.base_url

    pump_until(configured, lambda: only_job().imported, what="the import after enabling")
    for _ in range(SETTLE_PUMPS):
        configured.module("pump").pump()
    assert only_job().status == "completed"
    assert len(tagged_objects()) == len(result_objects(only_job()))
    assert phase1_submits(server) == 1
