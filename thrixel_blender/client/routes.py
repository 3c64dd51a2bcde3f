"""The route table: every Thrixel endpoint the client calls, in one place.

Paths are relative to the base URL and use `str.format` fields. Rows marked `inferred` are not
spelled out by the public docs (the "Organize" page gives no method or path). If the service
returns 404 or 405 for one of them, the error names the operation and the path tried.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """One endpoint of the service."""

    operation: str
    """Human name used in error messages, such as "submit a prompt"."""
    method: str
    path: str
    auth: bool
    """Whether the call needs the API key."""
    idempotent: bool
    """Whether retrying after a lost response cannot create a second resource."""
    inferred: bool = False
    """Whether the method and path are our reading rather than the documented contract."""


def _route(operation: str, method: str, path: str, *, auth: bool, inferred: bool = False) -> Route:
    idempotent = method in ("GET", "PUT", "DELETE", "HEAD") or (
        method == "PATCH" and path.startswith("/{submission_id}/")
    )
    return Route(operation, method, path, auth, idempotent, inferred)


ROUTES: dict[str, Route] = {
    # Core workflow.
    "phase1_submit": _route("create a model", "POST", "/phase1/submit", auth=True),
    "phase2_submit": _route("auto-refine a model", "POST", "/phase2/submit", auth=True),
    "phase3_submit": _route("modify a model", "POST", "/phase3/submit", auth=True),
    "phase5_submit": _route("upload a model", "POST", "/phase5/submit", auth=True),
    # Track progress.
    "info": _route("get submission info", "GET", "/{submission_id}/info", auth=False),
    "stream": _route("stream progress", "GET", "/{submission_id}/stream", auth=False),
    "submissions": _route("list submissions", "GET", "/submissions", auth=True),
    # Detail and texture.
    "detailer_submit": _route("detail a model", "POST", "/detailer/submit", auth=True),
    "detailer_remesh": _route("remesh a model", "POST", "/detailer/remesh", auth=True),
    "detailer_retexture": _route("retexture a model", "POST", "/detailer/retexture", auth=True),
    "detailer_reference": _route(
        "fetch the reference image", "GET", "/detailer/reference/{submission_id}", auth=False
    ),
    # Download and export.
    "download": _route("download a submission", "GET", "/{submission_id}/download", auth=False),
    "convert": _route("queue a conversion", "POST", "/convert", auth=False),
    "convert_status": _route("check a conversion", "GET", "/convert/{job_id}", auth=False),
    "convert_download": _route(
        "download a conversion", "GET", "/convert/{job_id}/download", auth=False
    ),
    # Gallery.
    "gallery": _route("list the gallery", "GET", "/gallery", auth=False),
    "gallery_item": _route(
        "get a gallery item", "GET", "/gallery/{item_id}", auth=False, inferred=True
    ),
    "gallery_subtree": _route(
        "get a gallery subtree", "GET", "/gallery/{item_id}/subtree", auth=False, inferred=True
    ),
    "gallery_download": _route(
        "download a gallery asset", "GET", "/gallery/{entity_id}/download", auth=False
    ),
    # Organize.
    "projects": _route("list projects", "GET", "/projects", auth=True),
    "project_create": _route("create a project", "POST", "/projects", auth=True),
    "project_get": _route(
        "get a project", "GET", "/projects/{project_id}", auth=True, inferred=True
    ),
    "project_update": _route(
        "update a project", "PATCH", "/projects/{project_id}", auth=True, inferred=True
    ),
    "project_delete": _route(
        "delete a project", "DELETE", "/projects/{project_id}", auth=True, inferred=True
    ),
    "nickname": _route(
        "set the nickname", "PATCH", "/{submission_id}/nickname", auth=True, inferred=True
    ),
    "archive": _route(
        "archive a submission", "PATCH", "/{submission_id}/archive", auth=True, inferred=True
    ),
    "visibility": _route(
        "change visibility", "PATCH", "/{submission_id}/visibility", auth=True, inferred=True
    ),
    "pin": _route("pin a submission", "PATCH", "/{submission_id}/pin", auth=True, inferred=True),
    "assign_project": _route(
        "assign to a project", "PATCH", "/{submission_id}/project", auth=True, inferred=True
    ),
    "delete_submission": _route(
        "delete a submission", "DELETE", "/{submission_id}", auth=True, inferred=True
    ),
}

SUBMIT_ROUTES = frozenset(
    {
        "phase1_submit",
        "phase2_submit",
        "phase3_submit",
        "phase5_submit",
        "detailer_submit",
        "detailer_remesh",
        "detailer_retexture",
    }
)
"""Calls that start work and count against the per-key request limits."""

WORK_ROUTES = frozenset(ROUTES[name] for name in SUBMIT_ROUTES)
"""The routes of `SUBMIT_ROUTES`, for checks that hold a `Route` rather than its name."""
