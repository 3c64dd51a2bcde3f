"""The submit step of detail, remesh and retexture jobs, run on a worker thread. No bpy.

A job made from scene meshes first uploads the exported GLB (phase 5), then submits the work
with the upload as its parent. The upload's id is kept, written into the saved request and
reported to the main thread as an "uploaded" event, so that neither the runner's rate-limit
retries nor a later Retry upload the same file twice. The id is written even when the job was
cancelled or its file closed meanwhile, and Retry also looks for an upload whose id never
arrived before it uploads again. A job on an existing submission first checks that the parent
is in a state the operation accepts, so a request the service would reject is never sent.
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
from .client.errors import CancelledError, ThrixelError, ValidationError
from .client.uploads import format_bytes
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
    size: int | None = None
    """The file's size in bytes, to recognise the upload on the service after the file is gone."""


@dataclass(frozen=True)
class SavedRequest:
    """Everything needed to send a job's request again, as stored beside its upload."""

    kind: str
    body: dict[str, Any]
    """The request's JSON body; for an upload job its parent id is filled in after upload."""
    upload: UploadPlan | None = None

    @property
    def upload_id(self) -> str | None:
        """The id of the upload this request was made from, once it is known."""
        if self.upload is None:
            return None
        return str(self.body.get("parent_submission_id") or "") or None

    def with_upload_id(self, upload_id: str) -> SavedRequest:
        return SavedRequest(
            self.kind, {**self.body, "parent_submission_id": upload_id}, self.upload
        )

    def to_json(self) -> dict[str, Any]:
        upload = None
        if self.upload is not None:
            upload = {
                "path": str(self.upload.path),
                "task": self.upload.task,
                "project_id": self.upload.project_id,
                "size": self.upload.size,
            }
        return {"kind": self.kind, "body": self.body, "upload": upload}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SavedRequest:
        upload_data = data.get("upload")
        upload = None
        if isinstance(upload_data, dict):
            size = upload_data.get("size")
            upload = UploadPlan(
                Path(str(upload_data["path"])),
                str(upload_data.get("task") or ""),
                upload_data.get("project_id"),
                size if isinstance(size, int) and not isinstance(size, bool) else None,
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


_uploads_lock = threading.Lock()
_uploads_running: dict[str, threading.Event] = {}
"""Uploads being sent in this session, by the exported file's path (unique per export)."""
_uploads_done: dict[str, str] = {}
"""Exported file's path -> id of its finished upload, in this session."""


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
        request_path: Path | None = None,
    ) -> None:
        self._record_id = record_id
        self._saved = saved
        self._request_path = request_path
        """Where the saved request is, to write the upload's id into as soon as it is known."""
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

        # A cancelled attempt's worker may still be sending this file: its id is used.
        earlier_id = self._wait_for_earlier_upload(upload, cancel)
        if earlier_id is not None:
            log.info("Using upload %s of an earlier attempt", earlier_id)
            return self._keep_upload_id(earlier_id)
        # An earlier attempt's upload may have reached the service without its id arriving,
        # because the job was cancelled or its file closed. Such an upload is taken over.
        result = recovery.submit_once(
            client,
            cancel,
            submit=lambda: self._upload(client, cancel, upload),
            matches=recovery.upload_matcher(upload.path.name, upload.task or None, upload.size),
            exclude=self._known_ids,
            adopt_since=self._adopt_since,
        )
        log.info("Upload %s is submission %s", upload.path.name, result.submission_id)
        # The file stays until the job's result is placed or the job is removed, so that an
        # upload whose id was lost can still be recognised by name, size and label.
        return self._keep_upload_id(result.submission_id)

    def _keep_upload_id(self, upload_id: str) -> str:
        with self._lock:
            self._upload_id = upload_id
        self._record_upload_id(upload_id)
        self._emit("uploaded", "Uploaded the selection", payload=upload_id)
        return upload_id

    def _wait_for_earlier_upload(self, upload: UploadPlan, cancel: threading.Event) -> str | None:
        """Wait for an upload of the same file still running in this session; return its id."""
        key = str(upload.path)
        with _uploads_lock:
            running = _uploads_running.get(key)
        if running is not None:
            self._emit("message", "Waiting for the earlier upload of this selection to finish")
            while not running.wait(0.2):
                if cancel.is_set():
                    raise CancelledError("Cancelled while waiting for the earlier upload")
        with _uploads_lock:
            return _uploads_done.get(key)

    def _upload(self, client: ThrixelClient, cancel: threading.Event, upload: UploadPlan) -> Any:
        if not upload.path.is_file():
            raise ThrixelError(
                "The exported selection of this job is no longer on disk, and the service has "
                "no upload of it, so it cannot be sent again",
                fix="Select the objects and send them again from the Selected panel",
            )
        self._next_message = 0.0
        key = str(upload.path)
        finished = threading.Event()
        with _uploads_lock:
            _uploads_running[key] = finished
        try:
            result = client.upload_glb(
                upload.path,
                task=upload.task or None,
                project_id=upload.project_id,
                cancel=cancel,
                progress=self._report_upload,
            )
            with _uploads_lock:
                _uploads_done[key] = result.submission_id
            return result
        finally:
            with _uploads_lock:
                if _uploads_running.get(key) is finished:
                    del _uploads_running[key]
            finished.set()

    def _record_upload_id(self, upload_id: str) -> None:
        """Write the upload's id into the saved request, which no cancel or file load drops."""
        if self._request_path is None:
            return
        try:
            self._saved.with_upload_id(upload_id).write(self._request_path)
        except OSError as error:
            log.warning("Could not save upload %s to %s: %s", upload_id, self._request_path, error)

    def _report_upload(self, sent: int, total: int | None) -> None:
        # The multipart body passes its length with every call; None never comes from it.
        if not total:
            return
        fraction = sent / total
        if fraction < self._next_message and sent < total:
            return
        self._next_message = fraction + UPLOAD_MESSAGE_STEP
        self._emit(
            "message", f"Uploading the selection: {format_bytes(sent)} of {format_bytes(total)}"
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
