"""Test hooks under /_test: reset, pace and settings, planned failures, request log, faults,
project archiving, extra gallery items and rate-limit usage."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, StrictBool, StrictStr

from ..auth import StoreDep
from ..faults import FaultSpec
from ..limits import usage
from ..store import GalleryItem, Store, iso, new_id, utc_now

router = APIRouter(tags=["test hooks"])


class FailRequest(BaseModel):
    submission_id: StrictStr | None = None
    """Fail this submission; without it, the next submission created fails."""
    error: StrictStr = "Generation failed"
    after_steps: int = Field(0, ge=0)
    """Progress steps the planned failure lets through first (next submission only)."""


class ConversionFailRequest(BaseModel):
    error: StrictStr = "Conversion failed"


class GalleryItemRequest(BaseModel):
    name: StrictStr
    prompt: StrictStr
    parent_id: StrictStr | None = None


class AgeRequest(BaseModel):
    seconds: float = Field(ge=0)


class ProjectArchiveRequest(BaseModel):
    is_archived: StrictBool


@router.get("/health", name="admin_health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/reset", name="admin_reset")
async def reset(store: StoreDep) -> dict[str, str]:
    store.reset()
    return {"status": "reset"}


@router.get("/config", name="admin_get_config")
async def get_config(store: StoreDep) -> dict[str, Any]:
    return store.config.public_dict()


@router.post("/config", name="admin_set_config")
async def set_config(changes: dict[str, Any], store: StoreDep) -> dict[str, Any]:
    try:
        store.config.update(changes)
    except KeyError as error:
        raise HTTPException(422, f"Unknown setting {error}.") from None
    return store.config.public_dict()


@router.post("/fail", name="admin_fail")
async def fail(body: FailRequest, store: StoreDep) -> dict[str, Any]:
    if body.submission_id is None:
        store.pending_failures.append({"after_steps": body.after_steps, "error": body.error})
        return {"planned": len(store.pending_failures)}
    submission = store.submissions.get(body.submission_id)
    if submission is None:
        raise HTTPException(404, f"Submission '{body.submission_id}' not found.")
    submission.fail(body.error)
    return {"submission_id": submission.id, "status": submission.status}


@router.post("/fail_conversion", name="admin_fail_conversion")
async def fail_conversion(body: ConversionFailRequest, store: StoreDep) -> dict[str, int]:
    """Make the next conversion job that reaches the end of `running` fail with `error`."""
    store.pending_conversion_failures.append(body.error)
    return {"planned": len(store.pending_conversion_failures)}


@router.get("/requests", name="admin_requests")
async def requests_log(store: StoreDep, route: str | None = None) -> list[dict[str, Any]]:
    with store.lock:
        entries = list(store.request_log)
    return [e for e in entries if route is None or e["route"] == route]


def _clear(store: Store, items: list[dict[str, Any]]) -> dict[str, int]:
    with store.lock:
        count = len(items)
        items.clear()
    return {"cleared": count}


@router.delete("/requests", name="admin_clear_requests")
async def clear_requests(store: StoreDep) -> dict[str, int]:
    return _clear(store, store.request_log)


@router.get("/faults", name="admin_faults")
async def list_faults(store: StoreDep) -> list[dict[str, Any]]:
    return list(store.faults)


@router.post("/faults", name="admin_add_fault")
async def add_fault(spec: FaultSpec, store: StoreDep) -> dict[str, Any]:
    entry = spec.model_dump()
    with store.lock:
        store.faults.append(entry)
    return entry


@router.delete("/faults", name="admin_clear_faults")
async def clear_faults(store: StoreDep) -> dict[str, int]:
    return _clear(store, store.faults)


@router.patch("/projects/{project_id}", name="admin_archive_project")
async def archive_project(
    project_id: str, body: ProjectArchiveRequest, store: StoreDep
) -> dict[str, Any]:
    """Archive or restore a project: the API docs list no call that does it."""
    project = store.projects.get(project_id)
    if project is None:
        raise HTTPException(404, f"Project '{project_id}' not found.")
    project.is_archived = body.is_archived
    return {"id": project.id, "is_archived": project.is_archived}


@router.post("/gallery", name="admin_add_gallery_item")
async def add_gallery_item(body: GalleryItemRequest, store: StoreDep) -> dict[str, Any]:
    """Publish an extra gallery item until the next reset (tests build deep trees with it)."""
    if body.parent_id is not None and body.parent_id not in store.gallery:
        raise HTTPException(404, f"Gallery item '{body.parent_id}' not found.")
    item = GalleryItem(id=new_id(), name=body.name, parent_id=body.parent_id, prompt=body.prompt)
    store.gallery[item.id] = item
    return {"id": item.id, "parent_id": item.parent_id, "created_at": iso(item.created_at)}


@router.get("/usage", name="admin_usage")
async def get_usage(store: StoreDep) -> dict[str, Any]:
    """Return each owner's counts against the rate limits (the API itself exposes none)."""
    now = utc_now()
    owners = sorted(set(store.config.api_keys.values()))
    return {owner: dataclasses.asdict(usage(store, owner, now)) for owner in owners}


@router.post("/usage/age", name="admin_age_usage")
async def age_usage(body: AgeRequest, store: StoreDep) -> dict[str, Any]:
    """Move every recorded submit time `seconds` into the past, as if that time had passed."""
    shift = timedelta(seconds=body.seconds)
    with store.lock:
        for times in store.submit_times.values():
            times[:] = [moment - shift for moment in times]
    return await get_usage(store)
