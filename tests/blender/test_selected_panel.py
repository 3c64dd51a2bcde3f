"""The Selected panel and its sub-panels, drawn in each state through a recording layout."""

from __future__ import annotations

import bpy
from conftest import Addon
from layout_recorder import PanelStandIn, RecordingLayout
from selection_scene import import_fixture, select

DETAIL_OPTIONS = [
    "prompt",
    "image_source",
    "texture_size",
    "decimation_target",
    "seed",
    "preserve_parts",
    "focus_mode",
]
DETAIL_ADVANCED = [
    "control_mesh_voxelize_res",
    "pipeline_type",
    "use_noise_timestep",
    "noise_timestep",
    "control_mesh_url",
    "project_id",
]


def draw(addon: Addon, name: str, *, open_panels: bool = True) -> RecordingLayout:
    panel_class = getattr(addon.module("panels_selected"), name)
    layout = RecordingLayout(open_panels=open_panels)
    panel_class.draw(PanelStandIn(layout), bpy.context)
    return layout


def joined(layout: RecordingLayout) -> str:
    """All label text, with wrapped lines joined again."""
    return " ".join(layout.texts())


def tag_as_detail_result(objects: list[bpy.types.Object]) -> None:
    for obj in objects:
        obj["thrixel_submission_id"] = "5f1e2d3c-0000-4000-8000-00000000abcd"
        obj["thrixel_phase"] = 4
        obj["thrixel_node_name"] = obj.name


def test_nothing_selected_explains(configured: Addon) -> None:
    select([])
    parent = draw(configured, "VIEW3D_PT_thrixel_selected")
    assert "Nothing is selected." in joined(parent)
    detail = draw(configured, "VIEW3D_PT_thrixel_selected_detail")
    assert "Nothing is selected." in joined(detail)
    assert detail.operator_ids() == ["thrixel.detail_selected"]


def test_scene_meshes_offer_detail_only(configured: Addon) -> None:
    duck = next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')
    camera = next(obj for obj in bpy.data.objects if obj.type == 'CAMERA')
    select([duck, camera])

    parent = draw(configured, "VIEW3D_PT_thrixel_selected")
    assert "1 object from the scene" in joined(parent)
    assert "is a camera" in joined(parent)
    assert parent.prop_paths() == ["scope"]

    detail = draw(configured, "VIEW3D_PT_thrixel_selected_detail")
    assert detail.prop_paths() == DETAIL_OPTIONS + DETAIL_ADVANCED
    assert detail.operator_ids() == ["thrixel.detail_selected"]
    assert detail.texts() == ["Advanced"]
    folded = draw(configured, "VIEW3D_PT_thrixel_selected_detail", open_panels=False)
    assert folded.prop_paths() == DETAIL_OPTIONS

    remesh = draw(configured, "VIEW3D_PT_thrixel_selected_remesh")
    assert "was not imported from Thrixel" in joined(remesh)
    retexture = draw(configured, "VIEW3D_PT_thrixel_selected_retexture")
    assert "was not imported from Thrixel" in joined(retexture)


def test_image_choice_follows_source(configured: Addon) -> None:
    select([next(obj for obj in import_fixture("Duck.glb") if obj.type == 'MESH')])
    options = bpy.context.scene.thrixel.detail
    options.image_source = 'FILE'
    assert "image_path" in draw(configured, "VIEW3D_PT_thrixel_selected_detail").prop_paths()
    options.image_source = 'DATABLOCK'
    assert "image" in draw(configured, "VIEW3D_PT_thrixel_selected_detail").prop_paths()


def test_detail_result_offers_remesh_and_retexture(configured: Addon) -> None:
    meshes = [obj for obj in import_fixture("CesiumMilkTruck.glb") if obj.type == 'MESH']
    tag_as_detail_result(meshes)
    select(meshes[:1])

    parent = draw(configured, "VIEW3D_PT_thrixel_selected")
    assert "of a Thrixel model (phase 4)" in joined(parent)
    assert parent.prop_paths() == ["use_scene_geometry", "scope"]
    assert "only the focus is sent" in joined(parent)

    remesh = draw(configured, "VIEW3D_PT_thrixel_selected_remesh")
    assert remesh.prop_paths() == ["remesh_decimation_target", "remesh_quads"]
    assert remesh.operator_ids() == ["thrixel.remesh_selected"]
    assert "phase 4" not in joined(remesh)

    bpy.context.scene.thrixel.detail.retexture_mode = 'regenerate'
    retexture = draw(configured, "VIEW3D_PT_thrixel_selected_retexture")
    assert retexture.prop_paths() == [
        "retexture_mode",
        "retexture_texture_size",
        "retexture_image_source",
        "retexture_image_path",
    ]
    assert retexture.operator_ids() == ["thrixel.retexture_selected"]


def test_phase_one_model_greys_remesh_with_reason(configured: Addon) -> None:
    meshes = [obj for obj in import_fixture("CesiumMilkTruck.glb") if obj.type == 'MESH']
    tag_as_detail_result(meshes)
    for obj in meshes:
        obj["thrixel_phase"] = 1
    select(meshes)
    remesh = draw(configured, "VIEW3D_PT_thrixel_selected_remesh")
    assert "the selected model is phase 1. Detail it first." in joined(remesh)


def test_results_offer_restore_and_reference(configured: Addon) -> None:
    record = bpy.context.scene.thrixel.add_job(kind="detail", prompt="", phase=4)
    record.status = "completed"
    record.imported = True
    record.sources_hidden = True
    record.submission_id = "5f1e2d3c-0000-4000-8000-00000000abcd"
    record.nickname = "Detail Wheels"

    layout = draw(configured, "VIEW3D_PT_thrixel_selected_results")

    assert "Detail Wheels" in layout.texts()
    restore, reference = layout.operators()
    assert restore.args[0] == "thrixel.restore_sources"
    assert restore.properties == {"job_id": record.job_id}
    assert reference.args[0] == "thrixel.load_reference_image"
    assert reference.properties == {"submission_id": record.submission_id}


def test_offline_says_how_to_turn_on(configured: Addon) -> None:
    bpy.context.preferences.system.use_online_access = False
    try:
        layout = draw(configured, "VIEW3D_PT_thrixel_selected")
        assert "Allow Online Access" in joined(layout)
        child = configured.module("panels_selected").VIEW3D_PT_thrixel_selected_detail
        assert not child.poll(bpy.context)
    finally:
        bpy.context.preferences.system.use_online_access = True


def test_results_offer_show_result_when_shown_originals(configured: Addon) -> None:
    collection = bpy.data.collections.new("Detail Wheels Result")
    record = bpy.context.scene.thrixel.add_job(kind="detail", prompt="", phase=4)
    record.status = "completed"
    record.imported = True
    record.sources_hidden = False
    record.collection_name = collection.name
    record.submission_id = "5f1e2d3c-0000-4000-8000-00000000abcd"

    shown = draw(configured, "VIEW3D_PT_thrixel_selected_results")
    bpy.data.collections.remove(collection)
    deleted = draw(configured, "VIEW3D_PT_thrixel_selected_results")

    show, reference = shown.operators()
    assert show.args[0] == "thrixel.show_result"
    assert show.kwargs["text"] == "Show Result"
    assert show.properties == {"job_id": record.job_id}
    assert reference.args[0] == "thrixel.load_reference_image"
    assert deleted.operator_ids() == ["thrixel.load_reference_image"]
