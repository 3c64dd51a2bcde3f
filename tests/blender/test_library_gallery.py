"""The public gallery against the local server's seeded gallery: the tree from `parent_id`
links, an item's children, a subtree, previews that never become images, and import."""

from __future__ import annotations

from collections.abc import Iterator

import bpy
import pytest
import requests
from conftest import Addon
from library_support import HTTP_TIMEOUT, cache, idle, pump_until, reset_library

from server_fixture import LocalServer


@pytest.fixture
def library(configured: Addon) -> Iterator[Addon]:
    reset_library(configured)
    yield configured
    reset_library(configured)


def served_items(server: LocalServer) -> list[dict]:
    response = requests.get(f"{server.base_url}/gallery", timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    return list(response.json()["items"])


def refresh_gallery(addon: Addon) -> None:
    assert bpy.ops.thrixel.refresh_gallery() == {'FINISHED'}
    pump_until(addon, lambda: "gallery" in cache(addon).fetched_at, what="the gallery")
    pump_until(addon, lambda: idle(addon), what="the gallery thumbnails")


def test_gallery_tree_follows_parent_links(library: Addon, server: LocalServer) -> None:
    items = served_items(server)
    refresh_gallery(library)

    gallery = cache(library).gallery
    assert set(gallery) == {item["id"] for item in items}
    roots = {item["id"] for item in items if item["parent_id"] is None}
    assert set(cache(library).gallery_children[None]) == roots
    for item in items:
        if item["parent_id"] is not None:
            assert item["id"] in cache(library).gallery_children[item["parent_id"]]
    # Closed items show only the roots.
    assert {node.id for node, _depth in cache(library).gallery_rows()} == roots


def test_open_item_fetches_children(library: Addon, server: LocalServer) -> None:
    items = served_items(server)
    refresh_gallery(library)
    parent = next(item for item in items if any(i["parent_id"] == item["id"] for i in items))
    children = {item["id"] for item in items if item["parent_id"] == parent["id"]}

    assert bpy.ops.thrixel.toggle_gallery_item(item_id=parent["id"]) == {'FINISHED'}
    pump_until(library, lambda: idle(library), what="the item's children")
    assert server.admin.requests_log("gallery_item")[-1]["path"].endswith(parent["id"])
    rows = cache(library).gallery_rows()
    shown = [node.id for node, depth in rows if depth >= 1]
    assert children <= set(shown)
    assert bpy.context.window_manager.thrixel.selected_gallery_item == parent["id"]

    assert bpy.ops.thrixel.toggle_gallery_item(item_id=parent["id"]) == {'FINISHED'}
    assert not children & {node.id for node, _depth in cache(library).gallery_rows()}


def test_subtree_opens_every_level(library: Addon, server: LocalServer) -> None:
    items = served_items(server)
    refresh_gallery(library)
    root = next(
        item
        for item in items
        if item["parent_id"] is None and any(i["parent_id"] == item["id"] for i in items)
    )

    assert bpy.ops.thrixel.load_gallery_subtree(item_id=root["id"]) == {'FINISHED'}
    pump_until(library, lambda: idle(library), what="the subtree")
    assert server.admin.requests_log("gallery_subtree")
    descendants = {root["id"]}
    changed = True
    while changed:
        before = len(descendants)
        descendants |= {item["id"] for item in items if item["parent_id"] in descendants}
        changed = len(descendants) != before
    shown = {node.id for node, _depth in cache(library).gallery_rows()}
    assert descendants <= shown


def test_gallery_thumbnails_are_previews(library: Addon, server: LocalServer) -> None:
    images_before = {image.name for image in bpy.data.images}
    refresh_gallery(library)
    previews = library.module("previews")
    roots = cache(library).gallery_children[None]
    for item_id in roots:
        size = previews.preview_size(item_id)
        assert size is not None and size[0] > 0, f"no preview for gallery item {item_id}"
    assert {image.name for image in bpy.data.images} == images_before


def test_import_gallery_item(library: Addon, server: LocalServer) -> None:
    items = served_items(server)
    refresh_gallery(library)
    item = items[0]

    assert bpy.ops.thrixel.import_gallery_item(item_id=item["id"]) == {'FINISHED'}
    record = bpy.context.scene.thrixel.jobs[0]
    pump_until(
        library, lambda: record.imported or record.status == "failed", what="the gallery import"
    )
    assert record.status == "completed", record.message
    assert record.kind == "gallery_import"
    objects = [obj for obj in bpy.data.objects if obj.get("thrixel_submission_id") == item["id"]]
    assert objects, "no object carries the gallery item's id"
    assert bpy.data.collections[record.collection_name].name.startswith(item["name"][:20])
    assert server.admin.requests_log("gallery_download")


def test_gallery_import_failure_can_be_retried(library: Addon, server: LocalServer) -> None:
    items = served_items(server)
    refresh_gallery(library)
    server.admin.add_fault("gallery_download", "status", status=404)
    assert bpy.ops.thrixel.import_gallery_item(item_id=items[0]["id"]) == {'FINISHED'}
    record = bpy.context.scene.thrixel.jobs[0]
    pump_until(library, lambda: record.status == "failed", what="the failure")
    assert "Traceback" not in record.message

    assert bpy.ops.thrixel.retry_job(job_id=record.job_id) == {'FINISHED'}
    pump_until(
        library, lambda: record.imported or record.status == "failed", what="the retried import"
    )
    assert record.status == "completed", record.message
    assert len(server.admin.requests_log("phase1_submit")) == 0
