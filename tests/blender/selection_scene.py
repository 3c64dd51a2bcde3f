"""Scene set-up and checks shared by the tests that send selected objects: importing the real
fixture files, selecting, driving a job to its end, and reading what the local server got."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import bpy
import pytest
import requests
from conftest import FIXTURES_GLB, Addon, pump_until
from mathutils import Matrix

from server_fixture import LocalServer

MATRIX_TOLERANCE = 1e-4


def fixture_path(name: str) -> Path:
    path = FIXTURES_GLB / name
    if not path.is_file():
        pytest.skip(f"fixture {name} not found in {FIXTURES_GLB}")
    return path


def import_fixture(name: str) -> list[bpy.types.Object]:
    """Import a fixture GLB with Blender's own importer, as an artist would; returns the new
    objects."""
    before = {obj.session_uid for obj in bpy.data.objects}
    bpy.ops.import_scene.gltf(filepath=str(fixture_path(name)))
    return [obj for obj in bpy.data.objects if obj.session_uid not in before]


def select(objects: list[bpy.types.Object], active: bpy.types.Object | None = None) -> None:
    view_layer = bpy.context.view_layer
    for obj in view_layer.objects:
        obj.select_set(False)
    for obj in objects:
        obj.select_set(True)
    view_layer.objects.active = active or (objects[0] if objects else None)


def newest_job() -> Any:
    jobs = bpy.context.scene.thrixel.jobs
    assert len(jobs) > 0, "no job record was added"
    return jobs[len(jobs) - 1]


def run_job(addon: Addon, record: Any) -> Any:
    """Pump until the job is imported or stopped; returns the record, found again by id."""
    job_id = record.job_id

    def finished() -> bool:
        found = bpy.context.scene.thrixel.find_job(job_id)
        return found is not None and (found.imported or found.status in ("failed", "cancelled"))

    pump_until(addon, finished, what="the job to finish")
    return bpy.context.scene.thrixel.find_job(job_id)


def bodies(server: LocalServer, route: str) -> list[Any]:
    """JSON bodies the server received on `route`, oldest first."""
    return [entry["body"] for entry in server.admin.requests_log(route)]


def post_count(server: LocalServer) -> int:
    """Requests that start work (any POST) the server received."""
    return sum(1 for entry in server.admin.requests_log() if entry["method"] == "POST")


def info(server: LocalServer, submission_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{server.base_url}/{submission_id}/info", headers=server.auth_headers(), timeout=10
    )
    response.raise_for_status()
    return dict(response.json())


def glb_document(server: LocalServer, submission_id: str) -> dict[str, Any]:
    """The glTF JSON of a submission's GLB, read from the server."""
    response = requests.get(
        f"{server.base_url}/{submission_id}/download",
        params={"format": "glb"},
        headers=server.auth_headers(),
        timeout=30,
    )
    response.raise_for_status()
    data = response.content
    (json_length,) = struct.unpack_from("<I", data, 12)
    return dict(json.loads(data[20 : 20 + json_length]))


def node_names(document: dict[str, Any]) -> list[str]:
    return [node.get("name", "") for node in document.get("nodes", [])]


def result_objects(record: Any) -> list[bpy.types.Object]:
    collection = bpy.data.collections[record.collection_name]
    return list(collection.all_objects)


def matrices_match(first: Matrix, second: Matrix) -> bool:
    return all(
        abs(first[row][column] - second[row][column]) < MATRIX_TOLERANCE
        for row in range(4)
        for column in range(4)
    )


def assert_on_top_of_sources(record: Any) -> None:
    """Each result object matched to a source has the source's world matrix."""
    sources = {item.node_name: item.source_object for item in record.sources}
    matched = 0
    bpy.context.view_layer.update()
    for obj in result_objects(record):
        source = sources.get(obj.get("thrixel_node_name"))
        if source is None:
            continue
        matched += 1
        assert matrices_match(obj.matrix_world, source.matrix_world), (
            obj.name,
            source.name,
            [list(row) for row in obj.matrix_world],
            [list(row) for row in source.matrix_world],
        )
    assert matched > 0, "no result object matched a source"


def assert_sources_hidden(record: Any, hidden: bool = True) -> None:
    assert record.sources_hidden is hidden
    for item in record.sources:
        assert item.source_object is not None, item.object_name
        assert item.source_object.hide_get() is hidden, item.object_name


def renamed_copy(name: str, destination: Path, node_names_by_index: dict[int, str]) -> Path:
    """Write a copy of a fixture GLB whose nodes carry the given names; the binary chunk is
    copied byte for byte."""
    data = fixture_path(name).read_bytes()
    (json_length,) = struct.unpack_from("<I", data, 12)
    document = json.loads(data[20 : 20 + json_length])
    for index, node_name in node_names_by_index.items():
        document["nodes"][index]["name"] = node_name
    tail = data[20 + json_length :]
    chunk = json.dumps(document, ensure_ascii=False).encode()
    chunk += b" " * (-len(chunk) % 4)
    header = struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(chunk) + len(tail))
    destination.write_bytes(header + struct.pack("<II", len(chunk), 0x4E4F534A) + chunk + tail)
    return destination


def upload_file(server: LocalServer, path: Path) -> str:
    """Upload a GLB as a phase 5 submission straight to the server; returns its id."""
    with path.open("rb") as handle:
        response = requests.post(
            f"{server.base_url}/phase5/submit",
            headers=server.auth_headers(),
            files={"glb_file": (path.name, handle, "model/gltf-binary")},
            timeout=30,
        )
    response.raise_for_status()
    return str(response.json()["submission_id"])
