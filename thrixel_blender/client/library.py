"""Listing and organising: submissions, projects, nicknames and flags, conversions, gallery.

Built on `Transport`; same threading rule as the rest of the client (any one thread per call).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from . import _http, errors
from .models import (
    CONVERT_FORMATS,
    DOWNLOAD_FORMATS,
    ConversionJob,
    GalleryItem,
    Project,
    SubmissionSummary,
)
from .routes import ROUTES
from .transport import Transport
from .uploads import ProgressCallback
from .validation import validate_choice, validate_id, validate_int_range, validate_text

SUBMISSION_STATUSES = ("queued", "processing", "completed", "failed")
LISTED_PHASES = (1, 2, 3)
"""Phases the submissions list can filter on, as documented."""


class LibraryClient(Transport):
    """Everything around the user's library of submissions."""

    # -----------------------------------------------------------------------
    # Submissions

    def list_submissions(
        self,
        *,
        status: str | None = None,
        phase: int | None = None,
        project_id: str | None = None,
        include_deleted: bool = False,
        limit: int = 50,
        cancel: threading.Event | None = None,
    ) -> list[SubmissionSummary]:
        """Return the submissions owned by the API key, in the service's order.

        Raises:
            ValidationError: a filter is not a documented value.
            AuthError: the API key is missing or invalid.
        """
        params: dict[str, str] = {"limit": str(limit)}
        validate_int_range(limit, "limit", 1, 1000)
        if status is not None:
            validate_choice(status, "status", SUBMISSION_STATUSES)
            params["status"] = status
        if phase is not None:
            validate_choice(phase, "phase", LISTED_PHASES)
            params["phase"] = str(phase)
        if project_id is not None:
            params["project_id"] = validate_id(project_id, "project_id")
        if include_deleted:
            params["include_deleted"] = "true"
        data = self._call("submissions", params=params, cancel=cancel)
        return [SubmissionSummary.from_json(item) for item in _items(data, "submissions")]

    def set_nickname(self, submission_id: str, nickname: str | None) -> dict[str, Any]:
        """Set a submission's display label, or clear it with None."""
        if nickname is not None:
            validate_text(nickname, "nickname", max_length=255)
        body = {"nickname": nickname.strip() or None if nickname is not None else None}
        return self._call("nickname", json=body, submission_id=submission_id)

    def set_archived(self, submission_id: str, archived: bool) -> dict[str, Any]:
        return self._call("archive", json={"is_archived": archived}, submission_id=submission_id)

    def set_visible(self, submission_id: str, visible: bool) -> dict[str, Any]:
        return self._call("visibility", json={"is_visible": visible}, submission_id=submission_id)

    def set_pinned(self, submission_id: str, pinned: bool) -> dict[str, Any]:
        return self._call("pin", json={"is_pinned": pinned}, submission_id=submission_id)

    def assign_project(self, submission_id: str, project_id: str | None) -> dict[str, Any]:
        """Move a submission into a project, or out of any project with None."""
        if project_id is not None:
            validate_id(project_id, "project_id")
        return self._call(
            "assign_project", json={"project_id": project_id}, submission_id=submission_id
        )

    def delete_submission(self, submission_id: str) -> dict[str, Any]:
        """Soft-delete a submission: hidden from lists, data kept."""
        return self._call("delete_submission", submission_id=submission_id)

    # -----------------------------------------------------------------------
    # Projects

    def list_projects(self, *, include_archived: bool = False) -> list[Project]:
        params = {"include_archived": "true"} if include_archived else None
        data = self._call("projects", params=params)
        return [Project.from_json(item) for item in _items(data, "projects")]

    def create_project(self, name: str, description: str | None = None) -> Project:
        validate_text(name, "name", max_length=255, required=True)
        body: dict[str, Any] = {"name": name.strip()}
        if description is not None:
            validate_text(description, "description", max_length=2000)
            body["description"] = description
        return Project.from_json(self._call("project_create", json=body))

    def get_project(self, project_id: str) -> dict[str, Any]:
        """Return the project's metadata with its embedded list of submissions."""
        return self._call("project_get", project_id=project_id)

    def update_project(
        self, project_id: str, *, name: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        """Rename or re-describe a project; at least one of the two is required."""
        body: dict[str, Any] = {}
        if name is not None:
            validate_text(name, "name", max_length=255, required=True)
            body["name"] = name.strip()
        if description is not None:
            validate_text(description, "description", max_length=2000)
            body["description"] = description
        if not body:
            raise errors.ValidationError("Enter a new name or description", field="name")
        return self._call("project_update", json=body, project_id=project_id)

    def delete_project(self, project_id: str) -> dict[str, Any]:
        """Delete a project for good; its submissions are unlinked, not deleted."""
        return self._call("project_delete", project_id=project_id)

    # -----------------------------------------------------------------------
    # Conversions

    def queue_conversion(
        self, submission_id: str, fmt: str, *, force: bool = False
    ) -> ConversionJob:
        """Queue a conversion to FBX, OBJ, STL or USDZ, or return the existing ready job."""
        validate_id(submission_id, "submission_id")
        validate_choice(fmt, "format", CONVERT_FORMATS)
        body = {"submission_id": submission_id, "format": fmt, "force": force}
        return ConversionJob.from_json(self._call("convert", json=body))

    def get_conversion(
        self, job_id: str, *, cancel: threading.Event | None = None
    ) -> ConversionJob:
        return ConversionJob.from_json(self._call("convert_status", job_id=job_id, cancel=cancel))

    def download_conversion(
        self,
        job_id: str,
        dest: Path,
        *,
        cancel: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Download a ready conversion. Raises ConflictError (409) or GoneError (410)."""
        route = ROUTES["convert_download"]
        url = self._url(route, job_id=job_id)
        return self._download(route, url, dest, params=None, cancel=cancel, progress=progress)

    # -----------------------------------------------------------------------
    # Gallery

    def list_gallery(self, *, limit: int = 500) -> list[GalleryItem]:
        validate_int_range(limit, "limit", 1, 5000)
        data = self._call("gallery", params={"limit": str(limit)})
        return [GalleryItem.from_json(item) for item in _items(data, "items")]

    def get_gallery_item(self, item_id: str) -> dict[str, Any]:
        """Return one gallery item with its direct children."""
        return self._call("gallery_item", item_id=item_id)

    def get_gallery_subtree(self, item_id: str) -> list[GalleryItem]:
        """Return a gallery item and all its descendants as a flat list."""
        data = self._call("gallery_subtree", item_id=item_id)
        return [GalleryItem.from_json(item) for item in _items(data, "items")]

    def download_gallery_asset(
        self,
        entity_id: str,
        dest: Path,
        *,
        fmt: str = "glb",
        cancel: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> Path:
        validate_choice(fmt, "format", DOWNLOAD_FORMATS)
        route = ROUTES["gallery_download"]
        url = self._url(route, entity_id=entity_id)
        return self._download(
            route,
            url,
            dest,
            params={"format": fmt},
            cancel=cancel,
            progress=progress,
            expect_glb=fmt == "glb",
            expect_image=fmt in ("thumbnail", "reference_image"),
        )

    # -----------------------------------------------------------------------

    def _call(
        self,
        route_name: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        cancel: threading.Event | None = None,
        **path_params: str,
    ) -> dict[str, Any]:
        route = ROUTES[route_name]
        response = self._send(
            route, self._url(route, **path_params), params=params, json=json, cancel=cancel
        )
        if response.status_code == 204 or not response.content:
            return {}
        if route_name in ("gallery", "gallery_subtree"):
            # The docs call these responses "a flat list" without naming a wrapper object.
            try:
                data = response.json()
            except ValueError:
                data = None
            if isinstance(data, list):
                return {"items": data}
        return _http.decode_json(route, response)


def _items(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Return the list under `key`; the gallery may also respond with a bare list."""
    items = data.get(key)
    if items is None and key == "items":
        items = data.get("gallery") or data.get("subtree")
    if not isinstance(items, list):
        raise errors.InvalidResponseError(f"The response has no {key!r} list")
    return [item for item in items if isinstance(item, dict)]
