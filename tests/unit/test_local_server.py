"""The local Thrixel server's core: auth, phase 1 validation, life cycle, stream, downloads."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pygltflib
import pytest
import requests

from server_fixture import LocalServer, module_server_fixtures

pytestmark = pytest.mark.server

PROMPT = "a small stone gargoyle holding a lantern"
TINY_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


server, clean_state = module_server_fixtures()


def submit(server: LocalServer, body: dict[str, Any], key: str | None = None) -> requests.Response:
    return requests.post(
        f"{server.base_url}/phase1/submit", json=body, headers=server.auth_headers(key), timeout=10
    )


def wait_for_status(
    server: LocalServer, submission_id: str, wanted: set[str], timeout: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = requests.get(f"{server.base_url}/{submission_id}/info", timeout=10).json()
        if info["status"] in wanted:
            return dict(info)
        time.sleep(0.05)
    raise AssertionError(f"submission {submission_id} never reached {wanted}")


def completed_submission(server: LocalServer, prompt: str = PROMPT) -> str:
    response = submit(server, {"task": prompt})
    assert response.status_code == 200, response.text
    submission_id = str(response.json()["submission_id"])
    wait_for_status(server, submission_id, {"completed"})
    return submission_id


def read_events(response: requests.Response) -> list[dict[str, Any]]:
    events = []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            events.append(json.loads(line[len("data: ") :]))
    return events


def download(server: LocalServer, submission_id: str, fmt: str, **params: Any) -> requests.Response:
    return requests.get(
        f"{server.base_url}/{submission_id}/download", params={"format": fmt, **params}, timeout=30
    )


# Auth -------------------------------------------------------------------------------------------


def test_submit_without_key_is_401(server: LocalServer) -> None:
    response = requests.post(f"{server.base_url}/phase1/submit", json={"task": PROMPT}, timeout=10)
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]


def test_submit_with_unknown_key_is_401(server: LocalServer) -> None:
    response = submit(server, {"task": PROMPT}, key="sk-thrixel-not-a-key")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid API key."


def test_submit_with_other_test_key_is_accepted(server: LocalServer) -> None:
    response = submit(server, {"task": PROMPT}, key=server.other_api_key)
    assert response.status_code == 200


# Phase 1 validation -----------------------------------------------------------------------------

INVALID_BODIES = [
    ({}, "task"),
    ({"task": "   "}, "task"),
    ({"task": 5}, "task"),
    (
        {
            "image": f"data:image/png;base64,{TINY_PNG}",
            "images": [f"data:image/png;base64,{TINY_PNG}"],
        },
        "images",
    ),
    ({"images": [f"data:image/png;base64,{TINY_PNG}"] * 7}, "images"),
    ({"image": "data:image/png;base64,not*base64"}, "image"),
    ({"image": "data:image/gif;base64,R0lGOD"}, "image"),
    ({"image": "http://example.invalid/cat.png"}, "image"),
    ({"image": f"data:image/jpeg;base64,{TINY_PNG}"}, "image"),
    ({"task": PROMPT, "adaptive_thinking": "yes"}, "adaptive_thinking"),
    ({"task": PROMPT, "project_id": "00000000-0000-4000-8000-000000000000"}, "project_id"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_phase1_invalid_body_names_field(
    server: LocalServer, body: dict[str, Any], field: str
) -> None:
    response = submit(server, body)
    assert response.status_code == 422, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", field] in [loc[:2] for loc in locations]
    assert all(error["msg"] for error in response.json()["detail"])


def test_phase1_accepts_six_images(server: LocalServer) -> None:
    images = [f"data:image/png;base64,{TINY_PNG}"] * 5 + ["https://example.invalid/a.png"]
    response = submit(server, {"images": images})
    assert response.status_code == 200, response.text
    info = requests.get(
        f"{server.base_url}/{response.json()['submission_id']}/info", timeout=10
    ).json()
    assert info["input"]["type"] == "images"
    assert len(info["input"]["images"]) == 6
    assert info["input"]["images"][5] == "https://example.invalid/a.png"


# Life cycle, info and stream --------------------------------------------------------------------


def test_submission_runs_to_completed(server: LocalServer) -> None:
    response = submit(server, {"task": PROMPT, "adaptive_thinking": True, "model": "thrixel-x"})
    body = response.json()
    assert body["status"] == "queued"
    assert body["created_at"].endswith("Z")
    info = wait_for_status(server, body["submission_id"], {"completed"})
    assert info["phase"] == 1
    assert info["model"] == "thrixel-x"
    assert info["adaptive_thinking"] is True
    assert info["input"] == {
        "type": "text",
        "task": PROMPT,
        "image": None,
        "images": None,
        "modification_request": None,
    }
    assert info["completed_at"].endswith("Z")
    assert "error" not in info


def test_unknown_submission_info_is_404(server: LocalServer) -> None:
    response = requests.get(
        f"{server.base_url}/00000000-0000-4000-8000-000000000000/info", timeout=10
    )
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_stream_reports_progress_then_completed(server: LocalServer) -> None:
    submission_id = submit(server, {"task": PROMPT}).json()["submission_id"]
    with requests.get(
        f"{server.base_url}/{submission_id}/stream", stream=True, timeout=15
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)
    percents = [e["percent"] for e in events if e["type"] == "progress"]
    statuses = [e["status"] for e in events if e["type"] == "status"]
    assert percents == sorted(percents)
    assert all(0.0 <= p <= 1.0 for p in percents)
    assert len(percents) >= 3
    assert "processing" in statuses
    assert events[-1] == {"type": "status", "status": "completed"}


def test_stream_sends_keepalive_comments(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    server.admin.configure(keepalive_seconds=0.2)
    submission_id = submit(server, {"task": PROMPT}).json()["submission_id"]
    comments = 0
    with requests.get(
        f"{server.base_url}/{submission_id}/stream", stream=True, timeout=15
    ) as response:
        lines = response.iter_lines(decode_unicode=True)
        while comments < 2:
            if next(lines) == ": keep-alive":
                comments += 1
        server.admin.set_pace(paused=False)
        rest = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert comments == 2
    assert rest[-1]["status"] == "completed"


def test_failed_submission_reports_error(server: LocalServer) -> None:
    server.admin.fail(error="GPU ran out of memory", after_steps=1)
    submission_id = submit(server, {"task": PROMPT}).json()["submission_id"]
    with requests.get(
        f"{server.base_url}/{submission_id}/stream", stream=True, timeout=15
    ) as response:
        events = read_events(response)
    assert events[-1] == {"type": "status", "status": "failed", "error": "GPU ran out of memory"}
    info = requests.get(f"{server.base_url}/{submission_id}/info", timeout=10).json()
    assert info["status"] == "failed"
    assert info["error"] == "GPU ran out of memory"
    assert download(server, submission_id, "glb").status_code == 410


def test_admin_fails_running_submission(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    submission_id = submit(server, {"task": PROMPT}).json()["submission_id"]
    server.admin.fail(submission_id, error="Cancelled by operator")
    server.admin.set_pace(paused=False)
    info = wait_for_status(server, submission_id, {"failed", "completed"})
    assert info["status"] == "failed"
    assert info["error"] == "Cancelled by operator"


# Downloads --------------------------------------------------------------------------------------


def test_download_before_completion_is_409(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    submission_id = submit(server, {"task": PROMPT}).json()["submission_id"]
    response = download(server, submission_id, "glb")
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


def test_glb_has_named_parts(server: LocalServer) -> None:
    submission_id = completed_submission(server)
    response = download(server, submission_id, "glb")
    assert response.status_code == 200
    assert response.content[:4] == b"glTF"
    assert int(response.headers["content-length"]) == len(response.content)
    gltf = pygltflib.GLTF2.load_from_bytes(response.content)
    names = [node.name for node in gltf.nodes]
    assert {"Body", "Head", "Lantern", "Lantern Glass.001"} <= set(names)
    assert {m.name for m in gltf.materials} >= {"Stone", "Glass"}
    assert len(gltf.meshes) == 4


def test_same_prompt_gives_same_glb(server: LocalServer) -> None:
    first = download(server, completed_submission(server), "glb").content
    second = download(server, completed_submission(server), "glb").content
    other = download(server, completed_submission(server, "a red robot with wings"), "glb")
    assert first == second
    assert other.content != first
    names = {node.name for node in pygltflib.GLTF2.load_from_bytes(other.content).nodes}
    assert {"Wing.L", "Wing.R", "Antenna"} <= names


def test_thumbnail_is_png(server: LocalServer) -> None:
    response = download(server, completed_submission(server), "thumbnail")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert int(response.headers["content-length"]) == len(response.content)


def test_python_script_names_every_node(server: LocalServer) -> None:
    response = download(server, completed_submission(server), "py")
    assert response.status_code == 200
    script = response.text
    compile(script, "phase1.py", "exec")
    assert "import bpy" in script
    for name in ("Gargoyle", "Body", "Head", "Lantern", "Lantern Glass.001"):
        assert f"'{name}'" in script


def test_reference_image_is_uploaded_image(server: LocalServer) -> None:
    response = submit(server, {"image": f"data:image/png;base64,{TINY_PNG}"})
    submission_id = response.json()["submission_id"]
    wait_for_status(server, submission_id, {"completed"})
    image = download(server, submission_id, "reference_image", index=0)
    assert image.content == base64.b64decode(TINY_PNG)
    assert download(server, submission_id, "reference_image", index=1).status_code == 404
    assert download(server, submission_id, "reference_image", index=6).status_code == 422


def test_unknown_format_is_422(server: LocalServer) -> None:
    response = download(server, completed_submission(server), "gif")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "format"]


# Request log ------------------------------------------------------------------------------------


def test_request_log_records_body_and_hides_key(server: LocalServer) -> None:
    submit(server, {"task": PROMPT, "adaptive_thinking": True})
    requests.get(f"{server.base_url}/00000000-0000-4000-8000-000000000000/info", timeout=10)
    submits = server.admin.requests_log("phase1_submit")
    infos = server.admin.requests_log("info")
    assert len(submits) == 1
    assert submits[0]["body"] == {"task": PROMPT, "adaptive_thinking": True}
    assert submits[0]["authorization_present"] is True
    assert submits[0]["auth_owner"] == "test"
    assert submits[0]["headers"]["authorization"] == "<redacted>"
    assert server.api_key not in json.dumps(submits)
    assert submits[0]["status"] == 200
    assert infos[0]["authorization_present"] is False
    assert infos[0]["status"] == 404


def test_reset_forgets_submissions(server: LocalServer) -> None:
    submission_id = completed_submission(server)
    server.admin.reset()
    response = requests.get(f"{server.base_url}/{submission_id}/info", timeout=10)
    assert response.status_code == 404
    assert [entry["route"] for entry in server.admin.requests_log()] == ["info"]
