"""The submissions browser against the local server: listing, filters, thumbnails, details,
lineage, import, finding objects in the scene, and every organising call."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import bpy
import pytest
import requests
from conftest import Addon, only_job
from library_support import (
    HTTP_TIMEOUT,
    cache,
    created,
    info,
    pump_until,
    refresh,
    reset_library,
    submit,
    wait_completed,
)

from server_fixture import LocalServer


@pytest.fixture
def library(configured: Addon) -> Iterator[Addon]:
    reset_library(configured)
    yield configured
    reset_library(configured)


def last_query(server: LocalServer, route: str) -> dict[str, list[str]]:
    entries = server.admin.requests_log(route)
    assert entries, f"no {route} request reached the server"
    return parse_qs(entries[-1]["query"])


def patch(server: LocalServer, path: str, body: dict) -> None:
    response = requests.patch(
        f"{server.base_url}/{path}", headers=server.auth_headers(), json=body, timeout=HTTP_TIMEOUT
    )
    response.raise_for_status()


def test_refresh_lists_pinned_first(library: Addon, server: LocalServer) -> None:
    first = created(server, "a stone gargoyle")
    second = created(server, "a brass lantern")
    third = created(server, "an oak barrel")
    patch(server, f"{first}/pin", {"is_pinned": True})
    patch(server, f"{second}/nickname", {"nickname": "Lantern"})

    refresh(library)

    rows = cache(library).visible(
        library.module("library_ops").current_filters(bpy.context.window_manager.thrixel)
    )
    ids = [row.submission_id for row in rows]
    assert set(ids) == {first, second, third}
    assert ids[0] == first, "the pinned submission is not first"
    by_id = {row.submission_id: row for row in rows}
    assert by_id[second].label == "Lantern"
    assert by_id[third].label == "an oak barrel", "the prompt was not fetched for the row"
    assert all(row.details_loaded for row in rows)
    assert all(row.phase == 1 and row.status == "completed" for row in rows)


def test_thumbnails_are_previews_not_images(library: Addon, server: LocalServer) -> None:
    ids = [created(server, f"a clay pot number {n}") for n in range(3)]
    images_before = {image.name for image in bpy.data.images}

    refresh(library)

    previews = library.module("previews")
    for submission_id in ids:
        assert submission_id in cache(library).thumbnails, f"no thumbnail for {submission_id}"
        # Background Blender gives every preview icon id 0, but the image itself loads.
        size = previews.preview_size(submission_id)
        assert size is not None, submission_id
        assert size[0] > 0, (submission_id, size)
        assert size[1] > 0, (submission_id, size)
    assert {image.name for image in bpy.data.images} == images_before
    thumbnails = [
        entry
        for entry in server.admin.requests_log("download")
        if "format=thumbnail" in entry["query"]
    ]
    assert len(thumbnails) == len(ids)


def test_filters_are_sent_and_applied(library: Addon, server: LocalServer) -> None:
    good = created(server, "a silver key")
    server.admin.fail(error="out of clay")
    bad = submit(server, "phase1", {"task": "a broken vase"})
    pump_until(library, lambda: info(server, bad)["status"] == "failed", what="the failure")
    refresh(library)

    ui = bpy.context.window_manager.thrixel
    ui.status_filter = 'failed'
    pump_until(
        library,
        lambda: (
            cache(library).listed_filters is not None
            and cache(library).listed_filters.status == "failed"
        ),
        what="the filtered listing",
    )
    query = last_query(server, "submissions")
    assert query["status"] == ["failed"]
    rows = cache(library).visible(library.module("library_ops").current_filters(ui))
    assert [row.submission_id for row in rows] == [bad]
    assert good not in [row.submission_id for row in rows]

    ui.status_filter = 'ANY'
    ui.phase_filter = '4'
    pump_until(
        library,
        lambda: (
            cache(library).listed_filters is not None and cache(library).listed_filters.phase == 4
        ),
        what="the phase listing",
    )
    # The documented list filters phases 1 to 3 only, so phase 4 is filtered here.
    assert "phase" not in last_query(server, "submissions")
    assert cache(library).visible(library.module("library_ops").current_filters(ui)) == []


def test_deleted_filter_includes_deleted(library: Addon, server: LocalServer) -> None:
    kept = created(server, "a tin soldier")
    gone = created(server, "a paper boat")
    requests.delete(
        f"{server.base_url}/{gone}", headers=server.auth_headers(), timeout=HTTP_TIMEOUT
    ).raise_for_status()
    refresh(library)
    ui = bpy.context.window_manager.thrixel
    filters = library.module("library_ops").current_filters
    assert [row.submission_id for row in cache(library).visible(filters(ui))] == [kept]

    ui.include_deleted = True
    pump_until(
        library,
        lambda: (
            cache(library).listed_filters is not None
            and cache(library).listed_filters.include_deleted
        ),
        what="the listing with deleted submissions",
    )
    assert last_query(server, "submissions")["include_deleted"] == ["true"]
    rows = {row.submission_id: row for row in cache(library).visible(filters(ui))}
    assert set(rows) == {kept, gone}
    assert rows[gone].is_deleted


def test_import_and_find_in_scene(library: Addon, server: LocalServer) -> None:
    submission_id = created(server, "a wooden chair")
    refresh(library)

    assert bpy.ops.thrixel.import_submission(submission_id=submission_id) == {'FINISHED'}
    pump_until(
        library, lambda: only_job().imported or only_job().status == "failed", what="the import"
    )
    record = only_job()
    assert record.status == "completed", record.message
    assert record.kind == "submission_import"
    objects = [obj for obj in bpy.data.objects if obj.get("thrixel_submission_id") == submission_id]
    assert objects, "no imported object carries the submission id"

    for obj in bpy.context.view_layer.objects:
        obj.select_set(False)
    assert bpy.ops.thrixel.select_scene_objects(submission_id=submission_id) == {'FINISHED'}
    selected = set(bpy.context.selected_objects)
    assert selected == set(objects)
    assert bpy.context.view_layer.objects.active in objects


def test_find_in_scene_without_objects(library: Addon, server: LocalServer) -> None:
    submission_id = created(server, "a glass bottle")
    cube = bpy.data.objects.new("Cube", None)
    bpy.context.scene.collection.objects.link(cube)
    cube.select_set(True)
    assert bpy.ops.thrixel.select_scene_objects(submission_id=submission_id) == {'CANCELLED'}
    assert cube.select_get(), "the selection changed although nothing was found"


def test_lineage_follows_parents(library: Addon, server: LocalServer) -> None:
    root = created(server, "a small robot")
    child = submit(server, "phase2", {"parent_submission_id": root})
    wait_completed(server, child)
    grandchild = submit(
        server, "phase3", {"parent_submission_id": child, "modification_request": "add wheels"}
    )
    wait_completed(server, grandchild)
    refresh(library)

    assert bpy.ops.thrixel.show_lineage(submission_id=grandchild) == {'FINISHED'}
    pump_until(library, lambda: grandchild in cache(library).lineages, what="the lineage")
    assert cache(library).lineages[grandchild] == (child, root)
    assert cache(library).submissions[grandchild].prompt == "add wheels"


def test_organize_calls_change_the_server(library: Addon, server: LocalServer) -> None:
    submission_id = created(server, "a copper kettle")
    refresh(library)

    def settle() -> None:
        pump_until(
            library,
            lambda: not any(area.startswith("organize:") for area in cache(library).loading),
            what="the organising call",
        )
        assert not cache(library).errors, cache(library).errors

    bpy.ops.thrixel.set_submission_nickname(submission_id=submission_id, nickname="Kettle")
    settle()
    bpy.ops.thrixel.set_submission_pinned(submission_id=submission_id, pinned=True)
    settle()
    bpy.ops.thrixel.set_submission_archived(submission_id=submission_id, archived=True)
    settle()
    bpy.ops.thrixel.set_submission_visible(submission_id=submission_id, visible=False)
    settle()

    state = info(server, submission_id)
    assert state["nickname"] == "Kettle"
    assert state["is_pinned"] is True
    assert state["is_archived"] is True
    assert state["is_visible"] is False
    row = cache(library).submissions[submission_id]
    assert (row.nickname, row.is_pinned, row.is_archived, row.is_visible) == (
        "Kettle",
        True,
        True,
        False,
    )

    bpy.ops.thrixel.set_submission_nickname(submission_id=submission_id, nickname="")
    settle()
    bpy.ops.thrixel.set_submission_visible(submission_id=submission_id, visible=True)
    settle()
    bpy.ops.thrixel.delete_submission(submission_id=submission_id)
    settle()
    state = info(server, submission_id)
    assert state["nickname"] is None
    assert state["is_visible"] is True
    assert state["is_deleted"] is True
    assert cache(library).submissions[submission_id].is_deleted


def test_nickname_too_long_is_rejected(library: Addon, server: LocalServer) -> None:
    submission_id = created(server, "a felt hat")
    refresh(library)
    server.admin.clear_requests()
    with pytest.raises(RuntimeError, match="The nickname is 256 characters long"):
        bpy.ops.thrixel.set_submission_nickname(submission_id=submission_id, nickname="x" * 256)
    assert server.admin.requests_log("nickname") == []


def test_unknown_submission_is_reported(library: Addon, server: LocalServer) -> None:
    with pytest.raises(RuntimeError, match="Refresh the list"):
        bpy.ops.thrixel.set_submission_pinned(submission_id="0" * 8, pinned=True)
    with pytest.raises(RuntimeError, match="not a valid id"):
        bpy.ops.thrixel.set_submission_pinned(submission_id="../etc", pinned=True)


def test_rejected_key_shows_in_browser(library: Addon, server: LocalServer) -> None:
    library.preferences.api_key = "sk-thrixel-not-a-known-key"
    assert bpy.ops.thrixel.refresh_submissions() == {'FINISHED'}
    pump_until(library, lambda: "submissions" in cache(library).errors, what="the failure")
    message = cache(library).errors["submissions"]
    assert "API key" in message
    assert "Traceback" not in message
    assert "submissions" not in cache(library).loading
