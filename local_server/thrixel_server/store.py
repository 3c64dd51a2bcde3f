"""The one in-memory store: submissions, projects, conversion jobs, gallery, request log."""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .config import ServerConfig

TERMINAL_STATUSES = frozenset({"completed", "failed"})


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Artifacts:
    """Files a completed submission serves from `/download`."""

    glb: bytes = b""
    thumbnail: bytes = b""
    script: str = ""
    reference_images: list[bytes] = field(default_factory=list)
    converted: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Submission:
    id: str
    owner: str
    phase: int
    input: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    """Facts about the produced model (phase 4: changed node names, triangle counts)."""
    status: str = "queued"
    model: str = "thrixel+"
    parent_submission_id: str | None = None
    project_id: str | None = None
    nickname: str | None = None
    is_archived: bool = False
    is_visible: bool = True
    is_deleted: bool = False
    is_pinned: bool = False
    adaptive_thinking: bool = False
    created_at: datetime = field(default_factory=utc_now)
    completed_at: datetime | None = None
    error: str | None = None
    progress: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    artifacts: Artifacts = field(default_factory=Artifacts)
    original_filename: str | None = None
    file_size_bytes: int | None = None
    fail_after_steps: int | None = None
    """Set by the test hooks: fail once this many progress steps have been emitted."""
    fail_error: str = "Generation failed"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def set_status(self, status: str) -> None:
        self.status = status
        event: dict[str, Any] = {"type": "status", "status": status}
        if status in TERMINAL_STATUSES:
            self.completed_at = utc_now()
        if status == "failed":
            event["error"] = self.error
        self.emit(event)

    def fail(self, error: str) -> None:
        if self.is_terminal:
            return
        self.error = error
        self.set_status("failed")


@dataclass
class Project:
    id: str
    owner: str
    name: str
    description: str | None = None
    is_archived: bool = False
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)


@dataclass
class ConvertJob:
    id: str
    submission_id: str
    format: str
    status: str = "queued"
    error: str | None = None
    data: bytes = b""


@dataclass
class GalleryItem:
    id: str
    name: str
    parent_id: str | None
    prompt: str
    created_at: datetime = field(default_factory=utc_now)
    artifacts: Artifacts = field(default_factory=Artifacts)


@dataclass
class Store:
    """All server state. Route handlers and the life-cycle tasks share it under `lock`."""

    config: ServerConfig
    startup_config: ServerConfig
    submissions: dict[str, Submission] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    convert_jobs: dict[str, ConvertJob] = field(default_factory=dict)
    gallery: dict[str, GalleryItem] = field(default_factory=dict)
    gallery_seed: list[GalleryItem] = field(default_factory=list)
    """The published items the gallery contains at startup and again after each reset."""
    request_log: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    pending_failures: list[dict[str, Any]] = field(default_factory=list)
    pending_conversion_failures: list[str] = field(default_factory=list)
    """Errors for the next conversion jobs to fail with, planned by the test hooks."""
    submit_times: dict[str, list[datetime]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def reset(self) -> None:
        """Forget everything the tests did; the gallery and the startup settings come back."""
        with self.lock:
            self.config = self.startup_config.copy()
            for task in self.tasks:
                task.cancel()
            self.submissions.clear()
            self.projects.clear()
            self.convert_jobs.clear()
            self.request_log.clear()
            self.faults.clear()
            self.pending_failures.clear()
            self.pending_conversion_failures.clear()
            self.submit_times.clear()
            self.gallery = {item.id: item for item in self.gallery_seed}

    def add_submission(self, submission: Submission) -> Submission:
        with self.lock:
            if self.pending_failures:
                planned = self.pending_failures.pop(0)
                submission.fail_after_steps = planned["after_steps"]
                submission.fail_error = planned["error"]
            self.submissions[submission.id] = submission
            # The rolling hourly and daily limits count accepted submissions.
            self.submit_times.setdefault(submission.owner, []).append(utc_now())
        return submission

    def owner_for_key(self, key: str) -> str | None:
        return self.config.api_keys.get(key)
