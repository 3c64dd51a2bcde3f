"""The submit step of detail, remesh and retexture jobs, run on a worker thread. No bpy.

A job made from scene meshes first uploads the exported GLB (phase 5), then submits the work
with the upload as its parent. The upload's id is kept, and reported to the main thread as an
"uploaded" event, so that neither the runner's rate-limit retries nor a later Retry upload the
same file twice. A job on an existing submission first checks that the parent is in a state
the operation accepts, so a request the service would reject is never sent.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import runtime
from .client import DetailRequest, RemeshRequest, RetextureRequest, SubmitResult, ThrixelClient
from .client.errors import ValidationError
from .jobs import JobEvent, recovery

log = logging.getLogger(__name__)

KINDS = ("detail", "remesh", "retexture")
SAVED_KINDS = (*KINDS, "generate")
"""Kinds whose request is saved for Retry; a "generate" body is a phase 1 request."""
PHASE4_ONLY = frozenset({"remesh", "retexture"})
"""Operations whose parent must be a completed phase 4 submission; detail takes any."""
UPLOAD_MESSAGE_STEP = 0.1
"""Fraction of the upload between two progress messages."""


@dataclass(frozen=True)
class UploadPlan:
    """An exported GLB to upload as the parent of the job's request."""

    path: Path
    task: str
    project_id: str | None = None


@dataclass(frozen=True)
class SavedRequest:
    """Everything needed to send a job's request again, as stored beside its upload."""

    kind: str
    body: dict[str, Any]
    """The request's JSON body; for an upload job its parent id is filled in after upload."""
    upload: UploadPlan | None = None

    def to_json(self) -> dict[str, Any]:
        upload = None
        if self.upload is not None:
            upload = {
                "path": str(self.upload.path),
                "task": self.upload.task,
                "project_id": self.upload.project_id,
            }
        return {"kind": self.kind, "body": self.body, "upload": upload}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SavedRequest:
        upload_data = data.get("upload")
        upload = None
        if isinstance(upload_data, dict):
            upload = UploadPlan(
                Path(str(upload_data["path"])),
                str(upload_data.get("task") or ""),
                upload_data.get("project_id"),
            )
        kind = str(data["kind"])
        if kind not in SAVED_KINDS or not isinstance(data.get("body"), dict):
            raise ValueError(f"not a saved {'/'.join(SAVED_KINDS)} request")
        return cls(kind, dict(data["body"]), upload)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json()), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> SavedRequest:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


class SubmitSelected:
    """Submit function of one detail, remesh or retexture job (worker thread)."""

    def __init__(
        self,
        record_id: str,
        saved: SavedRequest,
        upload_id: str | None = None,
        *,
        adopt_since: datetime | None = None,
        known_ids: frozenset[str] = frozenset(),
    ) -> None:
        self._record_id = record_id
        self._saved = saved
        self._adopt_since = adopt_since
        """When an earlier attempt was sent (Retry): its submission is taken over if found."""
        self._known_ids = known_ids
        """Submissions the open file already follows, which are never taken over."""
        self._lock = threading.Lock()
        self._upload_id = upload_id or None
        self._next_message = 0.0

    def __call__(self, client: ThrixelClient, cancel: threading.Event) -> SubmitResult:
        parent_id = self._parent(client, cancel)
        body = {**self._saved.body, "parent_submission_id": parent_id}
        # A submit that got no response may have created the job: find it, never send twice.
        return recovery.submit_once(
            client,
            cancel,
            submit=lambda: self._send(client, body),
            matches=recovery.parameters_matcher(4, parent_id, body),
            exclude=self._known_ids,
            adopt_since=self._adopt_since,
        )

    def _send(self, client: ThrixelClient, body: dict[str, Any]) -> SubmitResult:
        kind = self._saved.kind
        if kind == "detail":
            return client.submit_detail(DetailRequest(**body))
        if kind == "remesh":
            return client.submit_remesh(RemeshRequest(**body))
        return client.submit_retexture(RetextureRequest(**body))

    def _parent(self, client: ThrixelClient, cancel: threading.Event) -> str:
        upload = self._saved.upload
        with self._lock:
            upload_id = self._upload_id
        if upload_id is not None:
            return upload_id
        if upload is None:
            parent_id = str(self._saved.body["parent_submission_id"])
            check_parent(client, self._saved.kind, parent_id, cancel)
            return parent_id

        self._next_message = 0.0
        result = client.upload_glb(
            upload.path,
            task=upload.task or None,
            project_id=upload.project_id,
            cancel=cancel,
            progress=self._report_upload,
        )
        with self._lock:
            self._upload_id = result.submission_id
        log.info("Uploaded %s as submission %s", upload.path.name, result.submission_id)
        self._emit("uploaded", "Uploaded the selection", payload=result.submission_id)
        # The service stores the model now, so Retry uses the upload's id, not the file.
        upload.path.unlink(missing_ok=True)
        return result.submission_id

    def _report_upload(self, sent: int, total: int | None) -> None:
        if not total:
            return
        fraction = sent / total
        if fraction < self._next_message and sent < total:
            return
        self._next_message = fraction + UPLOAD_MESSAGE_STEP
        megabytes = 1024**2
        self._emit(
            "message",
            f"Uploading the selection: {sent / megabytes:.1f} of {total / megabytes:.1f} MB",
        )

    def _emit(self, kind: str, message: str, payload: object = None) -> None:
        """Report to the main thread through the runner's queue, as the run of this record."""
        state = runtime.get()
        run_id = state.run_of_record(self._record_id)
        if run_id is None or not state.has_runner():
            return
        state.runner.events.put(JobEvent(run_id, kind, message=message, payload=payload))


def check_parent(client: ThrixelClient, kind: str, parent_id: str, cancel: threading.Event) -> None:
    """Raise ValidationError unless the parent is a submission the operation accepts."""
    info = client.get_info(parent_id, cancel=cancel)
    if info.status != "completed":
        raise ValidationError(
            f"The model's submission {parent_id} is {info.status}, not completed, so it "
            f"cannot be used for {kind} yet. Wait until it has completed, then retry",
            field="parent_submission_id",
        )
    if kind in PHASE4_ONLY and info.phase != 4:
        raise ValidationError(
            f"{kind.capitalize()} works only on a detail result (phase 4), but submission "
            f"{parent_id} is phase {info.phase}. Detail the model first",
            field="parent_submission_id",
        )
