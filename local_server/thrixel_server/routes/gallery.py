"""Gallery page: the published models, their tree (through `parent_id`) and their files."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from .. import lifecycle
from ..auth import StoreDep
from ..models3d.prompt_model import build_prompt_glb
from ..models3d.thumbnail import pattern_png
from ..store import Artifacts, GalleryItem, Store, iso
from .download import Format, artifact_bytes, file_response, submission_file

router = APIRouter(tags=["gallery"])

MAX_SUBTREE_DEPTH = 10
"""Levels below the requested item that the subtree endpoint returns, as documented."""


def item_view(item: GalleryItem, request: Request) -> dict[str, Any]:
    thumbnail = request.url_for("gallery_download", entity_id=item.id)
    return {
        "id": item.id,
        "parent_id": item.parent_id,
        "name": item.name,
        "prompt": item.prompt,
        "created_at": iso(item.created_at),
        "thumbnail_url": f"{thumbnail}?format=thumbnail",
    }


def find_item(store: Store, item_id: str) -> GalleryItem:
    item = store.gallery.get(item_id)
    if item is None:
        raise HTTPException(404, f"Gallery item '{item_id}' not found.")
    return item


def published_order(items: list[GalleryItem]) -> list[GalleryItem]:
    """Sort oldest first, so parents (published before their children) come first."""
    return sorted(items, key=lambda item: item.created_at)


def children_of(store: Store, item_id: str) -> list[GalleryItem]:
    return published_order([i for i in store.gallery.values() if i.parent_id == item_id])


def item_artifacts(item: GalleryItem) -> Artifacts:
    """Build the item's files from its prompt (once, then kept on the item)."""
    if not item.artifacts.glb:
        glb = build_prompt_glb(item.prompt)
        artifacts = lifecycle.artifacts_for(glb, item.name, item.id)
        artifacts.reference_images = [pattern_png(f"gallery|{item.prompt}", 512)]
        item.artifacts = artifacts
    return item.artifacts


@router.get("/gallery", name="gallery")
async def list_gallery(
    request: Request, store: StoreDep, limit: Annotated[int, Query(ge=1, le=5000)] = 500
) -> dict[str, Any]:
    items = [item_view(i, request) for i in published_order(list(store.gallery.values()))]
    return {"items": items[:limit], "count": min(len(items), limit)}


@router.get("/gallery/{item_id}", name="gallery_item")
async def get_gallery_item(item_id: str, request: Request, store: StoreDep) -> dict[str, Any]:
    view = item_view(find_item(store, item_id), request)
    view["children"] = [item_view(child, request) for child in children_of(store, item_id)]
    return view


@router.get("/gallery/{item_id}/subtree", name="gallery_subtree")
async def get_gallery_subtree(item_id: str, request: Request, store: StoreDep) -> dict[str, Any]:
    """Return the item and its descendants down to MAX_SUBTREE_DEPTH levels, level by level."""
    level = [find_item(store, item_id)]
    found = list(level)
    seen = {item_id}
    for _ in range(MAX_SUBTREE_DEPTH):
        level = [c for parent in level for c in children_of(store, parent.id) if c.id not in seen]
        seen.update(child.id for child in level)
        found += level
    items = [item_view(item, request) for item in found]
    return {"items": items, "count": len(items)}


@router.get("/gallery/{entity_id}/download", name="gallery_download")
async def download_gallery_asset(
    entity_id: str,
    store: StoreDep,
    format: Format = "glb",
    index: Annotated[int, Query(ge=0, le=5)] = 0,
) -> Response:
    """Serve a gallery item's file as model.{ext}, or else a submission's as phase{N}.{ext}."""
    item = store.gallery.get(entity_id)
    if item is not None:
        artifacts = await asyncio.to_thread(item_artifacts, item)
        data = await artifact_bytes(artifacts, format, index, f"Gallery item '{item.id}'")
        return file_response(data, format, "model")
    submission = store.submissions.get(entity_id)
    if submission is None:
        raise HTTPException(404, f"No gallery item or submission has the id '{entity_id}'.")
    return await submission_file(submission, format, index)
