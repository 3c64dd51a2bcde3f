"""Generate a model end to end: operator, job runner, local server, pump, glTF import."""

from __future__ import annotations

import json
import struct

import bpy
import pytest
import requests
from conftest import Addon, only_job, pump_until
from mathutils import Vector

from server_fixture import LocalServer

PROMPT = "a small stone gargoyle holding a lantern"


def glb_document(server: LocalServer, submission_id: str) -> dict:
    """The glTF JSON of the submission's GLB, read straight from the server."""
    response = requests.get(
        f"{server.base_url}/{submission_id}/download", params={"format": "glb"}, timeout=10
    )
    response.raise_for_status()
    data = response.content
    (json_length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20 : 20 + json_length])


def job_finished() -> bool:
    record = only_job()
    return record.imported or record.status in ("failed", "cancelled")


def test_generate_imports_model(configured: Addon, server: LocalServer) -> None:
    scene = bpy.context.scene
    scene.cursor.location = (2.0, -1.0, 0.5)
    # An existing "Head" makes Blender rename the imported node "Head" to "Head.001".
    bpy.data.objects.new("Head", None)
    scene.thrixel.prompt = PROMPT

    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, job_finished, what="the generated model to be imported")

    record = only_job()
    assert record.status == "completed", record.message
    assert record.imported
    assert record.progress == pytest.approx(1.0)
    assert record.phase == 1
    assert record.collection_name == PROMPT
    collection = bpy.data.collections[record.collection_name]
    assert collection.name in scene.collection.children
    objects = list(collection.all_objects)
    assert objects, "the collection is empty"

    document = glb_document(server, record.submission_id)
    names = [node.get("name", "") for node in document["nodes"]]
    for obj in objects:
        assert obj["thrixel_submission_id"] == record.submission_id, obj.name
        assert obj["thrixel_phase"] == 1, obj.name
        assert obj["thrixel_node_name"] in names, obj.name
        assert "thrixel_node_index" not in obj, obj.name
    assert sorted(obj["thrixel_node_name"] for obj in objects) == sorted(names)

    head = next(obj for obj in objects if obj["thrixel_node_name"] == "Head")
    assert head.name == "Head.001"

    cursor = Vector((2.0, -1.0, 0.5))
    for obj in objects:
        if obj.parent is not None:
            continue
        node = document["nodes"][names.index(obj["thrixel_node_name"])]
        x, y, z = node.get("translation", (0.0, 0.0, 0.0))
        # glTF is Y-up, Blender Z-up: (x, y, z) becomes (x, -z, y).
        expected = cursor + Vector((x, -z, y))
        assert (obj.location - expected).length < 1e-5, (obj.name, tuple(obj.location))


def test_generate_rejects_empty_prompt(configured: Addon, server: LocalServer) -> None:
    bpy.context.scene.thrixel.prompt = "   "
    with pytest.raises(RuntimeError, match="prompt is empty"):
        bpy.ops.thrixel.generate_model()
    assert len(bpy.context.scene.thrixel.jobs) == 0
    assert server.admin.requests_log("phase1_submit") == []


def test_generate_reports_rejected_key(configured: Addon, server: LocalServer) -> None:
    configured.preferences.api_key = "sk-thrixel-not-a-known-key"
    bpy.context.scene.thrixel.prompt = PROMPT

    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, job_finished, what="the job to fail")

    record = only_job()
    assert record.status == "failed"
    assert "API key" in record.message
    assert "Traceback" not in record.message
    assert not record.imported
    assert len(bpy.data.collections) == 0


def test_environment_key_wins(
    configured: Addon, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THRIXEL_API_KEY", server.api_key)
    configured.preferences.api_key = "sk-thrixel-rejected-by-server"
    bpy.context.scene.thrixel.prompt = PROMPT

    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, job_finished, what="the generated model to be imported")

    assert only_job().status == "completed", only_job().message
    submits = server.admin.requests_log("phase1_submit")
    assert len(submits) == 1
    assert submits[0]["auth_owner"] == "test"


def test_imported_download_is_removed(configured: Addon, server: LocalServer) -> None:
    bpy.context.scene.thrixel.prompt = PROMPT
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, job_finished, what="the generated model to be imported")

    record = only_job()
    assert record.imported
    folder = configured.module("tracking").results_dir(record.job_id)
    assert list(folder.iterdir()) == []
