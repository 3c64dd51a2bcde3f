"""Retry of a failed Generate sends the whole first request again, reference images included."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import bpy
import requests
from conftest import Addon, only_job, pump_until

from server_fixture import LocalServer

PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
)


def create_project(server: LocalServer, name: str) -> str:
    response = requests.post(
        f"{server.base_url}/projects",
        json={"name": name},
        headers=server.auth_headers(),
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def saved_request_path(addon: Addon, record_id: str) -> Path:
    return addon.module("detail_jobs").request_file(record_id)


def test_retry_sends_first_request(configured: Addon, server: LocalServer, tmp_path: Path) -> None:
    image_path = tmp_path / "reference.png"
    image_path.write_bytes(PNG_1X1)
    project_id = create_project(server, "Teapots")
    settings = bpy.context.scene.thrixel
    settings.prompt = "a clay teapot"
    settings.model_override = "large-model"
    settings.adaptive_thinking = True
    settings.library.default_project_id = project_id
    assert bpy.ops.thrixel.add_image_input(source='FILE', filepath=str(image_path)) == {'FINISHED'}

    server.admin.add_fault("phase1_submit", "status", status=400)
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: only_job().status == "failed", what="the job to fail")
    failed_id = only_job().job_id
    # The faulted request reaches no route, so the server logs no body. The saved request is
    # written from the same request object that was sent.
    first = json.loads(saved_request_path(configured, failed_id).read_text())["body"]
    assert first["image"].startswith("data:image/png;base64,")

    # The form changes before Retry; Retry still sends what was sent the first time.
    settings.prompt = "something else"
    settings.model_override = ""
    settings.adaptive_thinking = False
    settings.library.default_project_id = ""
    settings.library.image_inputs.clear()
    assert bpy.ops.thrixel.retry_job(job_id=failed_id) == {'FINISHED'}
    pump_until(configured, lambda: only_job().imported, what="the retried import")

    retried = server.admin.requests_log("phase1_submit")[-1]["body"]
    assert retried == first
    assert retried["task"] == "a clay teapot"
    assert base64.b64decode(retried["image"].split(",", 1)[1]) == PNG_1X1
    assert retried["model"] == "large-model"
    assert retried["adaptive_thinking"] is True
    assert retried["project_id"] == project_id
    # Image data never goes on the scene, and the saved request goes once the model is placed.
    assert not any("base64" in record.message for record in settings.jobs)
    assert not saved_request_path(configured, failed_id).exists()
    assert not saved_request_path(configured, only_job().job_id).exists()


def test_removed_job_forgets_request(configured: Addon, server: LocalServer) -> None:
    server.admin.add_fault("phase1_submit", "status", status=400)
    bpy.context.scene.thrixel.prompt = "a clay teapot"
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: only_job().status == "failed", what="the job to fail")
    record_id = only_job().job_id
    assert saved_request_path(configured, record_id).is_file()

    assert bpy.ops.thrixel.remove_job(job_id=record_id) == {'FINISHED'}
    assert not saved_request_path(configured, record_id).exists()


def test_retry_without_saved_request(configured: Addon, server: LocalServer) -> None:
    server.admin.add_fault("phase1_submit", "status", status=400)
    bpy.context.scene.thrixel.prompt = "a clay teapot"
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: only_job().status == "failed", what="the job to fail")
    # A job from an older file has no saved request: Retry sends its prompt again.
    saved_request_path(configured, only_job().job_id).unlink()
    assert bpy.ops.thrixel.retry_job(job_id=only_job().job_id) == {'FINISHED'}
    pump_until(configured, lambda: only_job().imported, what="the retried import")
    assert server.admin.requests_log("phase1_submit")[-1]["body"]["task"] == "a clay teapot"
