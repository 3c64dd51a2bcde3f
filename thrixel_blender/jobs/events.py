"""Job specifications and the events workers report; plain data that crosses threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client import SubmitResult, ThrixelClient
from ..client.errors import ThrixelError

SubmitFunction = Callable[[ThrixelClient, threading.Event], SubmitResult]
"""Starts the remote work and returns the new submission; runs on a worker thread."""

CallFunction = Callable[[ThrixelClient, threading.Event], Any]
"""Any short request (a listing, a key check) run on a worker thread."""

EVENT_KINDS = frozenset(
    {
        "queued",  # waiting locally for a free worker or a free slot in the rate limit
        "submitted",  # submission_id is known
        "status",  # the remote status changed
        "progress",  # progress fraction and message
        "message",  # a log line from the service or the runner
        "completed",  # files contains the downloaded results
        "failed",  # message is ready to show; error contains the exception
        "cancelled",
        "result",  # the return value of a call, in payload
        "uploaded",  # a submit function uploaded a file; payload contains the upload's id
    }
)


@dataclass
class JobSpec:
    """One piece of remote work to follow to its end."""

    job_id: str
    """Local id, unique per job, chosen by the caller."""
    kind: str
    """Kind of work, such as "generate" or "detail"; only reported back."""
    dest_dir: Path
    """Folder for the downloaded result files."""
    submit: SubmitFunction | None = None
    """Starts the work; None when resuming a job whose submission already exists."""
    submission_id: str | None = None
    downloads: tuple[str, ...] = ("glb", "thumbnail")
    """Formats to download once the submission completes; the first one is required."""


@dataclass(frozen=True)
class JobEvent:
    """One state change of a job, put on the runner's queue by a worker."""

    job_id: str
    kind: str
    submission_id: str | None = None
    status: str | None = None
    progress: float | None = None
    message: str = ""
    files: dict[str, str] = field(default_factory=dict)
    error: ThrixelError | None = None
    retry_after: float | None = None
    """Seconds until the runner tries again, when it is waiting out a rate limit."""
    payload: Any = None
