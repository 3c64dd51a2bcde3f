"""Detail selected objects end to end: export or tag lookup, upload, detailer/submit, pump,
placement over the sources, and bringing the sources back, with real fixture files."""

from __future__ import annotations

from pathlib import Path

import bmesh
import bpy
import pytest
from conftest import Addon, pump_until
from mathutils import Vector
from selection_scene import (
    assert_on_top_of_sources,
    assert_sources_hidden,
    bodies,
    fixture_path,
    glb_document,
    import_fixture,
    info,
    newest_job,
    node_names,
    renamed_copy,
    result_objects,
    run_job,
    select,
    upload_file,
)

from server_fixture import LocalServer

DOCUMENTED_DEFAULTS = {
    "seed": 42,
    "texture_size": 768,
    "control_mesh_voxelize_res": 512,
    "decimation_target": 160_000,
    "preserve_parts": True,
    "focus_mode": "latent",
}


@pytest.fixture
def detail_ready(configured: Addon, server: LocalServer) -> Addon:
    # Many submissions per test: the service's hourly limit is not what these tests are about.
    server.admin.configure(rate_limits=False)
    server.admin.clear_requests()
    return configured


def detail(server: LocalServer) -> None:
    server.admin.clear_requests()
    assert bpy.ops.thrixel.detail_selected() == {'FINISHED'}


def test_detail_upload_focuses_renamed_object(detail_ready: Addon, server: LocalServer) -> None:
    first = import_fixture("Duck.glb")
    second = import_fixture("Duck.glb")
    duck = next(obj for obj in second if obj.type == 'MESH')
    assert duck.name == "LOD3spShape.001"
    select([duck])

    detail(server)
    record = run_job(detail_ready, newest_job())

    assert record.status == "completed", record.message
    uploads = server.admin.requests_log("phase5_submit")
    assert len(uploads) == 1
    (body,) = bodies(server, "detailer_submit")
    assert body["focus_on_node_names"] == ["LOD3spShape.001"]
    assert body["parent_submission_id"] == record.upload_submission_id
    for key, value in DOCUMENTED_DEFAULTS.items():
        assert body[key] == value, key
    assert "pipeline_type" not in body
    assert "control_mesh_ss_lat_noise_t0idx" not in body
    assert "image" not in body
    assert node_names(glb_document(server, record.upload_submission_id)) == ["LOD3spShape.001"]
    assert info(server, record.submission_id)["parameters"]["focus_on_node_names"] == [
        "LOD3spShape.001"
    ]

    assert_on_top_of_sources(record)
    assert_sources_hidden(record)
    for obj in first:
        assert not obj.hide_get(), obj.name
    assert all(obj["thrixel_phase"] == 4 for obj in result_objects(record))


def test_restore_shows_sources_and_hides_result(detail_ready: Addon, server: LocalServer) -> None:
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    select([duck])
    detail(server)
    record = run_job(detail_ready, newest_job())
    assert duck.hide_get()
    assert duck.hide_render

    assert bpy.ops.thrixel.restore_sources(job_id=record.job_id) == {'FINISHED'}

    assert_sources_hidden(record, hidden=False)
    assert not duck.hide_render
    layer = bpy.context.view_layer.layer_collection.children[record.collection_name]
    assert layer.hide_viewport
    assert bpy.data.collections[record.collection_name].hide_render
    assert duck.name in bpy.data.objects


def test_show_result_undoes_show_originals(detail_ready: Addon, server: LocalServer) -> None:
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    select([duck])
    detail(server)
    record = run_job(detail_ready, newest_job())
    assert bpy.ops.thrixel.restore_sources(job_id=record.job_id) == {'FINISHED'}

    assert bpy.ops.thrixel.show_result(job_id=record.job_id) == {'FINISHED'}

    assert_sources_hidden(record, hidden=True)
    assert duck.hide_render
    assert record.sources_hidden
    layer = bpy.context.view_layer.layer_collection.children[record.collection_name]
    assert not layer.hide_viewport
    assert not bpy.data.collections[record.collection_name].hide_render
    assert all(obj.visible_get() for obj in result_objects(record))
    assert bpy.ops.thrixel.show_result(job_id=record.job_id) == {'CANCELLED'}
    assert bpy.ops.thrixel.restore_sources(job_id=record.job_id) == {'FINISHED'}
    assert not duck.hide_get()


def test_show_result_of_deleted_collection(detail_ready: Addon, server: LocalServer) -> None:
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    select([duck])
    detail(server)
    record = run_job(detail_ready, newest_job())
    assert bpy.ops.thrixel.restore_sources(job_id=record.job_id) == {'FINISHED'}
    bpy.data.collections.remove(bpy.data.collections[record.collection_name])

    with pytest.raises(RuntimeError, match="was deleted, so there is no result to show"):
        bpy.ops.thrixel.show_result(job_id=record.job_id)
    assert not duck.hide_get()


def test_detail_child_alone_keeps_world_transform(detail_ready: Addon, server: LocalServer) -> None:
    truck = {obj.name: obj for obj in import_fixture("CesiumMilkTruck.glb")}
    wheels = truck["Wheels.001"]
    assert wheels.parent is not None
    select([wheels])

    detail(server)
    record = run_job(detail_ready, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_submit")
    assert body["focus_on_node_names"] == ["Wheels.001"]
    uploaded = glb_document(server, record.upload_submission_id)
    assert node_names(uploaded) == ["Wheels.001"]
    assert_on_top_of_sources(record)
    (result,) = result_objects(record)
    assert result.parent is None
    assert not truck["Wheels"].hide_get()


def test_detail_whole_model_focuses_selection(detail_ready: Addon, server: LocalServer) -> None:
    truck = {obj.name: obj for obj in import_fixture("CesiumMilkTruck.glb")}
    bpy.context.scene.thrixel.detail.scope = 'MODEL'
    select([truck["Wheels"]])

    detail(server)
    record = run_job(detail_ready, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_submit")
    assert body["focus_on_node_names"] == ["Wheels"]
    uploaded = sorted(node_names(glb_document(server, record.upload_submission_id)))
    assert uploaded == sorted(truck)
    assert sorted(item.object_name for item in record.sources) == sorted(truck)
    assert [item.object_name for item in record.sources if item.focused] == ["Wheels"]
    assert_on_top_of_sources(record)
    assert_sources_hidden(record)
    assert len(result_objects(record)) == len(truck)


def test_detail_negative_scale_lands_on_sources(detail_ready: Addon, server: LocalServer) -> None:
    scene_objects = {obj.name: obj for obj in import_fixture("NegativeScaleTest.glb")}
    bpy.context.scene.thrixel.detail.scope = 'MODEL'
    focus = [scene_objects["Dark1"], scene_objects["NotShinyMinus1"]]
    assert focus[0].matrix_world.determinant() < 0
    assert focus[1].matrix_world.determinant() < 0
    select(focus)

    detail(server)
    record = run_job(detail_ready, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_submit")
    assert body["focus_on_node_names"] == ["Dark1", "NotShinyMinus1"]
    uploaded = node_names(glb_document(server, record.upload_submission_id))
    # Both hierarchies, with their parent empties whose names hold spaces.
    assert "Dark Parent" in uploaded
    assert "Not Shiny Parent" in uploaded
    assert_on_top_of_sources(record)
    negative = [obj for obj in result_objects(record) if obj.matrix_world.determinant() < 0]
    assert {obj["thrixel_node_name"] for obj in negative} >= {"Dark1", "NotShinyMinus1"}


def test_detail_unicode_spaces_and_dots(detail_ready: Addon, server: LocalServer) -> None:
    unicode_mesh = next(obj for obj in import_fixture("Unicode❤♻Test.glb") if obj.type == 'MESH')
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    duck.name = "Duck Body.v1.002"
    select([unicode_mesh, duck])

    detail(server)
    record = run_job(detail_ready, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_submit")
    assert body["focus_on_node_names"] == ["Duck Body.v1.002", "Unicode❤♻Mesh"]
    uploaded = node_names(glb_document(server, record.upload_submission_id))
    assert sorted(uploaded) == ["Duck Body.v1.002", "Unicode❤♻Mesh"]
    assert_on_top_of_sources(record)
    assert sorted(obj["thrixel_node_name"] for obj in result_objects(record)) == sorted(uploaded)


def import_tagged(addon: Addon, path, submission_id: str, name: str) -> list[bpy.types.Object]:
    """Import a GLB the way the add-on imports a submission: tagged with original names."""
    model = addon.module("importer").import_glb(
        bpy.context.scene, path, name=name, submission_id=submission_id, phase=5
    )
    return [bpy.data.objects[object_name] for object_name in model.object_names]


def test_detail_submission_uses_original_names(detail_ready: Addon, server: LocalServer) -> None:
    path = fixture_path("CesiumMilkTruck.glb")
    submission_id = upload_file(server, path)
    import_tagged(detail_ready, path, submission_id, "Truck A")
    second = {obj.name: obj for obj in import_tagged(detail_ready, path, submission_id, "Truck B")}
    wheels = next(obj for obj in second.values() if obj["thrixel_node_name"] == "Wheels")
    assert wheels.name != "Wheels"
    root = next(obj for obj in second.values() if obj.parent is None)
    root.location += Vector((3.0, 0.0, 1.0))
    select([wheels])

    detail(server)
    record = run_job(detail_ready, newest_job())

    assert record.status == "completed", record.message
    assert server.admin.requests_log("phase5_submit") == []
    (body,) = bodies(server, "detailer_submit")
    assert body["parent_submission_id"] == submission_id
    assert body["focus_on_node_names"] == ["Wheels"]
    # Only the selected import of the model is replaced, and in the place it was moved to.
    assert sorted(item.object_name for item in record.sources) == sorted(second)
    assert_on_top_of_sources(record)
    assert_sources_hidden(record)
    assert len(result_objects(record)) == len(second)


def test_detail_submission_unicode_spaces_dots(
    detail_ready: Addon, server: LocalServer, tmp_path: Path
) -> None:
    names = {0: "Ente Wurzel.v1", 1: "Kamera ❤", 2: "Ente ♻ Körper.001"}
    path = renamed_copy("Duck.glb", tmp_path / "renamed.glb", names)
    submission_id = upload_file(server, path)
    import_tagged(detail_ready, path, submission_id, "Duck A")
    second = import_tagged(detail_ready, path, submission_id, "Duck B")
    body_object = next(obj for obj in second if obj.type == 'MESH')
    assert body_object.name != "Ente ♻ Körper.001"
    select([body_object])

    detail(server)
    record = run_job(detail_ready, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_submit")
    assert body["focus_on_node_names"] == ["Ente ♻ Körper.001"]
    assert sorted(item.node_name for item in record.sources) == sorted(names.values())
    assert_on_top_of_sources(record)


def test_detail_unnamed_node_asks_for_upload(detail_ready: Addon, server: LocalServer) -> None:
    path = fixture_path("Duck.glb")
    submission_id = upload_file(server, path)
    duck = next(
        obj
        for obj in import_tagged(detail_ready, path, submission_id, "Duck")
        if obj.type == 'MESH'
    )
    select([duck])
    server.admin.clear_requests()

    with pytest.raises(RuntimeError, match="Send Scene Geometry"):
        bpy.ops.thrixel.detail_selected()
    assert len(bpy.context.scene.thrixel.jobs) == 0
    assert server.admin.requests_log() == []

    bpy.context.scene.thrixel.detail.use_scene_geometry = True
    detail(server)
    record = run_job(detail_ready, newest_job())
    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_submit")
    assert body["focus_on_node_names"] == [duck.name]
    assert body["parent_submission_id"] == record.upload_submission_id


def test_detail_sends_unsaved_edit_mode_changes(detail_ready: Addon, server: LocalServer) -> None:
    bpy.ops.mesh.primitive_cube_add(size=2.0)
    cube = bpy.context.active_object
    cube.modifiers.new("Subdivision", 'SUBSURF').levels = 1
    select([cube])
    bpy.ops.object.mode_set(mode='EDIT')
    edit = bmesh.from_edit_mesh(cube.data)
    for vertex in edit.verts:
        vertex.co.z += 5.0
    bmesh.update_edit_mesh(cube.data)

    detail(server)

    assert cube.mode == 'EDIT'
    assert bpy.context.view_layer.objects.active == cube
    # A result is imported only in Object Mode.
    bpy.ops.object.mode_set(mode='OBJECT')
    record = run_job(detail_ready, newest_job())
    assert record.status == "completed", record.message
    uploaded = glb_document(server, record.upload_submission_id)
    position = uploaded["meshes"][0]["primitives"][0]["attributes"]["POSITION"]
    accessor = uploaded["accessors"][position]
    # glTF is Y-up: Blender's z is the file's y. The edit moved the cube from -1..1 to 4..6,
    # and the subdivision pulled its corners inwards.
    low, high = accessor["min"][1], accessor["max"][1]
    assert (low + high) / 2 == pytest.approx(5.0, abs=1e-4)
    assert 4.0 < low < high < 6.0
    # The Subdivision modifier was applied: a plain cube has 24 corner vertices.
    assert accessor["count"] > 24


def test_detail_sends_chosen_options(detail_ready: Addon, server: LocalServer, tmp_path) -> None:
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    options = bpy.context.scene.thrixel.detail
    options.prompt = "weathered bronze, green patina"
    options.seed = 7
    options.texture_size = '2048'
    options.decimation_target = 20_000
    options.preserve_parts = False
    options.focus_mode = 'sparse_structure'
    options.control_mesh_voxelize_res = 1024
    options.pipeline_type = '1536_cascade'
    options.use_noise_timestep = True
    options.noise_timestep = 12
    image = bpy.data.images.new("Swatch", 4, 4)
    image.generated_color = (0.2, 0.6, 0.3, 1.0)
    options.image_source = 'DATABLOCK'
    options.image = image
    select([duck])

    detail(server)
    record = run_job(detail_ready, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_submit")
    assert body["prompt"] == "weathered bronze, green patina"
    assert body["seed"] == 7
    assert body["texture_size"] == 2048
    assert body["decimation_target"] == 20_000
    assert body["preserve_parts"] is False
    assert body["focus_mode"] == "sparse_structure"
    assert body["control_mesh_voxelize_res"] == 1024
    assert body["pipeline_type"] == "1536_cascade"
    assert body["control_mesh_ss_lat_noise_t0idx"] == 12
    assert body["image"].startswith("data:image/png;base64,")
    parameters = info(server, record.submission_id)["parameters"]
    assert parameters["seed"] == 7
    assert parameters["pipeline_type"] == "1536_cascade"
    assert image.filepath == ""
    assert image.source == 'GENERATED'


def test_retry_after_failed_detail_skips_upload(detail_ready: Addon, server: LocalServer) -> None:
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    select([duck])
    server.admin.add_fault("detailer_submit", "status", status=400)

    detail(server)
    record = run_job(detail_ready, newest_job())
    assert record.status == "failed"
    assert record.upload_submission_id
    upload_id = record.upload_submission_id

    assert bpy.ops.thrixel.retry_job(job_id=record.job_id) == {'FINISHED'}
    record = run_job(detail_ready, record)

    assert record.status == "completed", record.message
    assert len(server.admin.requests_log("phase5_submit")) == 1
    sent = bodies(server, "detailer_submit")
    assert len(sent) == 2
    assert sent[-1]["parent_submission_id"] == upload_id
    assert sent[-1]["focus_on_node_names"] == ["LOD3spShape"]
    assert_on_top_of_sources(record)


def test_detail_reference_image_loads(detail_ready: Addon, server: LocalServer) -> None:
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    select([duck])
    detail(server)
    record = run_job(detail_ready, newest_job())
    assert record.status == "completed", record.message
    images_before = len(bpy.data.images)

    result = bpy.ops.thrixel.load_reference_image(submission_id=record.submission_id)

    assert result == {'FINISHED'}
    assert len(bpy.data.images) == images_before + 1
    image = bpy.data.images[f"Reference {record.submission_id[:8]}"]
    assert image.packed_file is not None
    assert tuple(image.size) == (512, 512)


def test_reference_image_downloads_when_missing(detail_ready: Addon, server: LocalServer) -> None:
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    select([duck])
    detail(server)
    record = run_job(detail_ready, newest_job())
    assert record.status == "completed", record.message
    tracking = detail_ready.module("tracking")
    (tracking.results_dir(record.job_id) / f"{record.submission_id}.png").unlink()
    image_name = f"Reference {record.submission_id[:8]}"
    server.admin.clear_requests()

    assert bpy.ops.thrixel.load_reference_image(submission_id=record.submission_id) == {'FINISHED'}
    pump_until(detail_ready, lambda: image_name in bpy.data.images, what="the reference image")

    assert len(server.admin.requests_log("detailer_reference")) == 1
    assert bpy.data.images[image_name].packed_file is not None


def test_reference_button_works_without_active_result(
    detail_ready: Addon, server: LocalServer
) -> None:
    operator = bpy.ops.thrixel.load_reference_image
    assert not operator.poll(), "enabled in a file without detail results"
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    select([duck])
    detail(server)
    record = run_job(detail_ready, newest_job())
    assert record.status == "completed", record.message
    bpy.ops.mesh.primitive_cube_add()
    bpy.context.view_layer.objects.active = bpy.context.active_object

    assert operator.poll(), "the Results panel's button is greyed out"
    assert operator(submission_id=record.submission_id) == {'FINISHED'}
    assert f"Reference {record.submission_id[:8]}" in bpy.data.images
    with pytest.raises(RuntimeError, match="not part of a detail result"):
        operator()
