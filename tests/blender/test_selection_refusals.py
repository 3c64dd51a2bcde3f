"""Selections and values that must end in a clear message with nothing sent.

The cases: nothing selected, unsupported object types, a curve without geometry, a file over
the upload limit, options out of range, and parents in a state the operation does not accept.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest
import requests
from conftest import Addon
from selection_scene import fixture_path, import_fixture, newest_job, run_job, select, upload_file

from server_fixture import LocalServer


@pytest.fixture
def ready(configured: Addon, server: LocalServer) -> Addon:
    server.admin.configure(rate_limits=False)
    server.admin.clear_requests()
    return configured


def uploads_folder(addon: Addon) -> Path:
    return addon.module("selection_export").uploads_dir()


def assert_nothing_sent(addon: Addon, server: LocalServer) -> None:
    assert server.admin.requests_log() == []
    assert len(bpy.context.scene.thrixel.jobs) == 0
    assert list(uploads_folder(addon).glob("*.glb")) == []


def duck_mesh() -> bpy.types.Object:
    return next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')


def test_nothing_selected_is_refused(ready: Addon, server: LocalServer) -> None:
    duck_mesh()
    select([])
    with pytest.raises(RuntimeError, match="Nothing is selected"):
        bpy.ops.thrixel.detail_selected()
    assert_nothing_sent(ready, server)


def test_camera_and_light_are_refused(ready: Addon, server: LocalServer) -> None:
    camera = bpy.data.objects.new("Shot Camera", bpy.data.cameras.new("Shot Camera"))
    light = bpy.data.objects.new("Key Light", bpy.data.lights.new("Key Light", 'POINT'))
    for obj in (camera, light):
        bpy.context.scene.collection.objects.link(obj)
    select([camera, light])

    with pytest.raises(RuntimeError) as raised:
        bpy.ops.thrixel.detail_selected()

    message = str(raised.value)
    assert "\"Shot Camera\" is a camera" in message
    assert "\"Key Light\" is a light" in message
    assert "Select mesh objects" in message
    assert_nothing_sent(ready, server)


def test_unsupported_objects_beside_meshes_are_left_out(ready: Addon, server: LocalServer) -> None:
    duck = duck_mesh()
    camera = next(obj for obj in bpy.data.objects if obj.type == 'CAMERA')
    select([duck, camera])

    assert bpy.ops.thrixel.detail_selected() == {'FINISHED'}
    record = run_job(ready, newest_job())

    assert record.status == "completed", record.message
    assert [item.object_name for item in record.sources] == [duck.name]
    assert not camera.hide_get()


def test_curve_without_geometry_is_refused(ready: Addon, server: LocalServer) -> None:
    bpy.ops.curve.primitive_bezier_curve_add()
    curve = bpy.context.active_object
    select([curve])

    with pytest.raises(RuntimeError, match="curve without geometry"):
        bpy.ops.thrixel.detail_selected()
    assert_nothing_sent(ready, server)

    curve.data.bevel_depth = 0.1
    assert bpy.ops.thrixel.detail_selected() == {'FINISHED'}
    assert run_job(ready, newest_job()).status == "completed"


def big_grid(side: int) -> bpy.types.Object:
    """A flat grid of side × side vertices, built straight from arrays."""
    axis = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    xs, ys = np.meshgrid(axis, axis)
    coordinates = np.stack([xs, ys, np.zeros_like(xs)], axis=-1).reshape(-1)
    cells = np.arange(side * side, dtype=np.int32).reshape(side, side)[:-1, :-1].reshape(-1)
    corners = np.stack([cells, cells + 1, cells + side + 1, cells + side], axis=-1).reshape(-1)
    mesh = bpy.data.meshes.new("Big Grid")
    mesh.vertices.add(side * side)
    mesh.vertices.foreach_set("co", coordinates)
    mesh.loops.add(len(corners))
    mesh.loops.foreach_set("vertex_index", corners)
    mesh.polygons.add(len(cells))
    mesh.polygons.foreach_set("loop_start", np.arange(0, len(corners), 4, dtype=np.int32))
    mesh.update(calc_edges=True)
    obj = bpy.data.objects.new("Big Grid", mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def test_selection_over_upload_limit_is_refused(ready: Addon, server: LocalServer) -> None:
    # About 2.4 million vertices and 4.8 million triangles: a GLB of about 115 MB.
    grid = big_grid(1550)
    select([grid])

    with pytest.raises(RuntimeError, match=r"over the service's 100 MB upload limit"):
        bpy.ops.thrixel.detail_selected()

    assert_nothing_sent(ready, server)
    bpy.data.objects.remove(grid)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("seed", 1_000_000, "\"Seed\" is 1,000,000 but must be between 0 and 999,999"),
        ("seed", -1, "\"Seed\" is -1 but must be between 0 and 999,999"),
        ("decimation_target", 9_999, "\"Triangles\" is 9,999 but must be between 10,000"),
        ("control_mesh_voxelize_res", 4096, "\"Voxel Resolution\" is 4,096"),
        ("noise_timestep", 13, "\"Noise Timestep\" is 13 but must be between 0 and 12"),
        ("project_id", "../other", "\"Project ID\""),
        ("control_mesh_url", "http://example.com/a.glb", "not an https:// URL"),
        ("prompt", "x" * 2001, "\"Prompt\" is 2,001 characters long"),
    ],
)
def test_detail_value_out_of_range_is_refused(
    ready: Addon, server: LocalServer, option: str, value: object, expected: str
) -> None:
    options = bpy.context.scene.thrixel.detail
    options.use_noise_timestep = True
    setattr(options, option, value)
    select([duck_mesh()])

    with pytest.raises(RuntimeError) as raised:
        bpy.ops.thrixel.detail_selected()

    assert expected in str(raised.value)
    assert "Change it in the Selected panel" in str(raised.value) or option == "control_mesh_url"
    assert_nothing_sent(ready, server)


def test_reference_image_that_is_not_png_is_refused(
    ready: Addon, server: LocalServer, tmp_path: Path
) -> None:
    text_file = tmp_path / "notes.png"
    text_file.write_text("not an image")
    options = bpy.context.scene.thrixel.detail
    options.image_source = 'FILE'
    options.image_path = str(text_file)
    select([duck_mesh()])

    with pytest.raises(RuntimeError, match="\"notes.png\" is not a PNG or JPEG image"):
        bpy.ops.thrixel.detail_selected()
    assert_nothing_sent(ready, server)


def test_remesh_needs_a_thrixel_model(ready: Addon, server: LocalServer) -> None:
    select([duck_mesh()])
    with pytest.raises(RuntimeError, match="was not imported from Thrixel"):
        bpy.ops.thrixel.remesh_selected()
    with pytest.raises(RuntimeError, match="was not imported from Thrixel"):
        bpy.ops.thrixel.retexture_selected()
    assert_nothing_sent(ready, server)


def import_tagged(addon: Addon, submission_id: str, phase: int, name: str) -> list:
    model = addon.module("importer").import_glb(
        bpy.context.scene,
        fixture_path("CesiumMilkTruck.glb"),
        name=name,
        submission_id=submission_id,
        phase=phase,
    )
    return [bpy.data.objects[object_name] for object_name in model.object_names]


def test_remesh_refuses_phase_five_and_mixed(ready: Addon, server: LocalServer) -> None:
    upload_id = upload_file(server, fixture_path("CesiumMilkTruck.glb"))
    server.admin.clear_requests()
    uploaded = import_tagged(ready, upload_id, 5, "Uploaded Truck")
    meshes = [obj for obj in uploaded if obj.type == 'MESH']
    select(meshes)
    with pytest.raises(RuntimeError, match="phase 4\\) only, and the selected model is phase 5"):
        bpy.ops.thrixel.remesh_selected()

    other = import_tagged(ready, "0f0e0d0c-0000-4000-8000-000000000001", 4, "Other Truck")
    select([meshes[0], next(obj for obj in other if obj.type == 'MESH')])
    with pytest.raises(RuntimeError, match="mixes parts of 2 models"):
        bpy.ops.thrixel.retexture_selected()
    assert_nothing_sent(ready, server)


def test_parent_in_wrong_state_sends_no_work(ready: Addon, server: LocalServer) -> None:
    upload_id = upload_file(server, fixture_path("CesiumMilkTruck.glb"))
    # A tag that claims phase 4 for what the service stores as an upload (phase 5).
    mislabelled = import_tagged(ready, upload_id, 4, "Mislabelled Truck")
    select([obj for obj in mislabelled if obj.type == 'MESH'])
    server.admin.clear_requests()

    assert bpy.ops.thrixel.remesh_selected() == {'FINISHED'}
    record = run_job(ready, newest_job())

    assert record.status == "failed"
    assert "phase 5" in record.message
    assert "Detail the model first" in record.message
    assert server.admin.requests_log("detailer_remesh") == []
    assert all(not obj.hide_get() for obj in mislabelled)


def test_parent_not_completed_sends_no_work(ready: Addon, server: LocalServer) -> None:
    upload_id = upload_file(server, fixture_path("CesiumMilkTruck.glb"))
    server.admin.set_pace(paused=True)
    response = requests.post(
        f"{server.base_url}/detailer/submit",
        headers=server.auth_headers(),
        json={"parent_submission_id": upload_id},
        timeout=10,
    )
    response.raise_for_status()
    queued_id = response.json()["submission_id"]
    tagged = import_tagged(ready, queued_id, 4, "Queued Truck")
    select([obj for obj in tagged if obj.type == 'MESH'])
    server.admin.clear_requests()

    assert bpy.ops.thrixel.retexture_selected() == {'FINISHED'}
    record = run_job(ready, newest_job())

    assert record.status == "failed"
    assert "not completed" in record.message
    assert server.admin.requests_log("detailer_retexture") == []
