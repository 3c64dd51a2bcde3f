"""Shared plumbing of the client: URLs, headers, sending, streaming downloads, interrupting.

`Transport` owns one `requests.Session`. `interrupt()` may be called from another thread to cut
a running stream or download short; everything else belongs to the calling thread.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import requests

from . import _http, errors
from .config import ClientConfig
from .glb import read_glb_json
from .models import SubmitResult
from .routes import ROUTES, Route
from .uploads import ProgressCallback
from .validation import validate_id

DOWNLOADED_MODEL = "the downloaded model"
"""Name that messages give a GLB download that failed its checks."""
MAX_DOWNLOAD_BYTES = 2 * 1024**3
"""Ceiling on any download, so a broken or hostile server cannot fill the disk."""


class Transport:
    """Sends calls for the client classes built on it."""

    def __init__(self, config: ClientConfig, *, session: requests.Session | None = None) -> None:
        self.config = config
        self._session = session or requests.Session()
        self._active: set[requests.Response] = set()
        self._active_lock = threading.Lock()
        self._interrupted = threading.Event()

    def close(self) -> None:
        self._session.close()

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
        expect_image: bool = False,
        read_timeout: float | None = None,
    ) -> Path:
        partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            # The file is opened before the request is sent, so an unwritable folder fails
            # without using the network.
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                handle = partial.open("wb")
            except OSError as exc:
                raise errors.local_file_error(dest.parent, exc) from exc
            try:
                response = self._send(
                    route, url, params=params, cancel=cancel, stream=True, read_timeout=read_timeout
                )
                with self._tracked(response):
                    written, expected = self._write_body(
                        route, response, handle, dest.parent, cancel, progress
                    )
            finally:
                _close_file(handle, dest.parent)
            if expected is not None and written != expected:
                raise errors.InvalidResponseError(
                    f"The download was cut short: {written:,} of {expected:,} bytes arrived"
                )
            if expect_glb:
                # The JSON chunk is parsed too, so a damaged file never replaces a good one.
                # Messages name the model, never the temporary file it is written to.
                read_glb_json(partial, label=DOWNLOADED_MODEL)
            if expect_image:
                check_image_header(partial)
            try:
                os.replace(partial, dest)
            except OSError as exc:
                raise errors.local_file_error(dest.parent, exc) from exc
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()
        return dest

    def _write_body(
        self,
        route: Route,
        response: requests.Response,
        handle: BinaryIO,
        folder: Path,
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
            for chunk in response.iter_content(chunk_size=256 * 1024):
                self._raise_if_cancelled(cancel, route)
                try:
                    handle.write(chunk)
                except OSError as exc:
                    # A full disk, or a drive that went away mid-download.
                    raise errors.local_file_error(folder, exc) from exc
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
                source = self.config.key_source or "the client settings"
                raise errors.AuthError(
                    f"An API key is needed to {route.operation}, and {source} has none",
                    fix=f"Enter a key in {source}",
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
        read_timeout: float | None = None,
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
            key_source=self.config.key_source,
            **kwargs,
        )

    def _submit(self, route_name: str, body: dict[str, Any]) -> SubmitResult:
        route = ROUTES[route_name]
        response = self._send(route, self._url(route), json=body)
        return SubmitResult.from_json(_http.decode_json(route, response))


def _close_file(handle: BinaryIO, folder: Path) -> None:
    """Close a download's file; closing writes what is buffered, so it can fail too."""
    try:
        handle.close()
    except OSError as exc:
        raise errors.local_file_error(folder, exc) from exc


IMAGE_MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
"""Leading bytes of PNG and JPEG files, the image formats the service sends."""


def check_image_header(path: Path) -> None:
    """Raise `InvalidResponseError` unless the file starts like a PNG or JPEG image."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head.startswith(IMAGE_MAGICS):
        raise errors.InvalidResponseError("The downloaded image is not a PNG or JPEG file")


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
