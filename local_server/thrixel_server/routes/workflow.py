"""Core Workflow page: phase 1, 2, 3 and 5 submissions."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictStr

from .. import lifecycle
from ..auth import OwnerDep, StoreDep
from ..models3d.prompt_model import build_prompt_glb
from ..models3d.thumbnail import pattern_png
from ..store import Artifacts, Store, Submission, iso, new_id
from ..validation import decode_image_string, reject_field

router = APIRouter(tags=["workflow"])


def _check_image(value: str) -> str:
    decode_image_string(value)
    return value


ImageString = Annotated[StrictStr, AfterValidator(_check_image)]


class Phase1Request(BaseModel):
    task: StrictStr | None = None
    image: ImageString | None = None
    images: list[ImageString] | None = Field(default=None, max_length=6)
    model: StrictStr | None = None
    project_id: StrictStr | None = None
    adaptive_thinking: StrictBool = False


def submitted(submission: Submission) -> dict[str, Any]:
    return {
        "submission_id": submission.id,
        "status": submission.status,
        "created_at": iso(submission.created_at),
    }


def reference_images(images: list[str]) -> list[bytes]:
    """Return the uploaded images; an https image gets a generated stand-in (no fetching)."""
    result = []
    for image in images:
        data = decode_image_string(image)
        result.append(data if data is not None else pattern_png(image, 256))
    return result


def image_seed(images: list[str]) -> str:
    return hashlib.sha256("\n".join(images).encode("utf-8")).hexdigest()[:12]


def check_project(store: Store, owner: str, project_id: str | None) -> None:
    if project_id is None:
        return
    project = store.projects.get(project_id)
    if project is None or project.owner != owner:
        reject_field("project_id", f"Project '{project_id}' not found for this API key.")


def generated(prompt: str, detail: int, title: str, submission_id: str) -> lifecycle.Producer:
    def produce() -> Artifacts:
        glb = build_prompt_glb(prompt, detail)
        return lifecycle.artifacts_for(glb, title, submission_id)

    return produce


@router.post("/phase1/submit", name="phase1_submit")
async def submit_phase1(
    body: Phase1Request, request: Request, store: StoreDep, owner: OwnerDep
) -> dict[str, Any]:
    task = (body.task or "").strip()
    if body.image is not None and body.images is not None:
        reject_field("images", "Send either 'image' or 'images', not both.")
    if not task and body.image is None and not body.images:
        reject_field("task", "At least one of 'task', 'image' or 'images' is required.")
    check_project(store, owner, body.project_id)
    images = [body.image] if body.image is not None else list(body.images or [])
    submission = Submission(
        id=new_id(),
        owner=owner,
        phase=1,
        project_id=body.project_id,
        model=body.model or "thrixel+",
        adaptive_thinking=body.adaptive_thinking,
        input={
            "type": "text" if not images else ("image" if body.image else "images"),
            "task": body.task,
            "image": body.image,
            "images": body.images,
            "modification_request": None,
        },
    )
    submission.artifacts.reference_images = reference_images(images)
    prompt = task or f"image {image_seed(images)}"
    store.add_submission(submission)
    lifecycle.start(store, submission, generated(prompt, 0, prompt, submission.id))
    return submitted(submission)
