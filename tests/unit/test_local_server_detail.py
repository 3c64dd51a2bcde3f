"""Phase 5 upload and phase 4 detail, remesh, retexture on the local Thrixel server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pygltflib
import pytest
import requests
import trimesh

from server_fixture import LocalServer, module_server_fixtures

pytestmark = pytest.mark.server

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "glb"
TRUCK = FIXTURES / "CesiumMilkTruck.glb"


server, clean_state = module_server_fixtures()


def post(server: LocalServer, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{server.base_url}/{path}", json=body, headers=server.auth_headers(), timeout=30
    )


def wait_done(server: LocalServer, submission_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = requests.get(f"{server.base_url}/{submission_id}/info", timeout=10).json()
        if info["status"] in ("completed", "failed"):
            return dict(info)
        time.sleep(0.05)
    raise AssertionError(f"submission {submission_id} did not finish")


def glb_of(server: LocalServer, submission_id: str) -> pygltflib.GLTF2:
    response = requests.get(
        f"{server.base_url}/{submission_id}/download", params={"format": "glb"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return pygltflib.GLTF2.load_from_bytes(response.content)


def upload(server: LocalServer, data: bytes, **fields: str) -> requests.Response:
    return requests.post(
        f"{server.base_url}/phase5/submit",
        headers=server.auth_headers(),
        files={"glb_file": ("truck.glb", data, "model/gltf-binary")},
        data=fields,
        timeout=60,
    )


def phase1(server: LocalServer, task: str = "a stone gargoyle holding a lantern") -> str:
    response = post(server, "phase1/submit", {"task": task})
    submission_id = str(response.json()["submission_id"])
    assert wait_done(server, submission_id)["status"] == "completed"
    return submission_id


def detailed(server: LocalServer, parent: str, **body: Any) -> str:
    response = post(server, "detailer/submit", {"parent_submission_id": parent, **body})
    assert response.status_code == 200, response.text
    submission_id = str(response.json()["submission_id"])
    info = wait_done(server, submission_id)
    assert info["status"] == "completed", info
    return submission_id


def triangles(gltf: pygltflib.GLTF2, node_name: str) -> int:
    node = next(n for n in gltf.nodes if n.name == node_name)
    mesh = gltf.meshes[node.mesh]
    return sum(gltf.accessors[p.indices].count // 3 for p in mesh.primitives)


@pytest.fixture
def truck_bytes() -> bytes:
    if not TRUCK.exists():
        pytest.skip(f"fixture GLB not found at {TRUCK}")
    return TRUCK.read_bytes()


def test_upload_completes_at_once(server: LocalServer, truck_bytes: bytes) -> None:
    response = upload(server, truck_bytes, task="milk truck")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed"
    assert body["original_filename"] == "truck.glb"
    assert body["file_size_bytes"] == len(truck_bytes)
    stored = requests.get(f"{server.base_url}/{body['submission_id']}/download", timeout=30)
    assert stored.content == truck_bytes
    logged = server.admin.requests_log("phase5_submit")[0]
    assert logged["body_bytes"] > len(truck_bytes)


def test_upload_rejects_non_glb(server: LocalServer) -> None:
    response = upload(server, b"not a model at all")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "glb_file"]


def test_upload_without_file_is_422(server: LocalServer) -> None:
    response = requests.post(
        f"{server.base_url}/phase5/submit",
        headers=server.auth_headers(),
        files={"task": (None, "no file")},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "glb_file"]


def test_upload_over_limit_is_413(server: LocalServer, truck_bytes: bytes) -> None:
    server.admin.configure(max_upload_bytes=100_000)
    response = upload(server, truck_bytes + b"\x00" * 200_000)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_detail_decimates_and_bakes(server: LocalServer) -> None:
    parent = phase1(server)
    child = detailed(server, parent, decimation_target=10_000, texture_size=512, seed=7)
    info = requests.get(f"{server.base_url}/{child}/info", timeout=10).json()
    assert info["phase"] == 4
    assert info["parent_submission_id"] == parent
    assert info["parameters"]["texture_size"] == 512
    assert info["parameters"]["seed"] == 7
    assert info["parameters"]["focus_mode"] == "latent"
    gltf = glb_of(server, child)
    assert {"Body", "Head", "Lantern", "Lantern Glass.001"} <= {n.name for n in gltf.nodes}
    assert len(gltf.images) == 4
    assert all(m.pbrMetallicRoughness.baseColorTexture for m in gltf.materials[-4:])
    reference = requests.get(f"{server.base_url}/detailer/reference/{child}", timeout=10)
    assert reference.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_detail_focus_changes_only_named_nodes(server: LocalServer, truck_bytes: bytes) -> None:
    parent = upload(server, truck_bytes).json()["submission_id"]
    before = pygltflib.GLTF2.load_from_bytes(truck_bytes)
    child = detailed(server, parent, focus_on_node_names=["Wheels.001"], decimation_target=10_000)
    after = glb_of(server, child)
    assert [n.name for n in after.nodes] == [n.name for n in before.nodes]
    for old, new in zip(before.nodes, after.nodes, strict=True):
        assert (old.translation, old.rotation, old.scale, old.matrix) == (
            new.translation,
            new.rotation,
            new.scale,
            new.matrix,
        )
        if old.name != "Wheels.001":
            assert old.mesh == new.mesh
    changed = next(n for n in after.nodes if n.name == "Wheels.001")
    assert changed.mesh >= len(before.meshes)
    info = requests.get(f"{server.base_url}/{child}/info", timeout=10).json()
    assert info["result"]["changed_node_names"] == ["Wheels.001"]


def dense_sphere_glb() -> bytes:
    """A one-node GLB of about 82,000 triangles, above the smallest decimation target."""
    sphere = trimesh.creation.icosphere(subdivisions=6)
    scene = trimesh.Scene()
    scene.add_geometry(sphere, node_name="Dense Sphere.001", geom_name="Sphere")
    return bytes(scene.export(file_type="glb"))


def test_detail_reduces_to_target(server: LocalServer) -> None:
    parent = upload(server, dense_sphere_glb()).json()["submission_id"]
    child = detailed(server, parent, decimation_target=10_000)
    result = requests.get(f"{server.base_url}/{child}/info", timeout=10).json()["result"]
    assert result["triangles_before"] == 81_920
    assert result["triangles_after"] <= 10_000
    assert result["triangles_after"] > 5_000
    assert triangles(glb_of(server, child), "Dense Sphere.001") == result["triangles_after"]


INVALID_DETAIL = [
    ({"seed": 1_000_000}, "seed"),
    ({"seed": "7"}, "seed"),
    ({"texture_size": 1000}, "texture_size"),
    ({"control_mesh_voxelize_res": 255}, "control_mesh_voxelize_res"),
    ({"decimation_target": 9_999}, "decimation_target"),
    ({"decimation_target": 500_001}, "decimation_target"),
    ({"pipeline_type": "2048_cascade"}, "pipeline_type"),
    ({"control_mesh_ss_lat_noise_t0idx": 13}, "control_mesh_ss_lat_noise_t0idx"),
    ({"preserve_parts": "no"}, "preserve_parts"),
    ({"focus_mode": "voxel"}, "focus_mode"),
    ({"focus_on_node_names": ["Tail"]}, "focus_on_node_names"),
    ({"image": "ftp://x/y.png"}, "image"),
    ({"mesh": "%%%"}, "mesh"),
]


@pytest.mark.parametrize(("extra", "field"), INVALID_DETAIL)
def test_detail_invalid_field_is_422(
    server: LocalServer, extra: dict[str, Any], field: str
) -> None:
    parent = phase1(server)
    response = post(server, "detailer/submit", {"parent_submission_id": parent, **extra})
    assert response.status_code == 422, response.text
    assert field in [e["loc"][1] for e in response.json()["detail"]]


@pytest.mark.parametrize("path", ["detailer/remesh", "detailer/retexture"])
def test_phase4_only_parent_rules(server: LocalServer, path: str) -> None:
    parent = phase1(server)
    wrong_phase = post(server, path, {"parent_submission_id": parent})
    unknown = post(server, path, {"parent_submission_id": "00000000-0000-4000-8000-000000000000"})
    for response in (wrong_phase, unknown):
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "parent_submission_id"]


def test_retexture_touches_only_listed_nodes(server: LocalServer) -> None:
    detail = detailed(server, phase1(server), decimation_target=10_000, texture_size=512)
    response = post(
        server,
        "detailer/retexture",
        {
            "parent_submission_id": detail,
            "apply_to_node_names": ["Lantern Glass.001"],
            "mode": "regenerate",
            "texture_size": 768,
        },
    )
    assert response.status_code == 200, response.text
    child = response.json()["submission_id"]
    assert wait_done(server, child)["status"] == "completed"
    before, after = glb_of(server, detail), glb_of(server, child)
    for old, new in zip(before.nodes, after.nodes, strict=True):
        assert old.name == new.name
        assert (old.mesh == new.mesh) == (old.name != "Lantern Glass.001")
    assert len(after.images) == len(before.images) + 1


def test_remesh_lowers_triangles(server: LocalServer) -> None:
    parent = upload(server, dense_sphere_glb()).json()["submission_id"]
    detail = detailed(server, parent, decimation_target=500_000)
    response = post(
        server, "detailer/remesh", {"parent_submission_id": detail, "decimation_target": 10_000}
    )
    assert response.status_code == 200, response.text
    child = response.json()["submission_id"]
    info = wait_done(server, child)
    assert info["status"] == "completed"
    assert info["parameters"] == {
        "parent_submission_id": detail,
        "decimation_target": 10_000,
        "remesh": True,
        "project_id": None,
    }
    assert triangles(glb_of(server, detail), "Dense Sphere.001") == 81_920
    assert triangles(glb_of(server, child), "Dense Sphere.001") <= 10_000
