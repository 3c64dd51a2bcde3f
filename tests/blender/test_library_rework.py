"""Refine and modify imported models, reference images for Generate, projects, and the
service's limits: the local hold at the active-job limit and 429 responses turned into waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bpy
import pytest
from conftest import Addon
from library_support import cache, created, info, pump_until, refresh, reset_library

from server_fixture import LocalServer


@pytest.fixture
def library(configured: Addon) -> Iterator[Addon]:
    reset_library(configured)
    yield configured
    reset_library(configured)


def jobs() -> list:
    return list(bpy.context.scene.thrixel.jobs)


def job_of(kind: str):
    found = [record for record in jobs() if record.kind == kind]
    assert len(found) == 1, f"expected one {kind} job, found {len(found)}"
    return found[0]


def settled(record) -> bool:
    return record.imported or record.status in ("failed", "cancelled")


def import_parent(addon: Addon, server: LocalServer, prompt: str) -> tuple[str, list]:
    """Import a completed submission through the browser; returns its id and objects."""
    submission_id = created(server, prompt)
    refresh(addon)
    assert bpy.ops.thrixel.import_submission(submission_id=submission_id) == {'FINISHED'}
    pump_until(addon, lambda: settled(job_of("submission_import")), what="the parent import")
    objects = [o for o in bpy.data.objects if o.get("thrixel_submission_id") == submission_id]
    assert objects
    return submission_id, objects


def world_min_x(objects: list) -> float:
    from mathutils import Vector

    bpy.context.view_layer.update()
    return min(
        (obj.matrix_world @ Vector(corner)).x
        for obj in objects
        if obj.type == 'MESH'
        for corner in obj.bound_box
    )


def world_max_x(objects: list) -> float:
    from mathutils import Vector

    bpy.context.view_layer.update()
    return max(
        (obj.matrix_world @ Vector(corner)).x
        for obj in objects
        if obj.type == 'MESH'
        for corner in obj.bound_box
    )


def test_refine_active_object_places_result_beside(library: Addon, server: LocalServer) -> None:
    parent_id, parent_objects = import_parent(library, server, "a clockwork owl")
    bpy.context.view_layer.objects.active = parent_objects[0]

    assert bpy.ops.thrixel.refine_model() == {'FINISHED'}
    record = job_of("refine")
    pump_until(library, lambda: settled(record), what="the refined model")
    assert record.status == "completed", record.message
    assert record.phase == 2
    assert record.parent_submission_id == parent_id
    assert "beside its parent" in record.message
    assert server.admin.requests_log("phase2_submit")[-1]["body"] == {
        "parent_submission_id": parent_id,
        "adaptive_thinking": False,
    }
    result = [o for o in bpy.data.objects if o.get("thrixel_submission_id") == record.submission_id]
    assert result and all(o["thrixel_phase"] == 2 for o in result)
    assert world_min_x(result) > world_max_x(parent_objects), "the result overlaps its parent"


def test_modify_sends_request_from_browser(library: Addon, server: LocalServer) -> None:
    parent_id = created(server, "a wooden sword")
    refresh(library)
    bpy.context.window_manager.thrixel.selected_submission = parent_id
    bpy.context.scene.thrixel.library.modification_request = "make the blade glow blue"

    assert bpy.ops.thrixel.modify_model(submission_id=parent_id) == {'FINISHED'}
    record = job_of("modify")
    pump_until(library, lambda: settled(record), what="the modified model")
    assert record.status == "completed", record.message
    body = server.admin.requests_log("phase3_submit")[-1]["body"]
    assert body["modification_request"] == "make the blade glow blue"
    assert body["parent_submission_id"] == parent_id
    # The parent is not in the scene, so the result lands at the 3D cursor, as the message says.
    assert "3D cursor" in record.message


def test_modify_rejects_empty_change(library: Addon, server: LocalServer) -> None:
    parent_id = created(server, "a cardboard box")
    refresh(library)
    bpy.context.window_manager.thrixel.selected_submission = parent_id
    bpy.context.scene.thrixel.library.modification_request = "   "
    with pytest.raises(RuntimeError, match="change is empty"):
        bpy.ops.thrixel.modify_model(submission_id=parent_id)
    assert jobs() == []
    assert server.admin.requests_log("phase3_submit") == []


def test_refine_rejects_phase_three_parent(library: Addon, server: LocalServer) -> None:
    parent_id = created(server, "a straw hat")
    refresh(library)
    bpy.context.window_manager.thrixel.selected_submission = parent_id
    cache(library).update_submission(parent_id, phase=3)
    with pytest.raises(RuntimeError, match="Refine works on phase 1 and 2"):
        bpy.ops.thrixel.refine_model(submission_id=parent_id)
    assert server.admin.requests_log("phase2_submit") == []


def test_refine_poll_explains_missing_parent(library: Addon) -> None:
    assert not bpy.ops.thrixel.refine_model.poll()
    with pytest.raises(RuntimeError, match="Select an object imported from Thrixel"):
        bpy.ops.thrixel.refine_model()


def test_failed_refine_retries_as_refine(library: Addon, server: LocalServer) -> None:
    parent_id = created(server, "a glass orb")
    refresh(library)
    bpy.context.window_manager.thrixel.selected_submission = parent_id
    server.admin.fail(error="critique failed")
    assert bpy.ops.thrixel.refine_model(submission_id=parent_id) == {'FINISHED'}
    record = job_of("refine")
    pump_until(library, lambda: settled(record), what="the failure")
    assert record.status == "failed"

    assert bpy.ops.thrixel.retry_job(job_id=record.job_id) == {'FINISHED'}
    retried = job_of("refine")
    pump_until(library, lambda: settled(retried), what="the retried refine")
    assert retried.status == "completed", retried.message
    assert len(server.admin.requests_log("phase2_submit")) == 2
    assert server.admin.requests_log("phase1_submit")[-1]["body"]["task"] == "a glass orb"


def test_rate_limited_submit_waits_and_is_sent(library: Addon, server: LocalServer) -> None:
    parent_id = created(server, "a tin robot")
    refresh(library)
    bpy.context.window_manager.thrixel.selected_submission = parent_id
    server.admin.add_fault("phase2_submit", "rate_limit", status=429, retry_after="1")

    assert bpy.ops.thrixel.refine_model(submission_id=parent_id) == {'FINISHED'}
    record = job_of("refine")
    tracker = library.module("limits").tracker()
    pump_until(library, lambda: tracker.wait_of(record.job_id) is not None, what="the wait")
    wait = tracker.wait_of(record.job_id)
    assert wait.reason == "rate"
    assert "Sending again in" in wait.describe(tracker.limits, wait.until - 1)

    pump_until(library, lambda: settled(record), what="the refine after the wait")
    assert record.status == "completed", record.message
    statuses = [entry["status"] for entry in server.admin.requests_log("phase2_submit")]
    assert statuses == [429, 200]
    assert tracker.usage().last_hour >= 1


def test_active_limit_holds_work_here(library: Addon, server: LocalServer) -> None:
    parent_id = created(server, "a paper crane")
    refresh(library)
    bpy.context.window_manager.thrixel.selected_submission = parent_id
    tracker = library.module("limits").tracker()
    # The listing reports three jobs active elsewhere: new work waits on this machine.
    tracker.observe_listing([], 3)
    server.admin.clear_requests()

    assert bpy.ops.thrixel.refine_model(submission_id=parent_id) == {'FINISHED'}
    record = job_of("refine")
    pump_until(library, lambda: tracker.wait_of(record.job_id) is not None, what="the hold")
    assert tracker.wait_of(record.job_id).reason == "slot"
    assert server.admin.requests_log("phase2_submit") == [], "sent although the limit is reached"

    tracker.observe_listing([], 0)
    pump_until(library, lambda: settled(record), what="the refine after the hold")
    assert record.status == "completed", record.message
    assert len(server.admin.requests_log("phase2_submit")) == 1


def test_limits_panel_counts_listing(library: Addon, server: LocalServer) -> None:
    for n in range(2):
        created(server, f"a glass marble {n}")
    refresh(library)
    usage = library.module("limits").tracker().usage()
    assert usage.last_hour == 2
    assert usage.last_day == 2
    assert usage.limits.active == 3
    assert usage.limits.hourly == 10
    assert usage.limits.daily == 50


def write_png(path: Path, width: int, height: int) -> None:
    image = bpy.data.images.new(path.stem, width, height)
    image.generated_color = (0.2, 0.4, 0.8, 1.0)
    image.filepath_raw = str(path)
    image.file_format = 'PNG'
    image.save()
    bpy.data.images.remove(image)


def test_generate_sends_scaled_images(library: Addon, server: LocalServer, tmp_path: Path) -> None:
    import base64

    big = tmp_path / "big.png"
    write_png(big, 3000, 1500)
    small = tmp_path / "small.png"
    write_png(small, 200, 100)
    packed = bpy.data.images.new("Painted", 64, 64)
    packed.pack()
    images_before = {image.name for image in bpy.data.images}

    scene = bpy.context.scene
    scene.thrixel.prompt = ""
    assert bpy.ops.thrixel.add_image_input(source='FILE', filepath=str(big)) == {'FINISHED'}
    assert bpy.ops.thrixel.add_image_input(source='FILE', filepath=str(small)) == {'FINISHED'}
    assert bpy.ops.thrixel.add_image_input(source='IMAGE', image_name="Painted") == {'FINISHED'}
    assert bpy.ops.thrixel.add_image_input(source='URL', url="https://images.example/cat.png") == {
        'FINISHED'
    }
    notes = [item.size_note for item in scene.thrixel.library.image_inputs]
    assert notes[0].startswith("3000×1500, sent at 1024×512")
    assert notes[1].startswith("200×100, ")
    assert notes[3] == "URL, fetched by the service"

    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(library, lambda: server.admin.requests_log("phase1_submit"), what="the submit")
    body = server.admin.requests_log("phase1_submit")[-1]["body"]
    assert "image" not in body
    assert "task" not in body
    sent = body["images"]
    assert len(sent) == 4
    assert sent[3] == "https://images.example/cat.png"
    first = base64.b64decode(sent[0].split(",", 1)[1])
    width, height = int.from_bytes(first[16:20], "big"), int.from_bytes(first[20:24], "big")
    assert (width, height) == (1024, 512)
    assert base64.b64decode(sent[1].split(",", 1)[1]) == small.read_bytes()
    assert {image.name for image in bpy.data.images} == images_before, "temporary images left"


def test_image_input_errors_are_reported(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    scene = bpy.context.scene
    scene.thrixel.prompt = "a cat"
    inputs = scene.thrixel.library.image_inputs
    with pytest.raises(RuntimeError, match="is not an https:// address"):
        bpy.ops.thrixel.add_image_input(source='URL', url="http://plain.example/cat.png")
    assert len(inputs) == 0
    picture = tmp_path / "cat.png"
    pixels = bpy.data.images.new("cat", 8, 8)
    pixels.save(filepath=str(picture))
    bpy.data.images.remove(pixels)
    assert bpy.ops.thrixel.add_image_input(source='FILE', filepath=str(picture)) == {'FINISHED'}
    picture.unlink()
    with pytest.raises(RuntimeError, match="does not exist"):
        bpy.ops.thrixel.generate_model()
    assert server.admin.requests_log("phase1_submit") == []
    assert len(scene.thrixel.jobs) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("gone.png", None, "The image file \"{path}\" does not exist. Choose the file again."),
        (
            "fake.png",
            b"not an image at all" * 10,
            "The file \"fake.png\" is not a PNG or JPEG image, and Blender cannot read it as "
            "another image format. Choose a PNG or JPEG file.",
        ),
        (
            "doc.pdf",
            b"%PDF-1.4 junk",
            "The file \"doc.pdf\" is not a PNG or JPEG image, and Blender cannot read it as "
            "another image format. Choose a PNG or JPEG file.",
        ),
    ],
    ids=["missing", "text named png", "pdf"],
)
def test_unusable_image_file_is_not_added(
    library: Addon, tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    images_before = len(bpy.data.images)

    with pytest.raises(RuntimeError) as caught:
        bpy.ops.thrixel.add_image_input(source='FILE', filepath=str(path))

    assert message.format(path=path) in str(caught.value)
    assert len(bpy.context.scene.thrixel.library.image_inputs) == 0
    assert len(bpy.data.images) == images_before


def test_blender_image_without_file_is_not_added(library: Addon, tmp_path: Path) -> None:
    path = tmp_path / "painted.png"
    pixels = bpy.data.images.new("painted", 8, 8)
    pixels.save(filepath=str(path))
    bpy.data.images.remove(pixels)
    image = bpy.data.images.load(str(path))
    path.unlink()

    with pytest.raises(RuntimeError, match=r"\(.*painted\.png\) does not exist"):
        bpy.ops.thrixel.add_image_input(source='IMAGE', image_name=image.name)

    assert len(bpy.context.scene.thrixel.library.image_inputs) == 0


def test_projects_lifecycle_and_default(library: Addon, server: LocalServer) -> None:
    def settle() -> None:
        pump_until(
            library,
            lambda: not any(area.startswith("project") for area in cache(library).loading),
            what="the project call",
        )
        assert not cache(library).errors, cache(library).errors

    bpy.ops.thrixel.create_project(name="Gargoyles", project_description="Stone things")
    settle()
    (project,) = cache(library).projects.values()
    assert project.name == "Gargoyles"

    bpy.ops.thrixel.update_project(project_id=project.id, name="Gargoyle variations")
    settle()
    bpy.ops.thrixel.refresh_projects()
    settle()
    assert cache(library).projects[project.id].name == "Gargoyle variations"
    assert cache(library).projects[project.id].description == "Stone things"

    member = created(server, "a winged gargoyle")
    refresh(library)
    bpy.ops.thrixel.assign_submission_project(submission_id=member, project_id=project.id)
    pump_until(
        library,
        lambda: (
            info(server, member).get("project_id") == project.id
            or cache(library).submissions[member].project_id == project.id
        ),
        what="the assignment",
    )
    bpy.ops.thrixel.show_project(project_id=project.id)
    settle()
    pump_until(
        library,
        lambda: (
            cache(library).listed_filters is not None
            and cache(library).listed_filters.project_id == project.id
        ),
        what="the project's listing",
    )
    assert cache(library).projects[project.id].submission_ids == (member,)
    assert [row.submission_id for row in cache(library).visible(cache(library).listed_filters)] == [
        member
    ]

    assert bpy.ops.thrixel.set_default_project(project_id=project.id) == {'FINISHED'}
    bpy.context.scene.thrixel.prompt = "a gargoyle with a lantern"
    submits = len(server.admin.requests_log("phase1_submit"))
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(
        library,
        lambda: len(server.admin.requests_log("phase1_submit")) > submits,
        what="the generate request",
    )
    assert server.admin.requests_log("phase1_submit")[-1]["body"]["project_id"] == project.id

    bpy.ops.thrixel.delete_project(project_id=project.id)
    settle()
    assert project.id not in cache(library).projects
    assert bpy.context.scene.thrixel.library.default_project_id == ""
    assert bpy.context.window_manager.thrixel.project_filter == ""
    assert server.admin.requests_log("project_delete")[-1]["status"] in (200, 204)
