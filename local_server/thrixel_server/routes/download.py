"""Download & Export page: the unified download endpoint and the conversion job API."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, StrictBool, StrictStr

from .. import lifecycle
from ..auth import StoreDep
from ..models3d.convert import convert_glb
from ..store import Artifacts, ConvertJob, Store, Submission, new_id
from .progress import find_submission

log = logging.getLogger(__name__)

router = APIRouter(tags=["download"])

Format = Literal["glb", "fbx", "obj", "stl", "usdz", "py", "thumbnail", "reference_image"]
ConvertFormat = Literal["fbx", "obj", "stl", "usdz"]
MEDIA_TYPES = {
    "glb": "model/gltf-binary",
    "fbx": "application/octet-stream",
    "obj": "model/obj",
    "stl": "model/stl",
    "usdz": "model/vnd.usdz+zip",
    "py": "text/x-python",
    "thumbnail": "image/png",
    "reference_image": "image/png",
}
EXTENSIONS = {"thumbnail": "png", "reference_image": "png"}


class ConvertRequest(BaseModel):
    submission_id: StrictStr
    format: ConvertFormat
    force: StrictBool = False


def require_completed(submission: Submission) -> None:
    if submission.status == "failed":
        raise HTTPException(410, f"Submission '{submission.id}' failed and has no files.")
    if submission.status != "completed":
        raise HTTPException(
            409,
            f"Submission '{submission.id}' is {submission.status}; "
            "files are ready once it is completed.",
        )


async def artifact_bytes(artifacts: Artifacts, format: str, index: int, label: str) -> bytes:
    """Return the file for `format`, converting the GLB (and caching the result) when needed.

    Raises 404 for a missing reference image and 500 when the conversion fails.
    """
    if format == "glb":
        return artifacts.glb
    if format == "thumbnail":
        return artifacts.thumbnail
    if format == "py":
        return artifacts.script.encode("utf-8")
    if format == "reference_image":
        if index >= len(artifacts.reference_images):
            raise HTTPException(404, f"{label} has no reference image at index {index}.")
        return artifacts.reference_images[index]
    if format not in artifacts.converted:
        try:
            artifacts.converted[format] = await asyncio.to_thread(
                convert_glb, artifacts.glb, format
            )
        except ValueError as error:
            log.warning("Converting %s to %s failed: %s", label, format, error)
            raise HTTPException(500, f"Could not convert {label} to {format}: {error}") from None
    return artifacts.converted[format]


def file_response(data: bytes, format: str, stem: str) -> Response:
    filename = f"{stem}.{EXTENSIONS.get(format, format)}"
    return Response(
        data,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/{submission_id}/download", name="download")
async def download(
    submission_id: str, store: StoreDep, format: Format = "glb", index: int = Query(0, ge=0, le=5)
) -> Response:
    return await submission_file(find_submission(store, submission_id), format, index)


async def submission_file(submission: Submission, format: str, index: int) -> Response:
    """Serve a submission's file as phase{N}.{ext}; only reference images precede completion."""
    if format != "reference_image":
        require_completed(submission)
    label = f"Submission '{submission.id}'"
    data = await artifact_bytes(submission.artifacts, format, index, label)
    return file_response(data, format, f"phase{submission.phase}")


# Conversion jobs ----------------------------------------------------------------------------


def job_view(job: ConvertJob, request: Request) -> dict[str, Any]:
    status_url = str(request.url_for("convert_status", job_id=job.id))
    download_url = None
    if job.status == "ready":
        download_url = str(request.url_for("convert_download", job_id=job.id))
    return {
        "job_id": job.id,
        "submission_id": job.submission_id,
        "format": job.format,
        "status": job.status,
        "error": job.error,
        "download_url": download_url,
        "status_url": status_url,
    }


def find_job(store: Store, job_id: str) -> ConvertJob:
    job = store.convert_jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"Conversion job '{job_id}' not found.")
    return job


async def run_conversion(store: Store, job: ConvertJob, artifacts: Artifacts, force: bool) -> None:
    """Move a job from queued to running to ready (or failed), at the `convert_seconds` pace."""
    await lifecycle.wait_seconds(store, lambda: store.config.convert_seconds)
    job.status = "running"
    await lifecycle.wait_seconds(store, lambda: store.config.convert_seconds)
    if store.pending_conversion_failures:
        job.error = store.pending_conversion_failures.pop(0)
        job.status = "failed"
        return
    cached = None if force else artifacts.converted.get(job.format)
    try:
        job.data = cached or await asyncio.to_thread(convert_glb, artifacts.glb, job.format)
    except ValueError as error:
        log.warning("Conversion job %s to %s failed: %s", job.id, job.format, error)
        job.error = f"Could not convert the model to {job.format}: {error}"
        job.status = "failed"
        return
    artifacts.converted[job.format] = job.data
    job.status = "ready"


@router.post("/convert", name="convert")
async def queue_conversion(
    body: ConvertRequest, request: Request, store: StoreDep
) -> dict[str, Any]:
    """Queue a conversion, or return the job already queued, running or ready for the same
    submission and format unless `force` is set."""
    submission = find_submission(store, body.submission_id)
    require_completed(submission)
    if not body.force:
        for job in reversed(store.convert_jobs.values()):
            same = job.submission_id == submission.id and job.format == body.format
            if same and job.status != "failed":
                return job_view(job, request)
    job = ConvertJob(id=new_id(), submission_id=submission.id, format=body.format)
    store.convert_jobs[job.id] = job
    lifecycle.spawn(store, run_conversion(store, job, submission.artifacts, body.force))
    return job_view(job, request)


@router.get("/convert/{job_id}", name="convert_status")
async def conversion_status(job_id: str, request: Request, store: StoreDep) -> dict[str, Any]:
    return job_view(find_job(store, job_id), request)


@router.get("/convert/{job_id}/download", name="convert_download")
async def download_conversion(job_id: str, store: StoreDep) -> Response:
    job = find_job(store, job_id)
    if job.status == "failed":
        raise HTTPException(410, f"Conversion job '{job.id}' failed: {job.error}")
    if job.status != "ready":
        raise HTTPException(
            409, f"Conversion job '{job.id}' is {job.status}; download it once it is ready."
        )
    submission = find_submission(store, job.submission_id)
    return file_response(job.data, job.format, f"phase{submission.phase}")
