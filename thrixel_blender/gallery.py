"""The public gallery: list it, walk its tree (items link to their parent by `parent_id`),
fetch an item's children or whole subtree, and import any item at the 3D cursor."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import bpy
from bpy.props import StringProperty
from bpy.types import Context, Operator

from . import (
    importer,
    library_cache,
    library_calls,
    library_props,
    messages,
    operators,
    preferences,
    previews,
    props,
    results,
    tracking,
)
from .client import ThrixelClient
from .client.models import GalleryItem
from .client.validation import validate_id

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

log = logging.getLogger(__name__)

GALLERY_LIMIT = 500
"""Items fetched per refresh; the documented default."""
DOWNLOAD_FOLDER = "gallery"


def refresh_gallery() -> bool:
    """Fetch the gallery list in the background. Raises SettingsError on unusable settings."""

    def fetch(client: ThrixelClient, cancel: threading.Event) -> list[GalleryItem]:
        return client.list_gallery(limit=GALLERY_LIMIT)

    def listed(items: list[GalleryItem]) -> None:
        cache = library_cache.get()
        cache.set_gallery(items, replace_all=True)
        _request_visible_thumbnails()

    return library_calls.start(fetch, listed, area="gallery", action="Refresh Gallery")


def _request_visible_thumbnails() -> None:
    rows = library_cache.get().gallery_rows()
    previews.request([node.id for node, _depth in rows[: previews.PREFETCH_ROWS]], "gallery")


def _items_of(answer: dict[str, Any]) -> list[GalleryItem]:
    """Read "get a gallery item": the item itself plus its direct children."""
    items: list[GalleryItem] = []
    children = answer.get("children")
    item = answer.get("item") if isinstance(answer.get("item"), dict) else answer
    for entry in [item, *(children if isinstance(children, list) else [])]:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            items.append(GalleryItem.from_json(entry))
    return items


class _GalleryItemOperator(Operator):
    item_id: StringProperty(name="Gallery Item ID", options={'SKIP_SAVE'})

    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)

    def checked_id(self) -> str | None:
        try:
            return validate_id(self.item_id, "item_id")
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action=self.bl_label))
            return None


class THRIXEL_OT_refresh_gallery(Operator):
    """Fetch the public gallery from the service"""

    bl_idname = "thrixel.refresh_gallery"
    bl_label = "Refresh Gallery"
    bl_options = {'REGISTER', 'INTERNAL'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        try:
            refresh_gallery()
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Refresh Gallery"))
            return {'CANCELLED'}
        return {'FINISHED'}


class THRIXEL_OT_toggle_gallery_item(_GalleryItemOperator):
    """Show or hide this item's children, fetching them from the service when opened"""

    bl_idname = "thrixel.toggle_gallery_item"
    bl_label = "Expand Gallery Item"
    bl_options = {'REGISTER', 'INTERNAL'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return True

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        item_id = self.checked_id()
        if item_id is None:
            return {'CANCELLED'}
        cache = library_cache.get()
        library_props.ui_state(context).selected_gallery_item = item_id
        if item_id in cache.expanded:
            cache.expanded.discard(item_id)
            return {'FINISHED'}
        cache.expanded.add(item_id)
        if preferences.blocked_reason() is not None:
            return {'FINISHED'}

        def fetch(client: ThrixelClient, cancel: threading.Event) -> list[GalleryItem]:
            return _items_of(client.get_gallery_item(item_id))

        def fetched(items: list[GalleryItem]) -> None:
            library_cache.get().set_gallery(items, replace_all=False)
            _request_visible_thumbnails()

        try:
            library_calls.start(fetch, fetched, area=f"gallery:{item_id}", action="Open Item")
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Open Item"))
            return {'CANCELLED'}
        return {'FINISHED'}


class THRIXEL_OT_load_gallery_subtree(_GalleryItemOperator):
    """Fetch this item and all its descendants (up to 10 levels) and open them all"""

    bl_idname = "thrixel.load_gallery_subtree"
    bl_label = "Open All Below"
    bl_options = {'REGISTER', 'INTERNAL'}

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        item_id = self.checked_id()
        if item_id is None:
            return {'CANCELLED'}

        def fetch(client: ThrixelClient, cancel: threading.Event) -> list[GalleryItem]:
            return client.get_gallery_subtree(item_id)

        def fetched(items: list[GalleryItem]) -> None:
            cache = library_cache.get()
            cache.set_gallery(items, replace_all=False)
            cache.expanded.update(item.id for item in items)
            _request_visible_thumbnails()

        try:
            library_calls.start(fetch, fetched, area=f"gallery:{item_id}", action="Open All Below")
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Open All Below"))
            return {'CANCELLED'}
        return {'FINISHED'}


class THRIXEL_OT_import_gallery_item(_GalleryItemOperator):
    """Download this gallery model and import it at the 3D cursor"""

    bl_idname = "thrixel.import_gallery_item"
    bl_label = "Import Gallery Item"
    bl_options = {'REGISTER'}

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        item_id = self.checked_id()
        if item_id is None:
            return {'CANCELLED'}
        node = library_cache.get().gallery.get(item_id)
        name = node.label if node is not None else f"Gallery {item_id[:8]}"
        phase = node.phase if node is not None else 0
        scene = props.context_scene(context)
        record = props.scene_settings(scene).add_job(
            kind="gallery_import", prompt=name, phase=phase
        )
        record.parent_submission_id = item_id
        try:
            start_gallery_import(scene, record)
        except Exception as error:
            props.scene_settings(scene).remove_job(record.job_id)
            self.report({'ERROR'}, messages.user_message(error, action="Import Gallery Item"))
            return {'CANCELLED'}
        self.report({'INFO'}, f"Importing \"{library_calls.shorten(name)}\" from the gallery.")
        return {'FINISHED'}


def start_gallery_import(scene: bpy.types.Scene, group: bpy.types.PropertyGroup) -> None:
    """Download the gallery item of `record` in the background, then place it like any result.

    The item's id is kept in `parent_submission_id` until the import, because a gallery item
    is not a submission that the job runner could follow.
    """
    record = cast(props.THRIXEL_PG_job, group)
    item_id = validate_id(record.parent_submission_id, "item_id")
    record_id = record.job_id
    dest = tracking.results_dir(record_id) / f"{item_id}.glb"

    def fetch(client: ThrixelClient, cancel: threading.Event) -> Path:
        return client.download_gallery_asset(item_id, dest, fmt="glb", cancel=cancel)

    def downloaded(path: Path) -> None:
        found = props.find_job(record_id)
        if found is None:
            return  # The record was removed while the model downloaded.
        target_scene, target = found
        target.submission_id = item_id
        target.remote_status = "completed"
        target.progress = 1.0
        try:
            model = results.place_result(target_scene, target, path)
        except importer.ImportFailed as error:
            # A gallery id is not a submission the runner could follow, so Retry must fetch
            # the item again rather than follow the id.
            target.submission_id = ""
            target.remote_status = ""
            target.status = "failed"
            target.message = str(error)
            return
        target.status = "completed"
        target.imported = True
        target.collection_name = model.collection_name
        count = len(model.object_names)
        target.message = (
            f"Imported {count} object{'s' if count != 1 else ''} into \"{model.collection_name}\""
        )

    def failed(message: str) -> None:
        found = props.find_job(record_id)
        if found is not None:
            found[1].status = "failed"
            found[1].message = message

    def waiting(until: float) -> None:
        found = props.find_job(record_id)
        if found is not None:
            at = time.strftime("%H:%M:%S", time.localtime(until))
            found[1].message = f"Rate limited by the service. Sending again at {at}"

    library_calls.start(
        fetch,
        downloaded,
        area=f"gallery_import:{record_id}",
        action="Import Gallery Item",
        on_failure=failed,
        on_wait=waiting,
    )
    record.status = "downloading"
    record.message = "Downloading the gallery model"


def _retry_gallery_import(scene: bpy.types.Scene, record: bpy.types.PropertyGroup) -> None:
    start_gallery_import(scene, record)


results.register_placer("gallery_import", results.place_at_cursor)
results.RESUBMITTERS["gallery_import"] = _retry_gallery_import


classes = (
    THRIXEL_OT_refresh_gallery,
    THRIXEL_OT_toggle_gallery_item,
    THRIXEL_OT_load_gallery_subtree,
    THRIXEL_OT_import_gallery_item,
)
