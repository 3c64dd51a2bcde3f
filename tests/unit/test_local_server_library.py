"""Local Thrixel server: phase 2 and 3, the submissions list, projects and organising,
conversions, the gallery and the per-key rate limits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pygltflib
import pytest
import requests

from server_fixture import LocalServer, module_server_fixtures

pytestmark = pytest.mark.server

PROMPT = "a stone gargoyle holding a lantern"
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "glb"
TRUCK = FIXTURES / "CesiumMilkTruck.glb"

server, clean_state = module_server_fixtures()


def post(
    server: LocalServer, path: str, body: dict[str, Any], key: str | None = None
) -> requests.Response:
    return requests.post(
        f"{server.base_url}/{path}", json=body, headers=server.auth_headers(key), timeout=30
    )


def info(server: LocalServer, submission_id: str) -> dict[str, Any]:
    response = requests.get(f"{server.base_url}/{submission_id}/info", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_done(server: LocalServer, submission_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = info(server, submission_id)
        if current["status"] in ("completed", "failed"):
            return current
        time.sleep(0.05)
    raise AssertionError(f"submission {submission_id} did not finish")


def submit(server: LocalServer, path: str, body: dict[str, Any], key: str | None = None) -> str:
    response = post(server, path, body, key)
    assert response.status_code == 200, response.text
    return str(response.json()["submission_id"])


def completed(server: LocalServer, path: str, body: dict[str, Any], key: str | None = None) -> str:
    submission_id = submit(server, path, body, key)
    finished = wait_done(server, submission_id)
    assert finished["status"] == "completed", finished
    return submission_id


def phase1(server: LocalServer, task: str = PROMPT, key: str | None = None) -> str:
    return completed(server, "phase1/submit", {"task": task}, key)


def glb_of(server: LocalServer, submission_id: str) -> pygltflib.GLTF2:
    response = requests.get(
        f"{server.base_url}/{submission_id}/download", params={"format": "glb"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return pygltflib.GLTF2.load_from_bytes(response.content)


def node_names(gltf: pygltflib.GLTF2) -> list[str]:
    return [str(node.name) for node in gltf.nodes]


def node_triangles(gltf: pygltflib.GLTF2, name: str) -> int:
    node = next(n for n in gltf.nodes if n.name == name)
    return sum(gltf.accessors[p.indices].count // 3 for p in gltf.meshes[node.mesh].primitives)


def node_material(gltf: pygltflib.GLTF2, name: str) -> pygltflib.Material:
    node = next(n for n in gltf.nodes if n.name == name)
    return gltf.materials[gltf.meshes[node.mesh].primitives[0].material]


def error_field(response: requests.Response) -> list[Any]:
    return list(response.json()["detail"][0]["loc"])


# Phase 2: auto-refine -----------------------------------------------------------------------


def test_phase2_refines_the_same_parts(server: LocalServer) -> None:
    parent = phase1(server)
    child = completed(server, "phase2/submit", {"parent_submission_id": parent})
    before, after = glb_of(server, parent), glb_of(server, child)
    assert node_names(after) == node_names(before)
    for name in ("Body", "Head", "Lantern"):
        assert node_triangles(after, name) > node_triangles(before, name)
    details = info(server, child)
    assert details["phase"] == 2
    assert details["parent_submission_id"] == parent
    assert details["input"]["task"] == PROMPT
    assert "Lantern" in details["result"]["changed_node_names"]
    assert details["result"]["triangles_after"] > details["result"]["triangles_before"]


def test_phase2_accepts_a_phase2_parent(server: LocalServer) -> None:
    first = completed(server, "phase2/submit", {"parent_submission_id": phase1(server)})
    second = completed(server, "phase2/submit", {"parent_submission_id": first})
    assert info(server, second)["parent_submission_id"] == first


def test_phase2_rejects_a_phase3_parent(server: LocalServer) -> None:
    modified = completed(
        server,
        "phase3/submit",
        {"parent_submission_id": phase1(server), "modification_request": "make it bigger"},
    )
    response = post(server, "phase2/submit", {"parent_submission_id": modified})
    assert response.status_code == 422
    assert error_field(response) == ["body", "parent_submission_id"]
    assert "phase 1 or 2" in response.json()["detail"][0]["msg"]


def test_phase2_rejects_an_unfinished_parent(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    parent = submit(server, "phase1/submit", {"task": PROMPT})
    response = post(server, "phase2/submit", {"parent_submission_id": parent})
    assert response.status_code == 422
    assert error_field(response) == ["body", "parent_submission_id"]
    assert "queued" in response.json()["detail"][0]["msg"]


def test_phase2_rejects_an_unknown_parent(server: LocalServer) -> None:
    response = post(
        server, "phase2/submit", {"parent_submission_id": "00000000-0000-4000-8000-000000000000"}
    )
    assert response.status_code == 422
    assert error_field(response) == ["body", "parent_submission_id"]


def test_phase2_of_another_keys_parent_is_403(server: LocalServer) -> None:
    parent = phase1(server, key=server.other_api_key)
    response = post(server, "phase2/submit", {"parent_submission_id": parent})
    assert response.status_code == 403


def test_phase2_without_parent_is_422(server: LocalServer) -> None:
    response = post(server, "phase2/submit", {})
    assert response.status_code == 422
    assert error_field(response) == ["body", "parent_submission_id"]


# Phase 3: modify ----------------------------------------------------------------------------


def test_phase3_recolours_the_named_part(server: LocalServer) -> None:
    parent = phase1(server)
    child = completed(
        server,
        "phase3/submit",
        {"parent_submission_id": parent, "modification_request": "make the lantern glow blue"},
    )
    before, after = glb_of(server, parent), glb_of(server, child)
    lantern = node_material(after, "Lantern")
    assert lantern.pbrMetallicRoughness.baseColorFactor[:3] == pytest.approx([0.12, 0.3, 0.8])
    assert lantern.emissiveFactor == pytest.approx([0.12, 0.3, 0.8])
    assert node_material(after, "Body").name == node_material(before, "Body").name
    details = info(server, child)
    assert details["phase"] == 3
    assert details["parent_submission_id"] == parent
    assert details["input"]["modification_request"] == "make the lantern glow blue"
    assert set(details["result"]["changed_node_names"]) == {"Lantern", "Lantern Glass.001"}


def test_phase3_removes_and_adds_parts(server: LocalServer) -> None:
    parent = phase1(server)
    removed = completed(
        server,
        "phase3/submit",
        {"parent_submission_id": parent, "modification_request": "remove the lantern"},
    )
    assert "Lantern" not in node_names(glb_of(server, removed))
    assert "Head" in node_names(glb_of(server, removed))
    added = completed(
        server,
        "phase3/submit",
        {"parent_submission_id": removed, "modification_request": "give it wings"},
    )
    names = node_names(glb_of(server, added))
    assert "Wing.L" in names
    assert "Wing.R" in names


def test_phase3_scales_the_named_part(server: LocalServer) -> None:
    parent = phase1(server)
    child = completed(
        server,
        "phase3/submit",
        {"parent_submission_id": parent, "modification_request": "make the head bigger"},
    )
    head = next(n for n in glb_of(server, child).nodes if n.name == "Head")
    assert head.scale == pytest.approx([1.35, 1.35, 1.35])


def test_phase3_unknown_words_still_change_a_part(server: LocalServer) -> None:
    parent = phase1(server)
    child = completed(
        server,
        "phase3/submit",
        {"parent_submission_id": parent, "modification_request": "more whimsical please"},
    )
    changed = info(server, child)["result"]["changed_node_names"]
    assert len(changed) == 1
    assert node_material(glb_of(server, child), changed[0]).name == "Edited"


def test_phase3_accepts_an_upload_parent(server: LocalServer) -> None:
    if not TRUCK.exists():
        pytest.skip(f"fixture GLB not found at {TRUCK}")
    response = requests.post(
        f"{server.base_url}/phase5/submit",
        headers=server.auth_headers(),
        files={"glb_file": ("truck.glb", TRUCK.read_bytes(), "model/gltf-binary")},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    parent = response.json()["submission_id"]
    child = completed(
        server,
        "phase3/submit",
        {"parent_submission_id": parent, "modification_request": "remove the wheels"},
    )
    names = node_names(glb_of(server, child))
    assert "Cesium_Milk_Truck" in names
    assert not any(name.startswith("Wheels") for name in names)


def test_phase3_without_request_is_422(server: LocalServer) -> None:
    parent = phase1(server)
    missing = post(server, "phase3/submit", {"parent_submission_id": parent})
    assert missing.status_code == 422
    assert error_field(missing) == ["body", "modification_request"]
    blank = post(
        server, "phase3/submit", {"parent_submission_id": parent, "modification_request": "  "}
    )
    assert blank.status_code == 422
    assert error_field(blank) == ["body", "modification_request"]


def test_phase3_rejects_a_failed_parent(server: LocalServer) -> None:
    server.admin.fail(error="No geometry")
    parent = submit(server, "phase1/submit", {"task": PROMPT})
    assert wait_done(server, parent)["status"] == "failed"
    response = post(
        server, "phase3/submit", {"parent_submission_id": parent, "modification_request": "red"}
    )
    assert response.status_code == 422
    assert error_field(response) == ["body", "parent_submission_id"]


# Submissions list ---------------------------------------------------------------------------


def list_submissions(server: LocalServer, key: str | None = None, **params: Any) -> dict[str, Any]:
    response = requests.get(
        f"{server.base_url}/submissions",
        params=params,
        headers=server.auth_headers(key),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def listed_ids(server: LocalServer, key: str | None = None, **params: Any) -> list[str]:
    return [row["submission_id"] for row in list_submissions(server, key, **params)["submissions"]]


def test_list_rows_have_documented_fields(server: LocalServer) -> None:
    parent = phase1(server)
    child = completed(server, "phase2/submit", {"parent_submission_id": parent})
    body = list_submissions(server)
    assert body["count"] == 2
    row = body["submissions"][0]
    assert row["submission_id"] == child
    assert row["phase"] == 2
    assert row["status"] == "completed"
    assert row["nickname"] is None
    assert row["is_pinned"] is False
    assert row["project_id"] is None
    assert row["created_at"].endswith("Z")
    assert row["task"] == PROMPT
    assert row["parent_submission_id"] == parent
    assert row["is_archived"] is False
    assert row["is_visible"] is True
    assert row["is_deleted"] is False


def test_list_is_newest_first_and_limited(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    ids = [submit(server, "phase1/submit", {"task": f"a clay pot number {n}"}) for n in range(4)]
    assert listed_ids(server) == ids[::-1]
    assert listed_ids(server, limit=2) == ids[:1:-1]
    assert list_submissions(server, limit=2)["count"] == 2


def test_list_shows_only_own_submissions(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    mine = submit(server, "phase1/submit", {"task": PROMPT})
    theirs = submit(server, "phase1/submit", {"task": PROMPT}, key=server.other_api_key)
    assert listed_ids(server) == [mine]
    assert listed_ids(server, key=server.other_api_key) == [theirs]


def test_list_filters_status_and_phase(server: LocalServer) -> None:
    done = phase1(server)
    refined = completed(server, "phase2/submit", {"parent_submission_id": done})
    server.admin.set_pace(paused=True)
    waiting = submit(server, "phase1/submit", {"task": "a wooden chair"})
    assert listed_ids(server, status="queued") == [waiting]
    assert listed_ids(server, status="completed") == [refined, done]
    assert listed_ids(server, phase=2) == [refined]
    assert listed_ids(server, phase=1, status="completed") == [done]


def test_list_needs_an_api_key(server: LocalServer) -> None:
    response = requests.get(f"{server.base_url}/submissions", timeout=10)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "done"}, "status"), ({"phase": 9}, "phase"), ({"limit": 0}, "limit")],
)
def test_list_rejects_invalid_filters(
    server: LocalServer, params: dict[str, Any], field: str
) -> None:
    response = requests.get(
        f"{server.base_url}/submissions", params=params, headers=server.auth_headers(), timeout=10
    )
    assert response.status_code == 422
    assert error_field(response) == ["query", field]
