"""Core Workflow page: phase 1, 2 and 3 submissions (phase 5 upload is in `upload.py`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictStr

from .. import lifecycle
from ..auth import StoreDep
from ..limits import SubmitOwnerDep
from ..models3d.modify import modify_glb
from ..models3d.prompt_model import build_prompt_glb, model_name
from ..models3d.refine import refine_glb
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


class Phase2Request(BaseModel):
    parent_submission_id: StrictStr
    project_id: StrictStr | None = None
    adaptive_thinking: StrictBool = False


class Phase3Request(BaseModel):
    parent_submission_id: StrictStr
    modification_request: StrictStr
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


def parent_for(
    store: Store, owner: str, parent_id: str, *, phases: tuple[int, ...] | None = None
) -> Submission:
    """Return the completed parent submission, of one of `phases` when given.

    Raises 403 when another API key owns it, and 422 naming parent_submission_id otherwise.
    """
    parent = store.submissions.get(parent_id)
    if parent is None:
        reject_field("parent_submission_id", f"Submission '{parent_id}' not found.")
    if parent.owner != owner:
        raise HTTPException(403, f"Submission '{parent_id}' belongs to another API key.")
    if parent.status != "completed":
        reject_field(
            "parent_submission_id", f"Submission '{parent_id}' is {parent.status}, not completed."
        )
    if phases is not None and parent.phase not in phases:
        allowed = " or ".join(str(phase) for phase in phases)
        reject_field(
            "parent_submission_id",
            f"Submission '{parent_id}' is phase {parent.phase}; a completed phase {allowed} "
            "submission is required.",
        )
    return parent


def generated(prompt: str, detail: int, title: str, submission_id: str) -> lifecycle.Producer:
    def produce() -> Artifacts:
        glb = build_prompt_glb(prompt, detail)
        return lifecycle.artifacts_for(glb, title, submission_id)

    return produce


@router.post("/phase1/submit", name="phase1_submit")
async def submit_phase1(
    body: Phase1Request, request: Request, store: StoreDep, owner: SubmitOwnerDep
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


def parent_title(parent: Submission) -> str:
    task = parent.input.get("task")
    return model_name(task) if isinstance(task, str) and task.strip() else "Model"


def derived_submission(
    owner: str, parent: Submission, phase: int, project_id: str | None, adaptive_thinking: bool
) -> Submission:
    """Create a submission that works on the model of `parent`, inheriting task and project."""
    return Submission(
        id=new_id(),
        owner=owner,
        phase=phase,
        parent_submission_id=parent.id,
        project_id=project_id or parent.project_id,
        model=parent.model,
        adaptive_thinking=adaptive_thinking,
        input={
            "type": "refine" if phase == 2 else "modify",
            "task": parent.input.get("task"),
            "image": None,
            "images": None,
            "modification_request": None,
        },
    )


DerivedWork = Callable[[bytes], tuple[bytes, dict[str, Any]]]
"""Turns the parent's GLB into the new GLB and the facts stored as the submission's result."""


def start_derived(
    store: Store, submission: Submission, parent: Submission, work: DerivedWork
) -> dict[str, Any]:
    glb, title = parent.artifacts.glb, parent_title(parent)

    def produce() -> Artifacts:
        model, submission.result = work(glb)
        return lifecycle.artifacts_for(model, title, submission.id)

    store.add_submission(submission)
    lifecycle.start(store, submission, produce)
    return submitted(submission)


def refined(glb: bytes) -> tuple[bytes, dict[str, Any]]:
    result = refine_glb(glb)
    facts = {
        "changed_node_names": result.changed_node_names,
        "triangles_before": result.triangles_before,
        "triangles_after": result.triangles_after,
    }
    return result.glb, facts


@router.post("/phase2/submit", name="phase2_submit")
async def submit_phase2(
    body: Phase2Request, store: StoreDep, owner: SubmitOwnerDep
) -> dict[str, Any]:
    parent = parent_for(store, owner, body.parent_submission_id, phases=(1, 2))
    check_project(store, owner, body.project_id)
    submission = derived_submission(owner, parent, 2, body.project_id, body.adaptive_thinking)
    return start_derived(store, submission, parent, refined)


@router.post("/phase3/submit", name="phase3_submit")
async def submit_phase3(
    body: Phase3Request, store: StoreDep, owner: SubmitOwnerDep
) -> dict[str, Any]:
    request_text = body.modification_request.strip()
    if not request_text:
        reject_field("modification_request", "Describe the change to apply.")
    parent = parent_for(store, owner, body.parent_submission_id)
    check_project(store, owner, body.project_id)
    submission = derived_submission(owner, parent, 3, body.project_id, body.adaptive_thinking)
    submission.input["modification_request"] = body.modification_request

    def modified(glb: bytes) -> tuple[bytes, dict[str, Any]]:
        result = modify_glb(glb, request_text)
        return result.glb, {
            "changed_node_names": result.changed_node_names,
            "changes": result.changes,
        }

    return start_derived(store, submission, parent, modified)
