"""A model that fails to import leaves the file exactly as it was and fails the job."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import bpy
import pytest
from conftest import FIXTURES_GLB, Addon, id_counts, only_job, pump_until, start_held_job

from server_fixture import LocalServer

PROMPT = "a small stone gargoyle holding a lantern"


def scene_state() -> dict[str, object]:
    """What a failed import must not change: datablock counts, collections, selection."""
    view_layer = bpy.context.view_layer
    return {
        "ids": id_counts(),
        "collections": sorted(child.name for child in bpy.context.scene.collection.children),
        "selected": sorted(obj.name for obj in view_layer.objects if obj.select_get()),
        "active": view_layer.objects.active.name if view_layer.objects.active else None,
        "active_collection": view_layer.active_layer_collection.name,
        "mode": bpy.context.mode,
    }


def populate_scene() -> None:
    """Give the scene something to lose: a selected, active mesh in a collection."""
    collection = bpy.data.collections.new("Existing")
    bpy.context.scene.collection.children.link(collection)
    mesh = bpy.data.meshes.new("Existing")
    obj = bpy.data.objects.new("Existing", mesh)
    collection.objects.link(obj)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def fixture_glb(name: str) -> Path:
    path = FIXTURES_GLB / name
    if not path.is_file():
        pytest.skip(f"fixture GLB {name} not found in {FIXTURES_GLB}")
    return path


def split_glb(data: bytes) -> tuple[dict, bytes]:
    json_length = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20 : 20 + json_length]), data[20 + json_length :]


def pack_glb(document: dict, tail: bytes) -> bytes:
    json_bytes = json.dumps(document).encode()
    json_bytes += b" " * (-len(json_bytes) % 4)
    total = 12 + 8 + len(json_bytes) + len(tail)
    header = (
        b"glTF" + struct.pack("<II", 2, total) + struct.pack("<II", len(json_bytes), 0x4E4F534A)
    )
    return header + json_bytes + tail


def half_importable_glb(destination: Path) -> Path:
    """A GLB whose last mesh reads past its buffer.

    Blender's importer creates the first objects and meshes before it fails on that mesh, so
    the add-on has leftovers to remove.
    """
    document, tail = split_glb(fixture_glb("CesiumMilkTruck.glb").read_bytes())
    accessor = document["meshes"][-1]["primitives"][0]["attributes"]["POSITION"]
    document["accessors"][accessor]["count"] = 10**7
    destination.write_bytes(pack_glb(document, tail))
    return destination


def broken_animation_glb(destination: Path) -> Path:
    """A skinned Fox whose last animation reads past its buffer.

    Blender's importer has created the armature, the skinned mesh and the bone shape helper
    by the time it fails on the animation, so the selection points at objects the clean-up
    removes.
    """
    document, tail = split_glb(fixture_glb("Fox.glb").read_bytes())
    accessor = document["animations"][-1]["samplers"][0]["output"]
    document["accessors"][accessor]["count"] = 10**7
    destination.write_bytes(pack_glb(document, tail))
    return destination


def unreadable_json_glb(destination: Path) -> Path:
    """A GLB with a valid header and length whose JSON chunk is garbage."""
    data = bytearray(fixture_glb("Duck.glb").read_bytes())
    data[20:120] = b"\xff" * 100
    destination.write_bytes(bytes(data))
    return destination


def no_nodes_glb(destination: Path) -> Path:
    """A valid GLB whose one scene has no nodes."""
    document = {"asset": {"version": "2.0"}, "scenes": [{"nodes": []}], "scene": 0}
    destination.write_bytes(pack_glb(document, b""))
    return destination


def no_mesh_glb(destination: Path) -> Path:
    """A valid GLB with a camera and an empty node but no mesh."""
    document = {
        "asset": {"version": "2.0"},
        "cameras": [{"type": "perspective", "perspective": {"yfov": 0.8, "znear": 0.1}}],
        "nodes": [{"name": "Camera", "camera": 0}, {"name": "Empty", "translation": [1, 0, 0]}],
        "scenes": [{"nodes": [0, 1]}],
        "scene": 0,
    }
    destination.write_bytes(pack_glb(document, b""))
    return destination


def meshopt_glb(destination: Path) -> Path:
    """A GLB that requires EXT_meshopt_compression, which no Blender importer supports."""
    destination.write_bytes(fixture_glb("BoxMeshopt.glb").read_bytes())
    return destination


def test_corrupt_download_fails_job(configured: Addon, server: LocalServer) -> None:
    populate_scene()
    before = scene_state()
    # More corrupt responses than the runner's download attempts, so the job fails.
    server.admin.add_fault("download", "corrupt", times=10)
    bpy.context.scene.thrixel.prompt = PROMPT

    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: only_job().status == "failed", what="the job to fail")

    record = only_job()
    assert not record.imported
    assert record.remote_status == "completed"
    assert record.message
    assert "Traceback" not in record.message
    assert scene_state() == before

    # The model exists on the service, so Retry downloads it again and imports it.
    server.admin.clear_faults()
    assert bpy.ops.thrixel.retry_job(job_id=record.job_id) == {'FINISHED'}
    pump_until(configured, lambda: only_job().imported, what="the retried import")
    assert only_job().status == "completed"
    assert only_job().collection_name in bpy.data.collections


@pytest.mark.parametrize(
    ("make_glb", "reason"),
    [
        (half_importable_glb, "buffer is smaller than requested size"),
        (broken_animation_glb, "buffer is smaller than requested size"),
        (unreadable_json_glb, "damaged"),
        (meshopt_glb, "EXT_meshopt_compression"),
        (no_nodes_glb, "contains no objects"),
        (no_mesh_glb, "contains 2 objects but no mesh"),
    ],
    ids=[
        "half-importable",
        "broken-animation",
        "unreadable-json",
        "meshopt-required",
        "no-nodes",
        "no-mesh",
    ],
)
def test_failed_import_leaves_scene_unchanged(
    configured: Addon,
    server: LocalServer,
    tmp_path: Path,
    make_glb: Callable[[Path], Path],
    reason: str,
) -> None:
    populate_scene()
    glb = make_glb(tmp_path / "result.glb")
    # Hold the real job on the service, then hand the pump a finished download of `glb`.
    start_held_job(configured, server, PROMPT)
    before = scene_state()

    state = configured.module("runtime").get()
    record = only_job()
    run_id = state.run_of_record(record.job_id)
    assert run_id is not None
    job_event = configured.module("jobs").JobEvent
    state.runner.events.put(
        job_event(
            run_id,
            "completed",
            submission_id=record.submission_id,
            status="completed",
            files={"glb": str(glb)},
        )
    )
    pump_until(configured, lambda: only_job().status == "failed", what="the import to fail")
    state.runner.cancel(run_id)

    record = only_job()
    assert not record.imported
    assert record.remote_status == "completed"
    assert reason in record.message
    assert "Traceback" not in record.message
    assert 'File "' not in record.message
    assert scene_state() == before
