"""Core Workflow page, phase 5: upload an existing GLB (multipart, at most 100 MB)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.requests import Request as StarletteRequest
from starlette.types import Message

from .. import lifecycle
from ..auth import StoreDep
from ..limits import SubmitOwnerDep
from ..models3d.glb import GlbError, unpack_glb
from ..models3d.scene import check_readable
from ..store import Submission, iso, new_id
from ..validation import reject_field
from .workflow import check_project

router = APIRouter(tags=["workflow"])

MULTIPART_SLACK_BYTES = 64 * 1024
"""Room for the multipart boundaries and the small text fields beside the file."""
MAX_TASK_CHARS = 2000


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"Upload is larger than the {limit // (1024 * 1024)} MB limit.")


async def read_limited_body(request: Request, limit: int) -> bytes:
    """Read the body, returning 413 as soon as it passes the limit, before all of it arrives."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK_BYTES:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit + MULTIPART_SLACK_BYTES:
            raise too_large(limit)
    return bytes(body)


async def parse_form(request: Request, body: bytes) -> dict[str, Any]:
    """Parse a multipart body that was already read, by replaying it to Starlette's parser."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await StarletteRequest(request.scope, replay).form(max_part_size=1024 * 1024)
    return dict(form.items())


@router.post("/phase5/submit", name="phase5_submit")
async def submit_phase5(request: Request, store: StoreDep, owner: SubmitOwnerDep) -> dict[str, Any]:
    limit = store.config.max_upload_bytes
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        reject_field("glb_file", "Send the GLB as multipart/form-data in the field 'glb_file'.")
    form = await parse_form(request, await read_limited_body(request, limit))
    upload = form.get("glb_file")
    if not isinstance(upload, UploadFile):
        reject_field("glb_file", "The multipart field 'glb_file' with the GLB file is missing.")
    data = await upload.read()
    if len(data) > limit:
        raise too_large(limit)
    try:
        check_readable(unpack_glb(data)[0])
    except (GlbError, UnicodeDecodeError, ValueError) as error:
        reject_field("glb_file", f"The file is not a usable GLB: {error}")
    task = form.get("task")
    if isinstance(task, str) and len(task) > MAX_TASK_CHARS:
        reject_field("task", f"Task is longer than {MAX_TASK_CHARS} characters.")
    project_id = form.get("project_id") if isinstance(form.get("project_id"), str) else None
    check_project(store, owner, project_id)
    filename = upload.filename or "model.glb"
    submission = Submission(
        id=new_id(),
        owner=owner,
        phase=5,
        status="completed",
        project_id=project_id,
        input={
            "type": "upload",
            "task": task,
            "image": None,
            "images": None,
            "modification_request": None,
        },
        original_filename=filename,
        file_size_bytes=len(data),
        progress=1.0,
    )
    submission.completed_at = submission.created_at
    submission.emit({"type": "status", "status": "completed"})
    submission.artifacts = await asyncio.to_thread(
        lifecycle.artifacts_for, data, filename, submission.id
    )
    store.add_submission(submission)
    return {
        "submission_id": submission.id,
        "status": "completed",
        "original_filename": filename,
        "file_size_bytes": len(data),
        "created_at": iso(submission.created_at),
    }
