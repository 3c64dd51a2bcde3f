"""The Thrixel client: one method per documented operation.

Synchronous and thread-agnostic: the job runner calls it from worker threads, scripts and tests
from anywhere. It starts no threads and never imports `bpy`. Every failure is raised as a
`ThrixelError` subclass (see `errors`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from . import _http, errors
from .glb import check_glb_header
from .library import LibraryClient
from .models import (
    DOWNLOAD_FORMATS,
    DetailRequest,
    Phase1Request,
    Phase2Request,
    Phase3Request,
    RemeshRequest,
    RetextureRequest,
    StreamEvent,
    SubmissionInfo,
    SubmitResult,
)
from .routes import ROUTES, Route
from .sse import SSEFormatError, SSEParser
from .uploads import MultipartFileBody, ProgressCallback
from .validation import validate_choice, validate_id, validate_int_range, validate_text

log = logging.getLogger(__name__)

STREAM_READ_TIMEOUT = 20.0
"""Seconds without any byte (keep-alive comments included) before a stream counts as stalled."""
STREAM_IDLE_TIMEOUT = 90.0
"""Seconds without an event before a stream that only sends keep-alives counts as stalled."""
CONVERSION_READ_TIMEOUT = 300.0
"""Non-GLB formats on `/download` convert while the request waits, which can take minutes."""
MAX_UPLOAD_BYTES = 100 * 1024**2
"""Largest GLB the service accepts for an upload (phase 5)."""


class ThrixelClient(LibraryClient):
    """Client for the Thrixel HTTP API: generation, progress, detailing and downloads here,
    projects, organising, conversions and the gallery in `LibraryClient`.
    """

    def __enter__(self) -> ThrixelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -----------------------------------------------------------------------
    # Core workflow

    def submit_phase1(self, request: Phase1Request) -> SubmitResult:
        """Start a new generation from a prompt or reference images.

        Raises:
            ValidationError: a field breaks the documented rules (checked before sending).
            ThrixelError: the call failed.
        """
        request.validate()
        return self._submit("phase1_submit", request.to_json())

    def submit_phase2(self, request: Phase2Request) -> SubmitResult:
        """Auto-refine a completed phase 1 or 2 submission."""
        request.validate()
        return self._submit("phase2_submit", request.to_json())

    def submit_phase3(self, request: Phase3Request) -> SubmitResult:
        """Apply a text edit to a submission."""
        request.validate()
        return self._submit("phase3_submit", request.to_json())

    def upload_glb(
        self,
        path: Path,
        *,
        task: str | None = None,
        project_id: str | None = None,
        cancel: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> SubmitResult:
        """Upload a GLB file as a phase 5 submission, streaming it from disk.

        Raises:
            ValidationError: the file is missing, not a GLB, or over the 100 MB limit.
            ThrixelError: the call failed.
        """
        self._check_upload(path)
        fields: dict[str, str] = {}
        if task is not None:
            validate_text(task, "task", max_length=2000)
            fields["task"] = task
        if project_id is not None:
            fields["project_id"] = validate_id(project_id, "project_id")
        body = MultipartFileBody(
            fields,
            "glb_file",
            path,
            filename=path.name,
            content_type="model/gltf-binary",
            cancel=cancel,
            progress=progress,
        )
        route = ROUTES["phase5_submit"]
        try:
            response = self._send(
                route,
                self._url(route),
                data=body,
                extra_headers={"Content-Type": body.content_type},
                cancel=cancel,
                read_timeout=120.0,
            )
        finally:
            body.close()
        return SubmitResult.from_json(_http.decode_json(route, response))

    @staticmethod
    def _check_upload(path: Path) -> None:
        if not path.is_file():
            raise errors.ValidationError(f"{path} does not exist", field="glb_file")
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise errors.ValidationError(
                f"{path.name} is {size / 1024**2:,.1f} MB; the service accepts at most "
                f"{MAX_UPLOAD_BYTES // 1024**2} MB. Select fewer or lighter objects",
                field="glb_file",
            )
        try:
            check_glb_header(path)
        except errors.InvalidResponseError as exc:
            raise errors.ValidationError(exc.message, field="glb_file") from exc

    # -----------------------------------------------------------------------
    # Detail and texture

    def submit_detail(self, request: DetailRequest) -> SubmitResult:
        """Detail and texture a completed submission (phase 4)."""
        request.validate()
        return self._submit("detailer_submit", request.to_json())

    def submit_remesh(self, request: RemeshRequest) -> SubmitResult:
        """Re-decimate a completed phase 4 submission."""
        request.validate()
        return self._submit("detailer_remesh", request.to_json())

    def submit_retexture(self, request: RetextureRequest) -> SubmitResult:
        """Regenerate the textures of a completed phase 4 submission."""
        request.validate()
        return self._submit("detailer_retexture", request.to_json())

    def download_reference(
        self, submission_id: str, dest: Path, *, cancel: threading.Event | None = None
    ) -> Path:
        """Download the reference image that guided a phase 4 submission (PNG)."""
        route = ROUTES["detailer_reference"]
        url = self._url(route, submission_id=submission_id)
        return self._download(
            route, url, dest, params=None, cancel=cancel, progress=None, expect_image=True
        )

    # -----------------------------------------------------------------------
    # Track progress

    def get_info(
        self, submission_id: str, *, cancel: threading.Event | None = None
    ) -> SubmissionInfo:
        """Return the status, phase, input and lineage of a submission."""
        route = ROUTES["info"]
        response = self._send(route, self._url(route, submission_id=submission_id), cancel=cancel)
        return SubmissionInfo.from_json(_http.decode_json(route, response))

    def stream(
        self,
        submission_id: str,
        *,
        cancel: threading.Event | None = None,
        idle_timeout: float | None = None,
    ) -> Iterator[StreamEvent]:
        """Yield the progress events of a submission as they arrive.

        Returns when the server closes the stream, which it does after the terminal status; the
        caller checks whether it saw one. Unknown event types are yielded as they are; frames
        whose data is not a JSON object are skipped.

        Raises:
            RequestTimeoutError: no byte for `STREAM_READ_TIMEOUT` seconds, or no event for
                `idle_timeout` seconds (default `STREAM_IDLE_TIMEOUT`).
            ThrixelConnectionError: the connection dropped.
            CancelledError: `cancel` was set or `interrupt()` was called.
        """
        route = ROUTES["stream"]
        url = self._url(route, submission_id=submission_id)
        response = self._send(
            route,
            url,
            cancel=cancel,
            stream=True,
            read_timeout=STREAM_READ_TIMEOUT,
            extra_headers={"Accept": "text/event-stream", "Cache-Control": "no-cache"},
        )
        content_type = response.headers.get("Content-Type", "")
        if "text/event-stream" not in content_type:
            response.close()
            raise errors.InvalidResponseError(
                f"The progress stream responded with {content_type or 'no content type'} "
                "instead of text/event-stream"
            )
        if idle_timeout is None:
            idle_timeout = STREAM_IDLE_TIMEOUT
        yield from self._read_events(route, response, cancel, idle_timeout)

    def _read_events(
        self,
        route: Route,
        response: requests.Response,
        cancel: threading.Event | None,
        idle_timeout: float,
    ) -> Iterator[StreamEvent]:
        parser = SSEParser()
        last_event = time.monotonic()
        chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
        with self._tracked(response):
            try:
                for chunk in response.iter_content(chunk_size=None if chunked else 1):
                    self._raise_if_cancelled(cancel, route)
                    for frame in parser.feed(chunk):
                        event = _decode_event(frame.data)
                        if event is not None:
                            last_event = time.monotonic()
                            yield event
                    if time.monotonic() - last_event > idle_timeout:
                        raise errors.RequestTimeoutError(
                            f"The progress stream sent no event for {idle_timeout:.0f} s"
                        )
            except requests.RequestException as exc:
                self._raise_if_cancelled(cancel, route)
                raise _http.map_transport_error(route, self.config.host, exc) from exc
            except SSEFormatError as exc:
                raise errors.InvalidResponseError(
                    f"The progress stream is not usable: {exc}"
                ) from exc
            except (OSError, AttributeError, ValueError) as exc:
                # A socket shut down by interrupt() surfaces as one of these inside urllib3.
                self._raise_if_cancelled(cancel, route)
                raise errors.ThrixelConnectionError(
                    "The connection dropped while following progress"
                ) from exc
            parser.close()

    # -----------------------------------------------------------------------
    # Downloads

    def download(
        self,
        submission_id: str,
        dest: Path,
        *,
        fmt: str = "glb",
        index: int | None = None,
        cancel: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Download a submission's asset to `dest`, replacing it only when complete.

        The body streams into a temporary file beside `dest`. It is renamed into place only
        when its length matches `Content-Length` and, for GLB, the header and JSON chunk are valid.

        Raises:
            ValidationError: `fmt` or `index` is not a documented value.
            InvalidResponseError: the body was short, too large or not a valid GLB.
            ThrixelError: the call failed.
        """
        validate_choice(fmt, "format", DOWNLOAD_FORMATS)
        params: dict[str, str] = {"format": fmt}
        if index is not None:
            if fmt != "reference_image":
                raise errors.ValidationError(
                    "index applies only to the reference_image format", field="index"
                )
            validate_int_range(index, "index", 0, 5)
            params["index"] = str(index)
        route = ROUTES["download"]
        url = self._url(route, submission_id=submission_id)
        slow = fmt in ("fbx", "obj", "stl", "usdz")
        return self._download(
            route,
            url,
            dest,
            params=params,
            cancel=cancel,
            progress=progress,
            expect_glb=fmt == "glb",
            expect_image=fmt in ("thumbnail", "reference_image"),
            read_timeout=CONVERSION_READ_TIMEOUT if slow else None,
        )


def _decode_event(data: str) -> StreamEvent | None:
    try:
        payload = json.loads(data)
    except json.JSONDecodeError:
        log.debug("Skipping a stream frame that is not JSON: %.80s", data)
        return None
    if not isinstance(payload, dict):
        return None
    return StreamEvent.from_json(payload)


ClientFactory = Callable[[], ThrixelClient]
