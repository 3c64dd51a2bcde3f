"""The Thrixel client: one method per documented operation.

Synchronous and thread-agnostic: the job runner calls it from worker threads, scripts and tests
from anywhere. It starts no threads and never imports `bpy`. Every failure is raised as a
`ThrixelError` subclass (see `errors`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import requests

from . import _http, errors
from .config import ClientConfig
from .glb import check_glb_header
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
from .sse import SSEParser
from .uploads import MultipartFileBody, ProgressCallback
from .validation import validate_choice, validate_id, validate_int_range, validate_text

log = logging.getLogger(__name__)

STREAM_READ_TIMEOUT = 20.0
"""Seconds without any byte (keep-alive comments included) before a stream counts as stalled."""
STREAM_IDLE_TIMEOUT = 90.0
"""Seconds without an event before a stream that only sends keep-alives counts as stalled."""
CONVERSION_READ_TIMEOUT = 300.0
"""Non-GLB formats on `/download` convert while the request waits, which can take minutes."""
MAX_DOWNLOAD_BYTES = 2 * 1024**3
"""Ceiling on any download, so a broken or hostile server cannot fill the disk."""
MAX_UPLOAD_BYTES = 100 * 1024**2
"""Largest GLB the service accepts for an upload (phase 5)."""


class ThrixelClient:
    """Client for the Thrixel HTTP API.

    One instance holds one `requests.Session`. `interrupt()` may be called from another thread
    to cut a running stream or download short; everything else belongs to the calling thread.
    """

    def __init__(self, config: ClientConfig, *, session: requests.Session | None = None) -> None:
        self.config = config
        self._session = session or requests.Session()
        self._active: set[requests.Response] = set()
        self._active_lock = threading.Lock()
        self._interrupted = threading.Event()

    def close(self) -> None:
        self._session.close()

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
        return self._download(route, url, dest, params=None, cancel=cancel, progress=None)

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
        idle_timeout: float = STREAM_IDLE_TIMEOUT,
    ) -> Iterator[StreamEvent]:
        """Yield the progress events of a submission as they arrive.

        Returns when the server closes the stream, which it does after the terminal status; the
        caller checks whether it saw one. Unknown event types are yielded as they are; frames
        whose data is not a JSON object are skipped.

        Raises:
            RequestTimeoutError: no byte for `STREAM_READ_TIMEOUT` seconds, or no event for
                `idle_timeout` seconds.
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
                f"The progress stream answered with {content_type or 'no content type'} "
                "instead of text/event-stream"
            )
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
            except (OSError, AttributeError, ValueError) as exc:
                # A socket shut down by interrupt() surfaces as one of these inside urllib3.
                self._raise_if_cancelled(cancel, route)
                raise errors.ThrixelConnectionError(
                    "The connection dropped while following progress"
                ) from exc
            parser.close()

    def list_submissions(
        self,
        *,
        status: str | None = None,
        phase: int | None = None,
        project_id: str | None = None,
        include_deleted: bool = False,
        limit: int = 50,
        cancel: threading.Event | None = None,
    ) -> list[dict[str, Any]]:
        """Return the submissions owned by the API key, newest first as the service orders them.

        Raises:
            ValidationError: a filter is not a documented value.
            AuthError: the API key is missing or invalid.
        """
        params: dict[str, str] = {"limit": str(limit)}
        if status is not None:
            validate_choice(status, "status", ("queued", "processing", "completed", "failed"))
            params["status"] = status
        if phase is not None:
            validate_choice(phase, "phase", (1, 2, 3))
            params["phase"] = str(phase)
        if project_id is not None:
            params["project_id"] = validate_id(project_id, "project_id")
        if include_deleted:
            params["include_deleted"] = "true"
        validate_int_range(limit, "limit", 1, 1000)
        route = ROUTES["submissions"]
        response = self._send(route, self._url(route), params=params, cancel=cancel)
        data = _http.decode_json(route, response)
        items = data.get("submissions")
        if not isinstance(items, list):
            raise errors.InvalidResponseError("The submissions list has no 'submissions' array")
        return [item for item in items if isinstance(item, dict)]

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
        when its length matches `Content-Length` and, for GLB, the GLB header is valid.

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
            read_timeout=CONVERSION_READ_TIMEOUT if slow else _http.READ_TIMEOUT,
        )

    def _download(
        self,
        route: Route,
        url: str,
        dest: Path,
        *,
        params: Mapping[str, str] | None,
        cancel: threading.Event | None,
        progress: ProgressCallback | None,
        expect_glb: bool = False,
        read_timeout: float = _http.READ_TIMEOUT,
    ) -> Path:
        response = self._send(
            route, url, params=params, cancel=cancel, stream=True, read_timeout=read_timeout
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with self._tracked(response):
                written, expected = self._write_body(route, response, partial, cancel, progress)
            if expected is not None and written != expected:
                raise errors.InvalidResponseError(
                    f"The download of {dest.name} was cut short: "
                    f"{written:,} of {expected:,} bytes arrived. Try again"
                )
            if expect_glb:
                check_glb_header(partial)
            os.replace(partial, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        return dest

    def _write_body(
        self,
        route: Route,
        response: requests.Response,
        partial: Path,
        cancel: threading.Event | None,
        progress: ProgressCallback | None,
    ) -> tuple[int, int | None]:
        expected = _content_length(response)
        if expected is not None and expected > MAX_DOWNLOAD_BYTES:
            raise errors.InvalidResponseError(
                f"The download is {expected:,} bytes, over the {MAX_DOWNLOAD_BYTES:,}-byte ceiling"
            )
        written = 0
        try:
            with partial.open("wb") as handle:
                for chunk in response.iter_content(chunk_size=256 * 1024):
                    self._raise_if_cancelled(cancel, route)
                    handle.write(chunk)
                    written += len(chunk)
                    if written > MAX_DOWNLOAD_BYTES:
                        raise errors.InvalidResponseError(
                            f"The download passed the {MAX_DOWNLOAD_BYTES:,}-byte ceiling"
                        )
                    if progress is not None:
                        progress(written, expected)
        except requests.RequestException as exc:
            self._raise_if_cancelled(cancel, route)
            raise _http.map_transport_error(route, self.config.host, exc) from exc
        except (AttributeError, ValueError) as exc:
            self._raise_if_cancelled(cancel, route)
            raise errors.ThrixelConnectionError("The connection dropped mid-download") from exc
        return written, expected

    # -----------------------------------------------------------------------
    # Transport

    def interrupt(self) -> None:
        """Cut every running stream and download of this client short (any thread)."""
        self._interrupted.set()
        with self._active_lock:
            responses = list(self._active)
        for response in responses:
            _shutdown_socket(response)

    @contextlib.contextmanager
    def _tracked(self, response: requests.Response) -> Iterator[None]:
        with self._active_lock:
            self._active.add(response)
        try:
            yield
        finally:
            with self._active_lock:
                self._active.discard(response)
            response.close()

    def _raise_if_cancelled(self, cancel: threading.Event | None, route: Route) -> None:
        if self._interrupted.is_set() or (cancel is not None and cancel.is_set()):
            raise errors.CancelledError(f"Cancelled while trying to {route.operation}")

    def _url(self, route: Route, **path_params: str) -> str:
        checked = {name: validate_id(value, name) for name, value in path_params.items()}
        return self.config.base_url + route.path.format(**checked)

    def _headers(self, route: Route) -> dict[str, str]:
        headers = {"User-Agent": self.config.user_agent, "Accept": "application/json"}
        if route.auth:
            if not self.config.api_key:
                raise errors.AuthError(
                    f"An API key is needed to {route.operation}: "
                    "enter one in the add-on preferences"
                )
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    def _send(
        self,
        route: Route,
        url: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        cancel: threading.Event | None = None,
        stream: bool = False,
        read_timeout: float = _http.READ_TIMEOUT,
        **kwargs: Any,
    ) -> requests.Response:
        self._raise_if_cancelled(cancel, route)
        headers = self._headers(route)
        headers.update(extra_headers or {})
        return _http.send(
            self._session,
            route,
            url,
            host=self.config.host,
            headers=headers,
            proxies=self.config.proxies,
            verify=self.config.verify,
            policy=self.config.retry,
            cancel=cancel,
            stream=stream,
            read_timeout=read_timeout,
            **kwargs,
        )

    def _submit(self, route_name: str, body: dict[str, Any]) -> SubmitResult:
        route = ROUTES[route_name]
        response = self._send(route, self._url(route), json=body)
        return SubmitResult.from_json(_http.decode_json(route, response))


def _decode_event(data: str) -> StreamEvent | None:
    try:
        payload = json.loads(data)
    except json.JSONDecodeError:
        log.debug("Skipping a stream frame that is not JSON: %.80s", data)
        return None
    if not isinstance(payload, dict):
        return None
    return StreamEvent.from_json(payload)


def _content_length(response: requests.Response) -> int | None:
    if response.headers.get("Content-Encoding", "identity") not in ("", "identity"):
        return None
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _shutdown_socket(response: requests.Response) -> None:
    """Wake a thread blocked reading `response` by shutting its socket down."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        return
    with contextlib.suppress(Exception):
        response.close()


ClientFactory = Callable[[], ThrixelClient]
