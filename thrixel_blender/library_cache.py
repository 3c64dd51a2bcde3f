"""In-memory cache of the user's library: submissions, projects, the gallery tree, lineages,
thumbnail files and transfers.

Panels draw from this cache only. Background calls fill it, and the pump applies their results
on the main thread, so the cache needs no lock; only `TransferProgress` is written by workers.
No bpy here, so the cache can be tested and timed without Blender.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .client.models import GalleryItem, Project, SubmissionInfo, SubmissionSummary

ACTIVE_STATUSES = frozenset({"queued", "processing"})


def parse_timestamp(text: str | None) -> float | None:
    """Return the POSIX time of an ISO 8601 timestamp such as "2026-04-20T14:32:11Z"."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_age(created: float | None, now: float) -> str:
    """Return a short age such as "just now", "5 min", "3 h" or "12 d"."""
    if created is None:
        return ""
    seconds = max(0.0, now - created)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


@dataclass(frozen=True)
class SubmissionRow:
    """One submission as the browser shows it."""

    submission_id: str
    phase: int
    status: str
    nickname: str | None = None
    prompt: str | None = None
    is_pinned: bool = False
    project_id: str | None = None
    created_at: str | None = None
    created: float | None = None
    """`created_at` as POSIX time, parsed once when the row is stored."""
    is_archived: bool = False
    is_visible: bool = True
    is_deleted: bool = False
    parent_submission_id: str | None = None
    details_loaded: bool = False
    """Whether `/info` filled in the prompt, the parent and the flags the listing lacks."""

    @property
    def label(self) -> str:
        """Name shown in lists: the nickname, else the prompt, else the start of the id."""
        return self.nickname or self.prompt or f"Submission {self.submission_id[:8]}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @classmethod
    def from_summary(cls, summary: SubmissionSummary) -> SubmissionRow:
        raw = summary.raw
        return cls(
            submission_id=summary.submission_id,
            phase=summary.phase,
            status=summary.status,
            nickname=summary.nickname,
            prompt=_prompt_of(raw),
            is_pinned=summary.is_pinned,
            project_id=summary.project_id,
            created_at=summary.created_at,
            created=parse_timestamp(summary.created_at),
            is_archived=raw.get("is_archived") is True,
            is_visible=raw.get("is_visible") is not False,
            is_deleted=raw.get("is_deleted") is True,
            parent_submission_id=_optional_text(raw, "parent_submission_id"),
        )

    def with_info(self, info: SubmissionInfo) -> SubmissionRow:
        """Return this row completed with what `/info` reports."""
        return replace(
            self,
            phase=info.phase or self.phase,
            status=info.status,
            nickname=info.nickname,
            prompt=_prompt_of(info.raw) or self.prompt,
            is_pinned=info.is_pinned,
            is_archived=info.is_archived,
            is_visible=info.is_visible,
            is_deleted=info.is_deleted,
            parent_submission_id=info.parent_submission_id,
            details_loaded=True,
        )


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _prompt_of(raw: Mapping[str, Any]) -> str | None:
    """Return the text that describes a submission: a modification's request, else the task."""
    source = raw.get("input")
    data = source if isinstance(source, Mapping) else raw
    return (
        _optional_text(data, "modification_request")
        or _optional_text(data, "task")
        or _optional_text(raw, "prompt")
    )


@dataclass(frozen=True)
class Filters:
    """Filters of the submissions browser; `None` means any value."""

    status: str | None = None
    phase: int | None = None
    project_id: str | None = None
    include_deleted: bool = False


@dataclass(frozen=True)
class ProjectRow:
    id: str
    name: str
    description: str | None
    is_archived: bool
    submission_count: int
    submission_ids: tuple[str, ...] | None = None
    """The project's submissions from "get a project", once fetched."""

    @classmethod
    def from_project(cls, project: Project) -> ProjectRow:
        return cls(
            project.id,
            project.name,
            project.description,
            project.is_archived,
            project.submission_count,
        )


@dataclass(frozen=True)
class GalleryNode:
    id: str
    parent_id: str | None
    name: str
    prompt: str | None
    phase: int

    @property
    def label(self) -> str:
        return self.name or self.prompt or f"Item {self.id[:8]}"

    @classmethod
    def from_item(cls, item: GalleryItem) -> GalleryNode:
        phase = item.raw.get("phase")
        return cls(
            item.id,
            item.parent_id,
            item.name,
            _prompt_of(item.raw),
            phase if isinstance(phase, int) and not isinstance(phase, bool) else 0,
        )


class TransferProgress:
    """Progress of one download or conversion; workers write it, the panel reads a snapshot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stage = "queued"
        self._fraction: float | None = None

    def set(self, stage: str, fraction: float | None = None) -> None:
        with self._lock:
            self._stage = stage
            self._fraction = fraction

    def snapshot(self) -> tuple[str, float | None]:
        with self._lock:
            return self._stage, self._fraction


@dataclass
class Transfer:
    """A download or conversion the user started, shown until they dismiss it."""

    transfer_id: str
    submission_id: str
    label: str
    format: str
    destination: str
    progress: TransferProgress = field(default_factory=TransferProgress)
    state: str = "running"
    """running, done or failed; set on the main thread."""
    message: str = ""
    path: str = ""
    can_force: bool = False
    """Whether a forced conversion may help: the ready file may be stale or the job failed."""


@dataclass(frozen=True)
class VisibleRow:
    """A row of the filtered, sorted view with what the list shows beside it."""

    row: SubmissionRow
    thumbnail: str | None


class LibraryCache:
    """Everything the library panels draw. Main thread only, except `TransferProgress`."""

    def __init__(self) -> None:
        self.submissions: dict[str, SubmissionRow] = {}
        self.order: list[str] = []
        """Submission ids in the service's order of the last listing."""
        self.listed_filters: Filters | None = None
        self.projects: dict[str, ProjectRow] = {}
        self.gallery: dict[str, GalleryNode] = {}
        self.gallery_children: dict[str | None, list[str]] = {}
        self.expanded: set[str] = set()
        """Gallery items whose children are shown."""
        self.lineages: dict[str, tuple[str, ...]] = {}
        """Submission id -> the chain of parent ids, nearest first."""
        self.thumbnails: dict[str, str] = {}
        """Submission or gallery id -> path of its thumbnail file on disk."""
        self.icons: dict[str, int] = {}
        """Submission or gallery id -> icon id of its loaded preview."""
        self.missing_thumbnails: set[str] = set()
        """Ids the service has no thumbnail for, so they are not asked again."""
        self.transfers: dict[str, Transfer] = {}
        self.loading: set[str] = set()
        """Areas with a request in flight: "submissions", "projects", "gallery", ids."""
        self.errors: dict[str, str] = {}
        """Area -> the message of its last failure, until the next success."""
        self.fetched_at: dict[str, float] = {}
        self.reads = 0
        """How many times a panel read the cache; tests use it to prove draw() reads here."""
        self._version = 0
        self._view_key: tuple[Filters, int] | None = None
        self._view: list[SubmissionRow] = []

    # -----------------------------------------------------------------------
    # Submissions

    def set_submissions(self, rows: Iterable[SubmissionRow], filters: Filters) -> None:
        """Replace the listing; details already fetched for a row are kept."""
        fresh: dict[str, SubmissionRow] = {}
        for row in rows:
            known = self.submissions.get(row.submission_id)
            if known is not None and known.details_loaded:
                row = replace(
                    row,
                    prompt=row.prompt or known.prompt,
                    parent_submission_id=row.parent_submission_id or known.parent_submission_id,
                    is_archived=known.is_archived,
                    is_visible=known.is_visible,
                    is_deleted=row.is_deleted or known.is_deleted,
                    details_loaded=True,
                )
            fresh[row.submission_id] = row
        self.submissions = fresh
        self.order = list(fresh)
        self.listed_filters = filters
        self.fetched_at["submissions"] = time.time()
        self._changed()

    def update_submission(self, submission_id: str, **changes: Any) -> SubmissionRow | None:
        """Change fields of a cached row; returns the new row, or None when it is not cached."""
        row = self.submissions.get(submission_id)
        if row is None:
            return None
        row = replace(row, **changes)
        self.submissions[submission_id] = row
        self._changed()
        return row

    def store_info(self, info: SubmissionInfo) -> SubmissionRow:
        """Store what `/info` returns about a submission, adding a row when it is not listed."""
        row = self.submissions.get(info.submission_id)
        if row is None:
            row = SubmissionRow(
                info.submission_id,
                info.phase,
                info.status,
                created_at=info.created_at,
                created=parse_timestamp(info.created_at),
            )
        row = row.with_info(info)
        self.submissions[info.submission_id] = row
        self._changed()
        return row

    def visible(self, filters: Filters) -> list[SubmissionRow]:
        """Return the rows that pass `filters`: pinned first, then newest first.

        The sorted view is kept until the cache or the filters change, so a panel that redraws
        many times a second sorts once.
        """
        self.reads += 1
        key = (filters, self._version)
        if self._view_key != key:
            rows = [
                self.submissions[submission_id]
                for submission_id in self.order
                if submission_id in self.submissions
                and _passes(self.submissions[submission_id], filters)
            ]
            rows.sort(key=lambda row: (not row.is_pinned, -(row.created or 0.0)))
            self._view = rows
            self._view_key = key
        return self._view

    def get(self, submission_id: str) -> SubmissionRow | None:
        self.reads += 1
        return self.submissions.get(submission_id)

    def icon(self, entity_id: str) -> int:
        """Return the icon id of the entity's thumbnail, or 0 while there is none."""
        self.reads += 1
        return self.icons.get(entity_id, 0)

    def usage_rows(self) -> list[SubmissionRow]:
        """Rows of the last listing, for the rate-limit estimate."""
        return [self.submissions[sid] for sid in self.order if sid in self.submissions]

    # -----------------------------------------------------------------------
    # Projects

    def set_projects(self, projects: Iterable[Project]) -> None:
        known = self.projects
        self.projects = {}
        for project in projects:
            row = ProjectRow.from_project(project)
            previous = known.get(project.id)
            if previous is not None and previous.submission_ids is not None:
                row = replace(row, submission_ids=previous.submission_ids)
            self.projects[project.id] = row
        self.fetched_at["projects"] = time.time()
        self._changed()

    def store_project(self, row: ProjectRow) -> None:
        self.projects[row.id] = row
        self._changed()

    def remove_project(self, project_id: str) -> None:
        self.projects.pop(project_id, None)
        for submission_id, row in list(self.submissions.items()):
            if row.project_id == project_id:
                self.submissions[submission_id] = replace(row, project_id=None)
        self._changed()

    def project_list(self) -> list[ProjectRow]:
        self.reads += 1
        return sorted(self.projects.values(), key=lambda project: project.name.casefold())

    def project_name(self, project_id: str | None) -> str:
        if not project_id:
            return ""
        project = self.projects.get(project_id)
        return project.name if project is not None else f"Project {project_id[:8]}"

    # -----------------------------------------------------------------------
    # Gallery

    def set_gallery(self, items: Iterable[GalleryItem], *, replace_all: bool) -> None:
        """Store gallery items and rebuild the tree from their `parent_id` links."""
        if replace_all:
            self.gallery = {}
        for item in items:
            self.gallery[item.id] = GalleryNode.from_item(item)
        self._rebuild_gallery_tree()
        self.fetched_at["gallery"] = time.time()
        self._changed()

    def _rebuild_gallery_tree(self) -> None:
        children: dict[str | None, list[str]] = {}
        for node in self.gallery.values():
            # An item whose parent is not published is shown as a root.
            parent = node.parent_id if node.parent_id in self.gallery else None
            children.setdefault(parent, []).append(node.id)
        for ids in children.values():
            ids.sort(key=lambda item_id: self.gallery[item_id].label.casefold())
        self.gallery_children = children

    def gallery_rows(self) -> list[tuple[GalleryNode, int]]:
        """Return the expanded part of the gallery tree, depth first, with each node's depth."""
        self.reads += 1
        rows: list[tuple[GalleryNode, int]] = []
        stack = [(item_id, 0) for item_id in reversed(self.gallery_children.get(None, []))]
        seen: set[str] = set()
        while stack:
            item_id, depth = stack.pop()
            if item_id in seen:
                continue
            seen.add(item_id)
            rows.append((self.gallery[item_id], depth))
            if item_id in self.expanded:
                for child in reversed(self.gallery_children.get(item_id, [])):
                    stack.append((child, depth + 1))
        return rows

    def has_children(self, item_id: str) -> bool:
        return bool(self.gallery_children.get(item_id))

    # -----------------------------------------------------------------------

    def clear(self) -> None:
        """Forget everything, as when the add-on is disabled or the key changes."""
        self.__init__()  # type: ignore[misc]

    def _changed(self) -> None:
        self._version += 1


def _passes(row: SubmissionRow, filters: Filters) -> bool:
    if filters.status is not None and row.status != filters.status:
        return False
    if filters.phase is not None and row.phase != filters.phase:
        return False
    if filters.project_id is not None and row.project_id != filters.project_id:
        return False
    return filters.include_deleted or not row.is_deleted


_cache: LibraryCache | None = None


def get() -> LibraryCache:
    """Return the add-on's cache, created on first use."""
    global _cache
    if _cache is None:
        _cache = LibraryCache()
    return _cache


def clear() -> None:
    global _cache
    _cache = None
