"""Track Progress page: submission info, the event stream and the submission list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from .. import sse
from ..auth import OwnerDep, StoreDep
from ..store import Store, Submission, iso

router = APIRouter(tags=["progress"])


def find_submission(store: Store, submission_id: str) -> Submission:
    submission = store.submissions.get(submission_id)
    if submission is None:
        raise HTTPException(404, f"Submission '{submission_id}' not found.")
    return submission


def public_input(submission: Submission, request: Request) -> dict[str, Any]:
    """The submission's input, with uploaded data-URL images replaced by their download URLs."""
    data = dict(submission.input)
    base = str(request.url_for("download", submission_id=submission.id))

    def shown(image: str, index: int) -> str:
        if image.startswith("data:"):
            return f"{base}?format=reference_image&index={index}"
        return image

    if data.get("image"):
        data["image"] = shown(data["image"], 0)
    if data.get("images"):
        data["images"] = [shown(image, i) for i, image in enumerate(data["images"])]
    return data


def submission_info(submission: Submission, request: Request) -> dict[str, Any]:
    info: dict[str, Any] = {
        "submission_id": submission.id,
        "phase": submission.phase,
        "status": submission.status,
        "model": submission.model,
        "input": public_input(submission, request),
        "parameters": submission.parameters,
        "result": submission.result,
        "parent_submission_id": submission.parent_submission_id,
        "project_id": submission.project_id,
        "nickname": submission.nickname,
        "is_archived": submission.is_archived,
        "is_visible": submission.is_visible,
        "is_deleted": submission.is_deleted,
        "is_pinned": submission.is_pinned,
        "adaptive_thinking": submission.adaptive_thinking,
        "progress": submission.progress,
        "created_at": iso(submission.created_at),
        "completed_at": iso(submission.completed_at),
    }
    if submission.status == "failed":
        info["error"] = submission.error
    if submission.original_filename is not None:
        info["original_filename"] = submission.original_filename
        info["file_size_bytes"] = submission.file_size_bytes
    return info


def submission_row(submission: Submission) -> dict[str, Any]:
    """Return the list row of a submission: the documented fields plus task, lineage, flags."""
    return {
        "submission_id": submission.id,
        "phase": submission.phase,
        "status": submission.status,
        "nickname": submission.nickname,
        "is_pinned": submission.is_pinned,
        "project_id": submission.project_id,
        "created_at": iso(submission.created_at),
        "task": submission.input.get("task"),
        "parent_submission_id": submission.parent_submission_id,
        "is_archived": submission.is_archived,
        "is_visible": submission.is_visible,
        "is_deleted": submission.is_deleted,
    }


def list_order(submissions: list[Submission]) -> list[Submission]:
    """Sort pinned submissions first, then newest first (the later one first on a tie)."""
    return sorted(reversed(submissions), key=lambda s: (s.is_pinned, s.created_at), reverse=True)


@router.get("/submissions", name="submissions")
async def list_submissions(
    store: StoreDep,
    owner: OwnerDep,
    status: Literal["queued", "processing", "completed", "failed"] | None = None,
    phase: Annotated[int | None, Query(ge=1, le=5)] = None,
    project_id: str | None = None,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """List the key's submissions. Hidden ones (is_visible false) are never listed."""
    # NOTE: the docs list phases 1, 2 and 3 for this filter. Phases 4 and 5 are accepted too.
    chosen = [
        submission
        for submission in store.submissions.values()
        if submission.owner == owner
        and submission.is_visible
        and (include_deleted or not submission.is_deleted)
        and (status is None or submission.status == status)
        and (phase is None or submission.phase == phase)
        and (project_id is None or submission.project_id == project_id)
    ]
    rows = [submission_row(submission) for submission in list_order(chosen)[:limit]]
    return {"submissions": rows, "count": len(rows)}


@router.get("/{submission_id}/info", name="info")
async def get_info(submission_id: str, request: Request, store: StoreDep) -> dict[str, Any]:
    return submission_info(find_submission(store, submission_id), request)


@router.get("/{submission_id}/stream", name="stream")
async def stream(submission_id: str, request: Request, store: StoreDep) -> StreamingResponse:
    submission = find_submission(store, submission_id)
    # A stream fault queued through the test hooks arrives in the request state.
    fault = getattr(request.state, "thrixel_fault", None)
    return StreamingResponse(
        sse.event_stream(store, submission, fault),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
