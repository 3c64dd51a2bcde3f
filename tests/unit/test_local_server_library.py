"""Local Thrixel server: phase 2 and 3, the submissions list, projects and organising,
conversions, the gallery and the per-key rate limits."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pygltflib
import pytest
import requests
import trimesh

from server_fixture import LocalServer, module_server_fixtures, running_server

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


# Projects -----------------------------------------------------------------------------------


def api(
    server: LocalServer,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
    **params: Any,
) -> requests.Response:
    return requests.request(
        method,
        f"{server.base_url}/{path}",
        json=body,
        params=params or None,
        headers=server.auth_headers(key),
        timeout=10,
    )


def new_project(server: LocalServer, name: str = "Gargoyles", key: str | None = None) -> str:
    response = api(server, "POST", "projects", {"name": name}, key)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_project_create_and_list(server: LocalServer) -> None:
    created = api(
        server, "POST", "projects", {"name": "Gargoyles", "description": "Stone experiments"}
    )
    assert created.status_code == 200, created.text
    project = created.json()
    assert project["name"] == "Gargoyles"
    assert project["description"] == "Stone experiments"
    assert project["is_archived"] is False
    assert project["submission_count"] == 0
    assert project["created_at"].endswith("Z")
    assert project["updated_at"].endswith("Z")
    listing = api(server, "GET", "projects").json()
    assert listing["count"] == 1
    assert listing["projects"][0]["id"] == project["id"]
    assert api(server, "GET", "projects", key=server.other_api_key).json()["count"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 256},
        {"name": "ok", "description": "d" * 2001},
    ],
)
def test_project_create_rejects_invalid_fields(server: LocalServer, body: dict[str, Any]) -> None:
    response = api(server, "POST", "projects", body)
    assert response.status_code == 422
    expected = "description" if "description" in body else "name"
    assert error_field(response) == ["body", expected]


def test_project_limits_are_inclusive(server: LocalServer) -> None:
    response = api(server, "POST", "projects", {"name": "n" * 255, "description": "d" * 2000})
    assert response.status_code == 200, response.text


def test_project_update_needs_a_field(server: LocalServer) -> None:
    project_id = new_project(server)
    empty = api(server, "PATCH", f"projects/{project_id}", {})
    assert empty.status_code == 422
    assert error_field(empty) == ["body", "name"]
    renamed = api(server, "PATCH", f"projects/{project_id}", {"name": "Chimeras"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Chimeras"
    described = api(server, "PATCH", f"projects/{project_id}", {"description": "Winged"})
    assert described.json()["name"] == "Chimeras"
    assert described.json()["description"] == "Winged"


def test_project_get_embeds_its_submissions(server: LocalServer) -> None:
    project_id = new_project(server)
    server.admin.set_pace(paused=True)
    inside = submit(server, "phase1/submit", {"task": PROMPT, "project_id": project_id})
    deleted = submit(server, "phase1/submit", {"task": PROMPT, "project_id": project_id})
    outside = submit(server, "phase1/submit", {"task": PROMPT})
    assert api(server, "DELETE", deleted).status_code == 200
    body = api(server, "GET", f"projects/{project_id}").json()
    assert [row["submission_id"] for row in body["submissions"]] == [inside]
    assert body["submission_count"] == 1
    assert listed_ids(server, project_id=project_id) == [inside]
    assert outside in listed_ids(server)


def test_project_delete_unlinks_submissions(server: LocalServer) -> None:
    project_id = new_project(server)
    server.admin.set_pace(paused=True)
    member = submit(server, "phase1/submit", {"task": PROMPT, "project_id": project_id})
    response = api(server, "DELETE", f"projects/{project_id}")
    assert response.status_code == 200, response.text
    assert response.json()["unlinked_submissions"] == 1
    assert info(server, member)["project_id"] is None
    assert info(server, member)["is_deleted"] is False
    assert api(server, "GET", f"projects/{project_id}").status_code == 404


def test_project_of_another_key_is_403(server: LocalServer) -> None:
    project_id = new_project(server, key=server.other_api_key)
    assert api(server, "GET", f"projects/{project_id}").status_code == 403
    assert api(server, "PATCH", f"projects/{project_id}", {"name": "x"}).status_code == 403
    assert api(server, "DELETE", f"projects/{project_id}").status_code == 403


def test_unknown_project_is_404(server: LocalServer) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert api(server, "GET", f"projects/{unknown}").status_code == 404
    assert api(server, "PATCH", f"projects/{unknown}", {"name": "x"}).status_code == 404
    assert api(server, "DELETE", f"projects/{unknown}").status_code == 404


def test_archived_projects_are_listed_on_request(server: LocalServer) -> None:
    kept = new_project(server, "Current")
    archived = new_project(server, "Old")
    server.admin.archive_project(archived)
    default = [p["id"] for p in api(server, "GET", "projects").json()["projects"]]
    assert default == [kept]
    everything = api(server, "GET", "projects", include_archived="true").json()["projects"]
    assert [p["id"] for p in everything] == [archived, kept]
    assert everything[0]["is_archived"] is True


def test_derived_submission_inherits_project(server: LocalServer) -> None:
    project_id = new_project(server)
    parent = completed(server, "phase1/submit", {"task": PROMPT, "project_id": project_id})
    child = submit(server, "phase2/submit", {"parent_submission_id": parent})
    assert info(server, child)["project_id"] == project_id
    other = new_project(server, "Elsewhere")
    moved = submit(server, "phase2/submit", {"parent_submission_id": parent, "project_id": other})
    assert info(server, moved)["project_id"] == other


# Organising submissions ---------------------------------------------------------------------


def test_nickname_is_set_and_cleared(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    submission_id = submit(server, "phase1/submit", {"task": PROMPT})
    named = api(server, "PATCH", f"{submission_id}/nickname", {"nickname": " Gus "})
    assert named.status_code == 200, named.text
    assert named.json()["nickname"] == "Gus"
    assert info(server, submission_id)["nickname"] == "Gus"
    cleared = api(server, "PATCH", f"{submission_id}/nickname", {"nickname": None})
    assert cleared.json()["nickname"] is None
    too_long = api(server, "PATCH", f"{submission_id}/nickname", {"nickname": "n" * 256})
    assert too_long.status_code == 422
    assert error_field(too_long) == ["body", "nickname"]


def test_pinned_submissions_list_first(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    older = submit(server, "phase1/submit", {"task": "a clay pot"})
    newer = submit(server, "phase1/submit", {"task": "a wooden chair"})
    assert listed_ids(server) == [newer, older]
    pinned = api(server, "PATCH", f"{older}/pin", {"is_pinned": True})
    assert pinned.json()["is_pinned"] is True
    assert listed_ids(server) == [older, newer]


def test_hidden_submissions_leave_the_list(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    shown = submit(server, "phase1/submit", {"task": "a clay pot"})
    hidden = submit(server, "phase1/submit", {"task": "a wooden chair"})
    response = api(server, "PATCH", f"{hidden}/visibility", {"is_visible": False})
    assert response.json()["is_visible"] is False
    assert listed_ids(server) == [shown]
    assert listed_ids(server, include_deleted="true") == [shown]
    assert info(server, hidden)["is_visible"] is False
    api(server, "PATCH", f"{hidden}/visibility", {"is_visible": True})
    assert listed_ids(server) == [hidden, shown]


def test_archive_flag_is_stored(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    submission_id = submit(server, "phase1/submit", {"task": PROMPT})
    response = api(server, "PATCH", f"{submission_id}/archive", {"is_archived": True})
    assert response.json()["is_archived"] is True
    assert info(server, submission_id)["is_archived"] is True
    assert listed_ids(server) == [submission_id]


def test_soft_delete_keeps_the_data(server: LocalServer) -> None:
    submission_id = phase1(server)
    response = api(server, "DELETE", submission_id)
    assert response.status_code == 200, response.text
    assert response.json()["is_deleted"] is True
    assert listed_ids(server) == []
    assert listed_ids(server, include_deleted="true") == [submission_id]
    assert glb_of(server, submission_id).nodes


def test_assign_project_and_unassign(server: LocalServer) -> None:
    project_id = new_project(server)
    server.admin.set_pace(paused=True)
    submission_id = submit(server, "phase1/submit", {"task": PROMPT})
    moved = api(server, "PATCH", f"{submission_id}/project", {"project_id": project_id})
    assert moved.status_code == 200, moved.text
    assert moved.json()["project_id"] == project_id
    assert api(server, "GET", f"projects/{project_id}").json()["submission_count"] == 1
    removed = api(server, "PATCH", f"{submission_id}/project", {"project_id": None})
    assert removed.json()["project_id"] is None


def test_assign_to_another_keys_project_is_403(server: LocalServer) -> None:
    theirs = new_project(server, key=server.other_api_key)
    server.admin.set_pace(paused=True)
    submission_id = submit(server, "phase1/submit", {"task": PROMPT})
    response = api(server, "PATCH", f"{submission_id}/project", {"project_id": theirs})
    assert response.status_code == 403
    assert info(server, submission_id)["project_id"] is None


def test_assign_to_unknown_project_is_422(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    submission_id = submit(server, "phase1/submit", {"task": PROMPT})
    unknown = "00000000-0000-4000-8000-000000000000"
    response = api(server, "PATCH", f"{submission_id}/project", {"project_id": unknown})
    assert response.status_code == 422
    assert error_field(response) == ["body", "project_id"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "/nickname", {"nickname": "x"}),
        ("PATCH", "/archive", {"is_archived": True}),
        ("PATCH", "/visibility", {"is_visible": False}),
        ("PATCH", "/pin", {"is_pinned": True}),
        ("PATCH", "/project", {"project_id": None}),
        ("DELETE", "", None),
    ],
)
def test_organising_checks_ownership(
    server: LocalServer, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    server.admin.set_pace(paused=True)
    theirs = submit(server, "phase1/submit", {"task": PROMPT}, key=server.other_api_key)
    assert api(server, method, f"{theirs}{suffix}", body).status_code == 403
    unknown = "00000000-0000-4000-8000-000000000000"
    assert api(server, method, f"{unknown}{suffix}", body).status_code == 404
    assert (
        requests.request(
            method, f"{server.base_url}/{theirs}{suffix}", json=body, timeout=10
        ).status_code
        == 401
    )


@pytest.mark.parametrize("flag", ["archive", "visibility", "pin"])
def test_flags_need_a_boolean(server: LocalServer, flag: str) -> None:
    server.admin.set_pace(paused=True)
    submission_id = submit(server, "phase1/submit", {"task": PROMPT})
    field = {"archive": "is_archived", "visibility": "is_visible", "pin": "is_pinned"}[flag]
    missing = api(server, "PATCH", f"{submission_id}/{flag}", {})
    assert missing.status_code == 422
    assert error_field(missing) == ["body", field]
    wrong = api(server, "PATCH", f"{submission_id}/{flag}", {field: "yes"})
    assert wrong.status_code == 422


# Conversions --------------------------------------------------------------------------------

CONVERT_FORMATS = ("fbx", "obj", "stl", "usdz")
FBX_MAGIC = b"Kaydara FBX Binary  \x00\x1a\x00"


def queue_conversion(
    server: LocalServer, submission_id: str, fmt: str, force: bool = False
) -> dict[str, Any]:
    response = requests.post(
        f"{server.base_url}/convert",
        json={"submission_id": submission_id, "format": fmt, "force": force},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_conversion(server: LocalServer, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = requests.get(f"{server.base_url}/convert/{job_id}", timeout=10).json()
        if job["status"] in ("ready", "failed"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"conversion {job_id} did not finish")


def total_triangles(gltf: pygltflib.GLTF2) -> int:
    return sum(
        gltf.accessors[primitive.indices].count // 3
        for node in gltf.nodes
        if node.mesh is not None
        for primitive in gltf.meshes[node.mesh].primitives
    )


def test_conversion_job_runs_to_ready(server: LocalServer) -> None:
    submission_id = phase1(server)
    job = queue_conversion(server, submission_id, "obj")
    assert job["status"] == "queued"
    assert job["submission_id"] == submission_id
    assert job["format"] == "obj"
    assert job["error"] is None
    assert job["download_url"] is None
    assert job["status_url"] == f"{server.base_url}/convert/{job['job_id']}"
    ready = wait_conversion(server, job["job_id"])
    assert ready["status"] == "ready"
    assert ready["download_url"] == f"{server.base_url}/convert/{job['job_id']}/download"
    response = requests.get(ready["download_url"], timeout=30)
    assert response.status_code == 200
    assert 'filename="phase1.obj"' in response.headers["content-disposition"]
    assert b"\no Lantern\n" in response.content


def test_conversion_statuses_seen_in_order(server: LocalServer) -> None:
    submission_id = phase1(server)
    server.admin.configure(convert_seconds=0.3)
    job_id = queue_conversion(server, submission_id, "stl")["job_id"]
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not seen or seen[-1] != "ready"):
        status = requests.get(f"{server.base_url}/convert/{job_id}", timeout=10).json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.02)
    assert seen == ["queued", "running", "ready"]


def test_conversion_reuses_ready_job_unless_forced(server: LocalServer) -> None:
    submission_id = phase1(server)
    first = queue_conversion(server, submission_id, "fbx")
    wait_conversion(server, first["job_id"])
    again = queue_conversion(server, submission_id, "fbx")
    assert again["job_id"] == first["job_id"]
    assert again["status"] == "ready"
    forced = queue_conversion(server, submission_id, "fbx", force=True)
    assert forced["job_id"] != first["job_id"]
    assert forced["status"] == "queued"
    other_format = queue_conversion(server, submission_id, "stl")
    assert other_format["job_id"] not in (first["job_id"], forced["job_id"])


def test_conversion_download_is_409_until_ready(server: LocalServer) -> None:
    submission_id = phase1(server)
    server.admin.set_pace(paused=True)
    job_id = queue_conversion(server, submission_id, "usdz")["job_id"]
    early = requests.get(f"{server.base_url}/convert/{job_id}/download", timeout=10)
    assert early.status_code == 409
    assert "queued" in early.json()["detail"]
    server.admin.set_pace(paused=False)
    assert wait_conversion(server, job_id)["status"] == "ready"
    late = requests.get(f"{server.base_url}/convert/{job_id}/download", timeout=30)
    assert late.status_code == 200
    assert late.content.startswith(b"PK")


def test_failed_conversion_is_410(server: LocalServer) -> None:
    submission_id = phase1(server)
    server.admin.fail_conversion("Converter crashed")
    job_id = queue_conversion(server, submission_id, "fbx")["job_id"]
    failed = wait_conversion(server, job_id)
    assert failed["status"] == "failed"
    assert failed["error"] == "Converter crashed"
    assert failed["download_url"] is None
    response = requests.get(f"{server.base_url}/convert/{job_id}/download", timeout=10)
    assert response.status_code == 410
    assert "Converter crashed" in response.json()["detail"]
    retried = queue_conversion(server, submission_id, "fbx")
    assert retried["job_id"] != job_id
    assert wait_conversion(server, retried["job_id"])["status"] == "ready"


def test_conversion_rejects_bad_requests(server: LocalServer) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    url = f"{server.base_url}/convert"
    missing = requests.post(url, json={"submission_id": unknown, "format": "obj"}, timeout=10)
    assert missing.status_code == 404
    wrong_format = requests.post(url, json={"submission_id": unknown, "format": "ply"}, timeout=10)
    assert wrong_format.status_code == 422
    assert error_field(wrong_format) == ["body", "format"]
    server.admin.set_pace(paused=True)
    waiting = submit(server, "phase1/submit", {"task": PROMPT})
    unfinished = requests.post(url, json={"submission_id": waiting, "format": "obj"}, timeout=10)
    assert unfinished.status_code == 409
    assert requests.get(f"{url}/{unknown}", timeout=10).status_code == 404
    assert requests.get(f"{url}/{unknown}/download", timeout=10).status_code == 404


def test_inline_download_converts_each_format(server: LocalServer) -> None:
    submission_id = phase1(server)
    triangles = total_triangles(glb_of(server, submission_id))
    files = {}
    for fmt in CONVERT_FORMATS:
        response = requests.get(
            f"{server.base_url}/{submission_id}/download", params={"format": fmt}, timeout=60
        )
        assert response.status_code == 200, response.text
        assert f'filename="phase1.{fmt}"' in response.headers["content-disposition"]
        files[fmt] = response.content
    assert files["fbx"].startswith(FBX_MAGIC)
    assert files["usdz"].startswith(b"PK")
    obj = trimesh.load(io.BytesIO(files["obj"]), file_type="obj", force="mesh")
    assert len(obj.faces) == triangles
    stl = trimesh.load(io.BytesIO(files["stl"]), file_type="stl")
    assert len(stl.faces) == triangles
    # STL is written Z-up: the gargoyle is taller along Z than it is deep along Y.
    extents = stl.extents
    assert extents[2] > extents[1]


BLENDER_IMPORT_SCRIPT = """
import json, os, sys
import bpy

OPERATORS = {
    "fbx": bpy.ops.import_scene.fbx,
    "obj": bpy.ops.wm.obj_import,
    "stl": bpy.ops.wm.stl_import,
    "usdz": bpy.ops.wm.usd_import,
}
report = {}
for path in sys.argv[1:]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    fmt = path.rsplit(".", 1)[1]
    result = OPERATORS[fmt](filepath=path)
    meshes = [o for o in bpy.data.objects if o.type == "MESH"]
    report[fmt] = {
        "result": sorted(result),
        "polygons": {o.name: len(o.data.polygons) for o in meshes},
        "materials": {o.name: [m.name for m in o.data.materials if m] for o in meshes},
    }
print("REPORT " + json.dumps(report), flush=True)
# Some bpy wheels crash or hang in their exit teardown; the report is already out.
os._exit(0)
"""


def test_blender_imports_every_format(server: LocalServer, tmp_path: Path) -> None:
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("the bpy module is not installed in this Python")
    submission_id = phase1(server, task="a bronze gargoyle with wings and a lantern")
    gltf = glb_of(server, submission_id)
    mesh_nodes = {str(node.name) for node in gltf.nodes if node.mesh is not None}
    triangles = total_triangles(gltf)
    paths = []
    for fmt in CONVERT_FORMATS:
        job = wait_conversion(server, queue_conversion(server, submission_id, fmt)["job_id"])
        data = requests.get(job["download_url"], timeout=60).content
        paths.append(tmp_path / f"model.{fmt}")
        paths[-1].write_bytes(data)
    script = tmp_path / "import_all.py"
    script.write_text(BLENDER_IMPORT_SCRIPT)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender"))
    completed_run = subprocess.run(
        [sys.executable, str(script), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    lines = [line for line in completed_run.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, completed_run.stdout[-2000:] + completed_run.stderr[-2000:]
    report = json.loads(lines[0][len("REPORT ") :])
    for fmt in CONVERT_FORMATS:
        assert report[fmt]["result"] == ["FINISHED"], fmt
        assert sum(report[fmt]["polygons"].values()) == triangles, fmt
    assert set(report["fbx"]["polygons"]) == mesh_nodes
    assert set(report["obj"]["polygons"]) == mesh_nodes
    # USD prim names allow only letters, digits and underscores.
    usd_names = {re.sub(r"\W", "_", name) for name in mesh_nodes}
    assert set(report["usdz"]["polygons"]) == usd_names
    assert len(report["stl"]["polygons"]) == 1
    assert report["fbx"]["materials"]["Lantern"] == ["Iron"]
    assert report["usdz"]["materials"]["Lantern"] == ["Iron"]


# Gallery ------------------------------------------------------------------------------------


def gallery(server: LocalServer, path: str = "", **params: Any) -> requests.Response:
    return requests.get(f"{server.base_url}/gallery{path}", params=params or None, timeout=30)


def test_gallery_lists_a_seeded_tree(server: LocalServer) -> None:
    body = gallery(server).json()
    items = body["items"]
    assert body["count"] == len(items)
    assert len(items) >= 6
    by_id = {item["id"]: item for item in items}
    roots = [item for item in items if item["parent_id"] is None]
    assert len(roots) >= 2
    for item in items:
        assert set(item) >= {"id", "parent_id", "name", "created_at"}
        assert item["created_at"].endswith("Z")
        if item["parent_id"] is not None:
            assert item["parent_id"] in by_id
    grandchildren = [
        item
        for item in items
        if item["parent_id"] is not None and by_id[item["parent_id"]]["parent_id"] is not None
    ]
    assert grandchildren
    limited = gallery(server, limit=2).json()
    assert limited["count"] == 2
    assert [item["id"] for item in limited["items"]] == [item["id"] for item in items[:2]]


def test_gallery_ids_are_stable_across_resets(server: LocalServer) -> None:
    before = [item["id"] for item in gallery(server).json()["items"]]
    server.admin.reset()
    assert [item["id"] for item in gallery(server).json()["items"]] == before


def test_gallery_item_embeds_children(server: LocalServer) -> None:
    items = gallery(server).json()["items"]
    root = next(item for item in items if item["parent_id"] is None)
    body = gallery(server, f"/{root['id']}").json()
    assert body["id"] == root["id"]
    assert body["name"] == root["name"]
    expected = [item["id"] for item in items if item["parent_id"] == root["id"]]
    assert [child["id"] for child in body["children"]] == expected
    assert expected


def test_gallery_subtree_is_flat_and_complete(server: LocalServer) -> None:
    items = gallery(server).json()["items"]
    root = next(item for item in items if item["parent_id"] is None)
    subtree = gallery(server, f"/{root['id']}/subtree").json()["items"]
    ids = {item["id"] for item in subtree}
    assert subtree[0]["id"] == root["id"]
    expected = {root["id"]}
    for item in items:  # Parents come before their children in the list.
        if item["parent_id"] in expected:
            expected.add(item["id"])
    assert ids == expected
    assert len(expected) >= 3


def test_gallery_subtree_stops_at_ten_levels(server: LocalServer) -> None:
    parent = None
    chain = []
    for depth in range(13):
        added = server.admin.add_gallery_item(f"Level {depth}", "a clay pot", parent)
        chain.append(added["id"])
        parent = added["id"]
    subtree = gallery(server, f"/{chain[0]}/subtree").json()["items"]
    assert [item["id"] for item in subtree] == chain[:11]
    server.admin.reset()
    assert gallery(server, f"/{chain[0]}").status_code == 404


def test_unknown_gallery_item_is_404(server: LocalServer) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert gallery(server, f"/{unknown}").status_code == 404
    assert gallery(server, f"/{unknown}/subtree").status_code == 404
    assert gallery(server, f"/{unknown}/download").status_code == 404


def test_gallery_download_serves_item_files(server: LocalServer) -> None:
    item = gallery(server).json()["items"][0]
    response = gallery(server, f"/{item['id']}/download")
    assert response.status_code == 200
    assert 'filename="model.glb"' in response.headers["content-disposition"]
    model = pygltflib.GLTF2.load_from_bytes(response.content)
    assert total_triangles(model) > 0
    for fmt, magic in (("thumbnail", b"\x89PNG"), ("fbx", FBX_MAGIC), ("usdz", b"PK")):
        converted = gallery(server, f"/{item['id']}/download", format=fmt)
        assert converted.status_code == 200, converted.text
        assert converted.content.startswith(magic), fmt
    script = gallery(server, f"/{item['id']}/download", format="py")
    assert "import bpy" in script.text
    assert 'filename="model.py"' in script.headers["content-disposition"]


def test_gallery_download_falls_back_to_submissions(server: LocalServer) -> None:
    submission_id = phase1(server)
    response = gallery(server, f"/{submission_id}/download", format="stl")
    assert response.status_code == 200, response.text
    assert 'filename="phase1.stl"' in response.headers["content-disposition"]
    glb = gallery(server, f"/{submission_id}/download")
    assert glb.content.startswith(b"glTF")
    server.admin.set_pace(paused=True)
    waiting = submit(server, "phase1/submit", {"task": PROMPT})
    assert gallery(server, f"/{waiting}/download").status_code == 409


# Rate limits --------------------------------------------------------------------------------

SUBMIT_PATHS = (
    "phase1/submit",
    "phase2/submit",
    "phase3/submit",
    "phase5/submit",
    "detailer/submit",
    "detailer/remesh",
    "detailer/retexture",
)


def retry_after(response: requests.Response) -> int:
    assert response.status_code == 429, response.text
    return int(response.headers["Retry-After"])


def test_limits_are_off_by_default(server: LocalServer) -> None:
    assert server.admin.configure()["rate_limits"] is False
    server.admin.set_pace(paused=True)
    for _ in range(5):
        submit(server, "phase1/submit", {"task": PROMPT})
    assert server.admin.usage()["test"]["active"] == 5


def test_active_limit_is_per_key(server: LocalServer) -> None:
    server.admin.configure(rate_limits=True, paused=True)
    first = [submit(server, "phase1/submit", {"task": PROMPT}) for _ in range(3)]
    response = post(server, "phase1/submit", {"task": PROMPT})
    assert retry_after(response) >= 1
    assert "3 of 3 active submissions" in response.json()["detail"]
    submit(server, "phase1/submit", {"task": PROMPT}, key=server.other_api_key)
    assert server.admin.usage()["test"] == {"active": 3, "last_hour": 3, "last_day": 3}
    server.admin.set_pace(paused=False)
    for submission_id in first:
        wait_done(server, submission_id)
    submit(server, "phase1/submit", {"task": PROMPT})


def test_hourly_limit_rolls_over(server: LocalServer) -> None:
    server.admin.configure(rate_limits=True, max_active=100, per_hour=2)
    submit(server, "phase1/submit", {"task": PROMPT})
    server.admin.age_usage(600)
    submit(server, "phase1/submit", {"task": PROMPT})
    response = post(server, "phase1/submit", {"task": PROMPT})
    # The older submission leaves the rolling hour first, 600 s from now.
    assert 2990 <= retry_after(response) <= 3000
    assert "2 of 2 submissions in the last hour" in response.json()["detail"]
    server.admin.age_usage(3000)
    submit(server, "phase1/submit", {"task": PROMPT})


def test_daily_limit_outlasts_the_hour(server: LocalServer) -> None:
    server.admin.configure(rate_limits=True, max_active=100, per_hour=100, per_day=2)
    submit(server, "phase1/submit", {"task": PROMPT})
    submit(server, "phase1/submit", {"task": PROMPT})
    assert retry_after(post(server, "phase1/submit", {"task": PROMPT})) > 86_000
    server.admin.age_usage(2 * 3600)
    response = post(server, "phase1/submit", {"task": PROMPT})
    assert 78_000 < retry_after(response) < 79_300
    assert "in the last 24 hours" in response.json()["detail"]
    server.admin.age_usage(22 * 3600)
    submit(server, "phase1/submit", {"task": PROMPT})


@pytest.mark.parametrize("path", SUBMIT_PATHS)
def test_every_submit_call_is_limited(server: LocalServer, path: str) -> None:
    server.admin.configure(rate_limits=True, max_active=0)
    if path == "phase5/submit":
        response = requests.post(
            f"{server.base_url}/{path}",
            headers=server.auth_headers(),
            files={"glb_file": ("m.glb", b"glTF", "model/gltf-binary")},
            timeout=10,
        )
    else:
        response = post(server, path, {"parent_submission_id": "unused", "task": PROMPT})
    assert retry_after(response) >= 1
    unauthenticated = requests.post(f"{server.base_url}/{path}", json={}, timeout=10)
    assert unauthenticated.status_code == 401


def test_only_accepted_submits_count(server: LocalServer) -> None:
    server.admin.configure(rate_limits=True, max_active=100, per_hour=1)
    rejected = post(server, "phase1/submit", {})
    assert rejected.status_code == 422
    assert server.admin.usage()["test"]["last_hour"] == 0
    submission_id = phase1(server)
    for _ in range(3):
        assert info(server, submission_id)["status"] == "completed"
        listed_ids(server)
        queue_conversion(server, submission_id, "obj")
    assert server.admin.usage()["test"]["last_hour"] == 1
    assert post(server, "phase1/submit", {"task": PROMPT}).status_code == 429


def test_reset_turns_limits_off_again(server: LocalServer) -> None:
    server.admin.configure(rate_limits=True, max_active=0)
    assert post(server, "phase1/submit", {"task": PROMPT}).status_code == 429
    server.admin.reset()
    assert post(server, "phase1/submit", {"task": PROMPT}).status_code == 200


def test_limits_set_on_the_command_line() -> None:
    options = ("--max-active", "1", "--per-hour", "7", "--per-day", "9")
    with running_server(rate_limits=True, extra_args=options) as limited:
        settings = limited.admin.configure()
        assert settings["rate_limits"] is True
        assert settings["max_active"] == 1
        assert settings["per_hour"] == 7
        assert settings["per_day"] == 9
        limited.admin.set_pace(paused=True)
        submit(limited, "phase1/submit", {"task": PROMPT})
        assert retry_after(post(limited, "phase1/submit", {"task": PROMPT})) >= 1
