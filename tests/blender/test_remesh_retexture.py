"""Remesh and retexture a detail result end to end: the request names the original glTF nodes
of the selected parts, carries the chosen options, and the result lands on the phase 4 model."""

from __future__ import annotations

import base64
from pathlib import Path

import bpy
import pytest
from conftest import Addon
from selection_scene import (
    assert_on_top_of_sources,
    assert_sources_hidden,
    bodies,
    import_fixture,
    info,
    newest_job,
    result_objects,
    run_job,
    select,
)

from server_fixture import LocalServer


@pytest.fixture
def detailed_truck(configured: Addon, server: LocalServer) -> list[bpy.types.Object]:
    """The milk truck detailed as a whole: a phase 4 model in the scene, sources hidden."""
    server.admin.configure(rate_limits=False)
    truck = {obj.name: obj for obj in import_fixture("CesiumMilkTruck.glb")}
    bpy.context.scene.thrixel.detail.scope = 'MODEL'
    select([truck["Cesium_Milk_Truck"]])
    assert bpy.ops.thrixel.detail_selected() == {'FINISHED'}
    record = run_job(configured, newest_job())
    assert record.status == "completed", record.message
    server.admin.clear_requests()
    return result_objects(record)


def by_node(objects: list[bpy.types.Object], node_name: str) -> bpy.types.Object:
    return next(obj for obj in objects if obj.get("thrixel_node_name") == node_name)


def test_retexture_applies_to_selected_parts(
    configured: Addon, server: LocalServer, detailed_truck: list[bpy.types.Object]
) -> None:
    wheels = [by_node(detailed_truck, "Wheels"), by_node(detailed_truck, "Wheels.001")]
    # The result's objects were renamed on import, because the hidden sources keep the names.
    assert all(obj.name not in ("Wheels", "Wheels.001") for obj in wheels)
    parent_id = wheels[0]["thrixel_submission_id"]
    select(wheels)

    assert bpy.ops.thrixel.retexture_selected() == {'FINISHED'}
    record = run_job(configured, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_retexture")
    assert body["parent_submission_id"] == parent_id
    assert body["apply_to_node_names"] == ["Wheels", "Wheels.001"]
    assert body["mode"] == "rebake"
    assert body["texture_size"] == 1024
    assert "image" not in body
    assert info(server, record.submission_id)["parameters"]["apply_to_node_names"] == [
        "Wheels",
        "Wheels.001",
    ]
    assert sorted(item.object_name for item in record.sources) == sorted(
        obj.name for obj in detailed_truck
    )
    assert_on_top_of_sources(record)
    assert_sources_hidden(record)


def test_retexture_regenerate_sends_image_file(
    configured: Addon, server: LocalServer, detailed_truck: list[bpy.types.Object], tmp_path: Path
) -> None:
    swatch = bpy.data.images.new("Swatch", 8, 8)
    swatch.generated_color = (0.8, 0.1, 0.1, 1.0)
    png = tmp_path / "swatch.png"
    swatch.filepath_raw = str(png)
    swatch.file_format = 'PNG'
    swatch.save()
    options = bpy.context.scene.thrixel.detail
    options.retexture_mode = 'regenerate'
    options.retexture_texture_size = '2048'
    options.retexture_image_source = 'FILE'
    options.retexture_image_path = str(png)
    select([by_node(detailed_truck, "Cesium_Milk_Truck")])

    assert bpy.ops.thrixel.retexture_selected() == {'FINISHED'}
    record = run_job(configured, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_retexture")
    assert body["mode"] == "regenerate"
    assert body["texture_size"] == 2048
    assert body["apply_to_node_names"] == ["Cesium_Milk_Truck"]
    prefix = "data:image/png;base64,"
    assert body["image"].startswith(prefix)
    assert base64.b64decode(body["image"][len(prefix) :]) == png.read_bytes()


def test_retexture_regenerate_sends_image_datablock(
    configured: Addon, server: LocalServer, detailed_truck: list[bpy.types.Object], tmp_path: Path
) -> None:
    painted = bpy.data.images.new("Painted", 16, 8)
    painted.generated_color = (0.1, 0.3, 0.9, 1.0)
    options = bpy.context.scene.thrixel.detail
    options.retexture_mode = 'regenerate'
    options.retexture_image_source = 'DATABLOCK'
    options.retexture_image = painted
    select([by_node(detailed_truck, "Wheels")])

    assert bpy.ops.thrixel.retexture_selected() == {'FINISHED'}
    record = run_job(configured, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_retexture")
    prefix = "data:image/png;base64,"
    assert body["image"].startswith(prefix)
    decoded = base64.b64decode(body["image"][len(prefix) :])
    assert decoded.startswith(b"\x89PNG")
    # The PNG header stores the width and the height, big-endian, at bytes 16 to 24.
    assert int.from_bytes(decoded[16:20], "big") == 16
    assert int.from_bytes(decoded[20:24], "big") == 8


def test_retexture_regenerate_needs_image(
    configured: Addon, server: LocalServer, detailed_truck: list[bpy.types.Object]
) -> None:
    options = bpy.context.scene.thrixel.detail
    options.retexture_mode = 'regenerate'
    options.retexture_image_source = 'FILE'
    options.retexture_image_path = ""
    jobs_before = len(bpy.context.scene.thrixel.jobs)
    select([by_node(detailed_truck, "Wheels")])

    with pytest.raises(RuntimeError, match="No file is chosen for \"Image File\""):
        bpy.ops.thrixel.retexture_selected()

    assert len(bpy.context.scene.thrixel.jobs) == jobs_before
    assert server.admin.requests_log() == []


def test_remesh_replaces_whole_model(
    configured: Addon, server: LocalServer, detailed_truck: list[bpy.types.Object]
) -> None:
    parent_id = detailed_truck[0]["thrixel_submission_id"]
    select([by_node(detailed_truck, "Wheels")])

    assert bpy.ops.thrixel.remesh_selected() == {'FINISHED'}
    record = run_job(configured, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_remesh")
    assert body == {
        "parent_submission_id": parent_id,
        "decimation_target": 200_000,
        "remesh": True,
    }
    assert len(result_objects(record)) == len(detailed_truck)
    assert_on_top_of_sources(record)
    assert_sources_hidden(record)
    assert all(obj["thrixel_phase"] == 4 for obj in result_objects(record))


def test_remesh_sends_chosen_options(
    configured: Addon, server: LocalServer, detailed_truck: list[bpy.types.Object]
) -> None:
    options = bpy.context.scene.thrixel.detail
    options.remesh_decimation_target = 12_000
    options.remesh_quads = False
    select([by_node(detailed_truck, "Cesium_Milk_Truck")])

    assert bpy.ops.thrixel.remesh_selected() == {'FINISHED'}
    record = run_job(configured, newest_job())

    assert record.status == "completed", record.message
    (body,) = bodies(server, "detailer_remesh")
    assert body["decimation_target"] == 12_000
    assert body["remesh"] is False
    parameters = info(server, record.submission_id)["parameters"]
    assert parameters["decimation_target"] == 12_000


def test_deleted_source_lands_at_recorded_place(
    configured: Addon, server: LocalServer, detailed_truck: list[bpy.types.Object]
) -> None:
    wheels = by_node(detailed_truck, "Wheels")
    recorded = wheels.matrix_world.copy()
    select([wheels])
    assert bpy.ops.thrixel.remesh_selected() == {'FINISHED'}
    wheels_name = wheels.name
    bpy.data.objects.remove(wheels)

    record = run_job(configured, newest_job())

    assert record.status == "completed", record.message
    assert f"\"{wheels_name}\" no longer exist" in record.message
    result = by_node(result_objects(record), "Wheels")
    bpy.context.view_layer.update()
    difference = result.matrix_world - recorded
    assert max(abs(value) for row in difference for value in row) < 1e-4
