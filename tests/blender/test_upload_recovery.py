"""A detail job's upload that reaches the service while the job is cancelled, or while its file
is saved and reopened, is used by Retry instead of being sent again, even when its id never
reached the job record."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import bpy
import pytest
import requests
from conftest import Addon, pump_until
from selection_scene import bodies, newest_job, run_job, select

from server_fixture import LocalServer

SLOW_UPLOAD_SECONDS = 1.5


@pytest.fixture
def detail_ready(configured: Addon, server: LocalServer) -> Addon:
    server.admin.configure(rate_limits=False)
    server.admin.clear_requests()
    return configured


def uploads(server: LocalServer) -> list[dict[str, Any]]:
    return [
        entry for entry in server.admin.requests_log("phase5_submit") if entry["method"] == "POST"
    ]


def wait_for_upload_answer(server: LocalServer) -> None:
    """Wait until the service has responded to the upload (the add-on may not have seen it)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(entry["status"] == 200 for entry in uploads(server)):
            return
        time.sleep(0.05)
    raise AssertionError("the upload never reached the service")


def upload_count(server: LocalServer) -> int:
    """Return how many uploads (phase 5 submissions) the service holds."""
    response = requests.get(
        f"{server.base_url}/submissions",
        params={"phase": 5},
        headers=server.auth_headers(),
        timeout=10,
    )
    response.raise_for_status()
    return len(response.json()["submissions"])


def start_slow_upload(addon: Addon, server: LocalServer) -> Any:
    """Start Detail on a new cube whose upload the service stores at once but responds late.

    Returns the record once the service has stored the upload and the add-on still waits for the
    response."""
    bpy.ops.mesh.primitive_cube_add(location=(1.0, 2.0, 3.0))
    cube = bpy.context.active_object
    cube.name = "Slow Upload Cube"
    select([cube])
    server.admin.add_fault("phase5_submit", "slow_response", seconds=SLOW_UPLOAD_SECONDS)
    assert bpy.ops.thrixel.detail_selected() == {'FINISHED'}
    record = newest_job()
    pump_until(addon, lambda: upload_count(server) == 1, what="the upload to reach the service")
    assert not record.upload_submission_id, "the upload was answered too soon for this test"
    return record


def saved_request(addon: Addon, record_id: str) -> dict[str, Any]:
    path = addon.module("detail_jobs").request_file(record_id)
    return dict(json.loads(path.read_text(encoding="utf-8")))


def uploaded_id(server: LocalServer) -> str:
    """Return the id of the one upload (phase 5 submission) the service holds."""
    response = requests.get(
        f"{server.base_url}/submissions",
        params={"phase": 5},
        headers=server.auth_headers(),
        timeout=10,
    )
    response.raise_for_status()
    (row,) = response.json()["submissions"]
    return str(row["submission_id"])


def finish_retry(addon: Addon, record_id: str) -> Any:
    assert bpy.ops.thrixel.retry_job(job_id=record_id) == {'FINISHED'}
    return run_job(addon, bpy.context.scene.thrixel.find_job(record_id))


def test_retry_after_cancel_uses_upload(detail_ready: Addon, server: LocalServer) -> None:
    record = start_slow_upload(detail_ready, server)
    record_id = record.job_id
    export = Path(saved_request(detail_ready, record_id)["upload"]["path"])

    assert bpy.ops.thrixel.cancel_job(job_id=record_id) == {'FINISHED'}
    wait_for_upload_answer(server)
    pump_until(
        detail_ready,
        lambda: saved_request(detail_ready, record_id)["body"].get("parent_submission_id"),
        what="the upload id in the saved request",
    )

    assert bpy.context.scene.thrixel.find_job(record_id).status == "cancelled"
    assert export.is_file(), "the export was deleted before Retry could use it"
    upload_id = saved_request(detail_ready, record_id)["body"]["parent_submission_id"]

    record = finish_retry(detail_ready, record_id)

    assert record.imported, record.message
    assert len(uploads(server)) == 1
    assert [body["parent_submission_id"] for body in bodies(server, "detailer_submit")] == [
        upload_id
    ]
    assert record.upload_submission_id == upload_id
    assert not export.exists(), "the export outlived the placed result"


def test_retry_during_cancelled_upload_waits(detail_ready: Addon, server: LocalServer) -> None:
    # Retry right after Cancel: the cancelled attempt is still sending the file.
    record = start_slow_upload(detail_ready, server)
    record_id = record.job_id
    assert bpy.ops.thrixel.cancel_job(job_id=record_id) == {'FINISHED'}
    pump_until(
        detail_ready,
        lambda: bpy.context.scene.thrixel.find_job(record_id).status == "cancelled",
        what="the cancel",
    )
    assert not any(entry["status"] == 200 for entry in uploads(server)), "upload ended too soon"

    record = finish_retry(detail_ready, record_id)

    assert record.imported, record.message
    assert len(uploads(server)) == 1
    assert [body["parent_submission_id"] for body in bodies(server, "detailer_submit")] == [
        uploaded_id(server)
    ]


def cancel_and_forget_upload_id(addon: Addon, server: LocalServer, record_id: str) -> dict:
    """Cancel during the upload, let it reach the service, then restore the saved request as
    it was before the upload, as if Blender had closed before the response arrived.

    Returns the saved request."""
    request_path = addon.module("detail_jobs").request_file(record_id)
    before_upload = request_path.read_text(encoding="utf-8")
    assert bpy.ops.thrixel.cancel_job(job_id=record_id) == {'FINISHED'}
    wait_for_upload_answer(server)
    pump_until(
        addon,
        lambda: request_path.read_text(encoding="utf-8") != before_upload,
        what="the cancelled attempt to finish",
    )
    request_path.write_text(before_upload, encoding="utf-8")
    return dict(json.loads(before_upload))


def test_retry_adopts_upload_without_id(detail_ready: Addon, server: LocalServer) -> None:
    # Blender closed before the upload's response arrived: neither the record nor the saved
    # request contains the id, and the export is gone too. Retry finds the upload on the service.
    record_id = start_slow_upload(detail_ready, server).job_id
    saved = cancel_and_forget_upload_id(detail_ready, server, record_id)
    Path(saved["upload"]["path"]).unlink()
    upload_id = uploaded_id(server)

    record = finish_retry(detail_ready, record_id)

    assert record.imported, record.message
    assert len(uploads(server)) == 1
    assert [body["parent_submission_id"] for body in bodies(server, "detailer_submit")] == [
        upload_id
    ]


def test_retry_without_upload_or_export_fails_clearly(
    detail_ready: Addon, server: LocalServer
) -> None:
    record_id = start_slow_upload(detail_ready, server).job_id
    other = cancel_and_forget_upload_id(detail_ready, server, record_id)
    request_path = detail_ready.module("detail_jobs").request_file(record_id)
    # A different export that the service never received.
    Path(other["upload"]["path"]).unlink()
    other["upload"]["path"] = str(Path(other["upload"]["path"]).with_name("never-sent.glb"))
    other["upload"]["task"] = "Blender selection: Something Else"
    request_path.write_text(json.dumps(other), encoding="utf-8")

    record = finish_retry(detail_ready, record_id)

    assert record.status == "failed"
    assert record.message == (
        "The exported selection of this job is no longer on disk, and the service has no "
        "upload of it, so it cannot be sent again. Select the objects and send them again "
        "from the Selected panel."
    )
    assert len(uploads(server)) == 1
    assert bodies(server, "detailer_submit") == []


def test_reopen_during_upload_does_not_upload_twice(
    detail_ready: Addon, server: LocalServer, tmp_path: Path
) -> None:
    record = start_slow_upload(detail_ready, server)
    record_id = record.job_id
    saved = tmp_path / "mid-upload.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    bpy.ops.wm.open_mainfile(filepath=str(saved))
    wait_for_upload_answer(server)

    def settled() -> bool:
        found = bpy.context.scene.thrixel.find_job(record_id)
        return found is not None and (found.imported or found.status in ("failed", "cancelled"))

    pump_until(detail_ready, settled, what="the reopened job to settle")
    record = bpy.context.scene.thrixel.find_job(record_id)
    if not record.imported:
        record = finish_retry(detail_ready, record_id)

    assert record.imported, record.message
    assert len(uploads(server)) == 1
    assert [body["parent_submission_id"] for body in bodies(server, "detailer_submit")] == [
        uploaded_id(server)
    ]


def test_small_upload_progress_reads_kilobytes(detail_ready: Addon, server: LocalServer) -> None:
    record = start_slow_upload(detail_ready, server)
    record_id = record.job_id
    seen: list[str] = []

    def imported() -> bool:
        found = bpy.context.scene.thrixel.find_job(record_id)
        seen.append(found.message)
        return bool(found.imported) or found.status == "failed"

    pump_until(detail_ready, imported, what="the detail job")
    progress = [message for message in seen if message.startswith("Uploading the selection")]
    total = uploads(server)[0]["body_bytes"]

    assert progress, f"no upload progress among {sorted(set(seen))}"
    assert total < 1024**2, "the cube's upload is expected to be under 1 MB"
    assert all(message.endswith(" KB") and " KB of " in message for message in progress), progress
    assert "0.0 MB" not in " ".join(seen)
