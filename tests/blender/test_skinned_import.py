"""A skinned model keeps everything it brings, bone shapes included, inside its collection."""

from __future__ import annotations

import shutil
from pathlib import Path

import bpy
import pytest
from conftest import FIXTURES_GLB, Addon, only_job, pump_until, start_held_job

from server_fixture import LocalServer

BONE_SHAPES = "glTF_not_exported"


def fox_copy(tmp_path: Path) -> Path:
    source = FIXTURES_GLB / "Fox.glb"
    if not source.is_file():
        pytest.skip(f"fixture GLB Fox.glb not found in {FIXTURES_GLB}")
    # The pump deletes an imported download and its folder.
    folder = tmp_path / "download"
    folder.mkdir()
    return Path(shutil.copy(source, folder / "Fox.glb"))


def import_through_pump(addon: Addon, server: LocalServer, glb: Path, prompt: str) -> object:
    """Hold a real job on the service, then hand the pump a finished download of `glb`."""
    start_held_job(addon, server, prompt)
    state = addon.module("runtime").get()
    record = only_job()
    run_id = state.run_of_record(record.job_id)
    assert run_id is not None
    job_event = addon.module("jobs").JobEvent
    state.runner.events.put(
        job_event(
            run_id,
            "completed",
            submission_id=record.submission_id,
            status="completed",
            files={"glb": str(glb)},
        )
    )
    pump_until(addon, lambda: only_job().imported, what="the import")
    state.runner.cancel(run_id)
    return only_job()


def test_bone_shapes_stay_in_result(configured: Addon, server: LocalServer, tmp_path: Path) -> None:
    record = import_through_pump(configured, server, fox_copy(tmp_path), "a running fox")

    collection = bpy.data.collections[record.collection_name]
    root_children = [child.name for child in bpy.context.scene.collection.children]
    assert root_children == [collection.name]
    nested = [child for child in collection.children if child.name.startswith(BONE_SHAPES)]
    assert len(nested) == 1
    shapes = list(nested[0].objects)
    assert shapes, "the bone shape object is missing"
    for obj in shapes:
        assert obj["thrixel_submission_id"] == record.submission_id
        assert not obj.visible_get()
    armatures = [obj for obj in collection.all_objects if obj.type == 'ARMATURE']
    assert armatures
    custom_shapes = {bone.custom_shape for bone in armatures[0].pose.bones if bone.custom_shape}
    assert custom_shapes <= set(shapes)


def test_earlier_bone_shapes_untouched(
    configured: Addon, server: LocalServer, tmp_path: Path
) -> None:
    # A Fox imported by hand first leaves Blender's own bone shape collection at the root.
    bpy.ops.import_scene.gltf(filepath=str(FIXTURES_GLB / "Fox.glb"))
    earlier = bpy.data.collections[BONE_SHAPES]
    earlier_objects = sorted(obj.name for obj in earlier.objects)
    objects_before = {obj.name for obj in bpy.data.objects}

    record = import_through_pump(configured, server, fox_copy(tmp_path), "a running fox")

    assert sorted(obj.name for obj in earlier.objects) == earlier_objects
    assert earlier.name in [child.name for child in bpy.context.scene.collection.children]
    collection = bpy.data.collections[record.collection_name]
    new_objects = [obj for obj in bpy.data.objects if obj.name not in objects_before]
    for obj in new_objects:
        assert collection in obj.users_collection or any(
            owner.name in {child.name for child in collection.children_recursive}
            for owner in obj.users_collection
        ), f"{obj.name} is outside the result's collection"
    visible_shapes = [
        obj for obj in collection.all_objects if obj.type == 'MESH' and "Icosphere" in obj.name
    ]
    assert all(not obj.visible_get() for obj in visible_shapes)
