"""Thumbnails of submissions and gallery items, shown through `bpy.utils.previews`.

The PNG files are downloaded in the background into the extension's user folder and loaded
into one preview collection on the main thread. Previews are not image datablocks, so nothing
is added to the user's file. The icon ids go into the library cache, where `draw()` reads them.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import bpy
import bpy.utils.previews

from . import background, library_cache, library_calls, preferences
from .client import ThrixelClient
from .client.errors import NotFoundError, ThrixelError

log = logging.getLogger(__name__)

THUMBNAIL_FOLDER = "thumbnails"
MAX_IN_FLIGHT = 2
"""Thumbnail downloads at once, so they leave room for the user's own requests."""
PREFETCH_ROWS = 60
"""Rows, from the top of the sorted list, whose thumbnails are fetched after a refresh."""

_collection: bpy.utils.previews.ImagePreviewCollection | None = None
_queue: background.TrickleQueue | None = None
_kinds: dict[str, str] = {}
"""Entity id -> "submission" or "gallery", for ids waiting in the queue."""


def _previews() -> bpy.utils.previews.ImagePreviewCollection:
    global _collection
    if _collection is None:
        _collection = bpy.utils.previews.new()
    return _collection


def queue() -> background.TrickleQueue:
    global _queue
    if _queue is None:
        _queue = background.TrickleQueue(MAX_IN_FLIGHT, _start_fetch)
    return _queue


def request(ids: list[str], kind: str) -> None:
    """Fetch the thumbnails of `ids` ("submission" or "gallery" ids) that are not loaded yet."""
    cache = library_cache.get()
    wanted = [
        entity_id
        for entity_id in ids
        if entity_id not in cache.thumbnails and entity_id not in cache.missing_thumbnails
    ]
    for entity_id in wanted:
        _kinds[entity_id] = kind
    queue().want(wanted)


def feed() -> None:
    """Start queued downloads while there is room; the pump calls this every tick."""
    if _queue is not None and preferences.blocked_reason() is None:
        _queue.feed()


def _start_fetch(entity_id: str) -> bool:
    kind = _kinds.pop(entity_id, "submission")
    path = library_calls.user_dir(THUMBNAIL_FOLDER) / f"{entity_id}.png"

    def fetch(client: ThrixelClient, cancel: threading.Event) -> Path | None:
        if path.is_file() and path.stat().st_size > 0:
            return path
        try:
            if kind == "gallery":
                return client.download_gallery_asset(
                    entity_id, path, fmt="thumbnail", cancel=cancel
                )
            return client.download(entity_id, path, fmt="thumbnail", cancel=cancel)
        except NotFoundError:
            return None

    def loaded(result: Path | None) -> None:
        queue().done(entity_id)
        if result is None:
            library_cache.get().missing_thumbnails.add(entity_id)
            return
        load(entity_id, result)

    def failed(message: str, error: ThrixelError | None) -> None:
        queue().done(entity_id)
        # A thumbnail that cannot be fetched is not worth a message; the row shows a plain icon.
        log.info("No thumbnail for %s: %s", entity_id, message)
        library_cache.get().missing_thumbnails.add(entity_id)

    return background.get().call(fetch, loaded, failed, key=f"thumbnail:{entity_id}") is not None


def load(entity_id: str, path: Path) -> int:
    """Load the thumbnail file of `entity_id` into the preview collection; returns its icon id."""
    previews = _previews()
    preview = previews.get(entity_id)
    if preview is None:
        preview = previews.load(entity_id, str(path), 'IMAGE')
    # Reading the size makes Blender decode the file now, here, rather than in a later draw.
    _ = preview.image_size[:]
    # NOTE: background Blender has no icons, so the id is 0 there and rows show a plain icon.
    icon_id = preview.icon_id
    library_cache.get().icons[entity_id] = icon_id
    library_cache.get().thumbnails[entity_id] = str(path)
    return icon_id


def preview_size(entity_id: str) -> tuple[int, int] | None:
    """Size in pixels of the loaded preview of `entity_id`, or None when none is loaded."""
    preview = _collection.get(entity_id) if _collection is not None else None
    if preview is None:
        return None
    width, height = preview.image_size[:]
    return width, height


def unregister() -> None:
    """Remove the preview collection and forget queued downloads."""
    global _collection, _queue
    if _collection is not None:
        bpy.utils.previews.remove(_collection)
    _collection = None
    if _queue is not None:
        _queue.clear()
    _queue = None
    _kinds.clear()
