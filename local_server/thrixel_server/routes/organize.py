"""Organize page: projects, and the nickname, archive, visibility, pin, project and delete
operations on a submission.

The docs give no method or path for most of these. The routes use the same reading as the
client's route table: PATCH and DELETE on the resource.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, StrictBool, StrictStr

from ..auth import OwnerDep, StoreDep
from ..store import Project, Store, Submission, iso, new_id, utc_now
from ..validation import reject_field
from .progress import find_submission, list_order, submission_row

router = APIRouter(tags=["organize"])

ProjectName = Annotated[StrictStr, Field(min_length=1, max_length=255)]
Description = Annotated[StrictStr, Field(max_length=2000)]


class ProjectCreate(BaseModel):
    name: ProjectName
    description: Description | None = None


class ProjectUpdate(BaseModel):
    name: ProjectName | None = None
    description: Description | None = None


class NicknameBody(BaseModel):
    nickname: Annotated[StrictStr, Field(max_length=255)] | None


class ArchiveBody(BaseModel):
    is_archived: StrictBool


class VisibilityBody(BaseModel):
    is_visible: StrictBool


class PinBody(BaseModel):
    is_pinned: StrictBool


class AssignBody(BaseModel):
    project_id: StrictStr | None


def owned_project(store: Store, owner: str, project_id: str) -> Project:
    project = store.projects.get(project_id)
    if project is None:
        raise HTTPException(404, f"Project '{project_id}' not found.")
    if project.owner != owner:
        raise HTTPException(403, f"Project '{project_id}' belongs to another API key.")
    return project


def owned_submission(store: Store, owner: str, submission_id: str) -> Submission:
    submission = find_submission(store, submission_id)
    if submission.owner != owner:
        raise HTTPException(403, f"Submission '{submission_id}' belongs to another API key.")
    return submission


def project_members(store: Store, project: Project) -> list[Submission]:
    """Return the project's submissions that are not soft-deleted."""
    return [
        s for s in store.submissions.values() if s.project_id == project.id and not s.is_deleted
    ]


def project_view(store: Store, project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "is_archived": project.is_archived,
        "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at),
        "submission_count": len(project_members(store, project)),
    }


def checked_name(name: str) -> str:
    stripped = name.strip()
    if not stripped:
        reject_field("name", "Project name must not be blank.")
    return stripped


# Projects -----------------------------------------------------------------------------------


@router.get("/projects", name="projects")
async def list_projects(
    store: StoreDep, owner: OwnerDep, include_archived: bool = False
) -> dict[str, Any]:
    chosen = [
        project
        for project in store.projects.values()
        if project.owner == owner and (include_archived or not project.is_archived)
    ]
    # Newest first. On equal timestamps the later-created project comes first.
    chosen = sorted(reversed(chosen), key=lambda project: project.created_at, reverse=True)
    views = [project_view(store, project) for project in chosen]
    return {"projects": views, "count": len(views)}


@router.post("/projects", name="project_create")
async def create_project(body: ProjectCreate, store: StoreDep, owner: OwnerDep) -> dict[str, Any]:
    project = Project(
        id=new_id(), owner=owner, name=checked_name(body.name), description=body.description
    )
    store.projects[project.id] = project
    return project_view(store, project)


@router.get("/projects/{project_id}", name="project_get")
async def get_project(project_id: str, store: StoreDep, owner: OwnerDep) -> dict[str, Any]:
    project = owned_project(store, owner, project_id)
    view = project_view(store, project)
    view["submissions"] = [submission_row(s) for s in list_order(project_members(store, project))]
    return view


@router.patch("/projects/{project_id}", name="project_update")
async def update_project(
    project_id: str, body: ProjectUpdate, store: StoreDep, owner: OwnerDep
) -> dict[str, Any]:
    project = owned_project(store, owner, project_id)
    if not body.model_fields_set:
        reject_field("name", "Send at least one of 'name' or 'description'.")
    if "name" in body.model_fields_set:
        if body.name is None:
            reject_field("name", "Project name must not be null.")
        project.name = checked_name(body.name)
    if "description" in body.model_fields_set:
        project.description = body.description
    project.updated_at = utc_now()
    return project_view(store, project)


@router.delete("/projects/{project_id}", name="project_delete")
async def delete_project(project_id: str, store: StoreDep, owner: OwnerDep) -> dict[str, Any]:
    """Delete the project for good. Its submissions stay, with project_id set to null."""
    project = owned_project(store, owner, project_id)
    unlinked = 0
    for submission in store.submissions.values():
        if submission.project_id == project.id:
            submission.project_id = None
            unlinked += 1
    del store.projects[project.id]
    return {"id": project.id, "deleted": True, "unlinked_submissions": unlinked}


# Submissions --------------------------------------------------------------------------------


def set_flag(
    store: Store, owner: str, submission_id: str, flag: str, value: bool
) -> dict[str, Any]:
    submission = owned_submission(store, owner, submission_id)
    setattr(submission, flag, value)
    return submission_row(submission)


@router.patch("/{submission_id}/nickname", name="nickname")
async def set_nickname(
    submission_id: str, body: NicknameBody, store: StoreDep, owner: OwnerDep
) -> dict[str, Any]:
    submission = owned_submission(store, owner, submission_id)
    nickname = body.nickname.strip() if body.nickname is not None else ""
    submission.nickname = nickname or None
    return submission_row(submission)


@router.patch("/{submission_id}/archive", name="archive")
async def set_archived(
    submission_id: str, body: ArchiveBody, store: StoreDep, owner: OwnerDep
) -> dict[str, Any]:
    return set_flag(store, owner, submission_id, "is_archived", body.is_archived)


@router.patch("/{submission_id}/visibility", name="visibility")
async def set_visible(
    submission_id: str, body: VisibilityBody, store: StoreDep, owner: OwnerDep
) -> dict[str, Any]:
    return set_flag(store, owner, submission_id, "is_visible", body.is_visible)


@router.patch("/{submission_id}/pin", name="pin")
async def set_pinned(
    submission_id: str, body: PinBody, store: StoreDep, owner: OwnerDep
) -> dict[str, Any]:
    return set_flag(store, owner, submission_id, "is_pinned", body.is_pinned)


@router.patch("/{submission_id}/project", name="assign_project")
async def assign_project(
    submission_id: str, body: AssignBody, store: StoreDep, owner: OwnerDep
) -> dict[str, Any]:
    """Move the submission into a project of the same key, or out of any with null."""
    submission = owned_submission(store, owner, submission_id)
    if body.project_id is not None:
        project = store.projects.get(body.project_id)
        if project is None:
            reject_field("project_id", f"Project '{body.project_id}' not found.")
        if project.owner != owner:
            raise HTTPException(403, f"Project '{body.project_id}' belongs to another API key.")
    submission.project_id = body.project_id
    return submission_row(submission)


@router.delete("/{submission_id}", name="delete_submission")
async def delete_submission(submission_id: str, store: StoreDep, owner: OwnerDep) -> dict[str, Any]:
    """Soft-delete: the submission leaves the lists but keeps its data and files."""
    submission = owned_submission(store, owner, submission_id)
    submission.is_deleted = True
    return submission_row(submission)
