"""Download & Export page: the unified download endpoint."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from ..auth import StoreDep
from ..store import Artifacts, Submission
from .progress import find_submission

router = APIRouter(tags=["download"])

Format = Literal["glb", "fbx", "obj", "stl", "usdz", "py", "thumbnail", "reference_image"]
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


def require_completed(submission: Submission) -> None:
    if submission.status == "failed":
        raise HTTPException(410, f"Submission '{submission.id}' failed and has no files.")
    if submission.status != "completed":
        raise HTTPException(
            409,
            f"Submission '{submission.id}' is {submission.status}; "
            "files are ready once it is completed.",
        )


def artifact_bytes(artifacts: Artifacts, format: str, index: int, label: str) -> bytes:
    """Return the file for `format`; raise 404 or 501 when there is none."""
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
    if format in artifacts.converted:
        return artifacts.converted[format]
    raise HTTPException(501, f"Conversion to {format} is not available on this server yet.")


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
    submission = find_submission(store, submission_id)
    if format != "reference_image":
        require_completed(submission)
    label = f"Submission '{submission.id}'"
    data = artifact_bytes(submission.artifacts, format, index, label)
    return file_response(data, format, f"phase{submission.phase}")
