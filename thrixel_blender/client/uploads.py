"""A multipart/form-data body that streams a file from disk.

`requests` builds `files=` bodies in memory, which doubles the memory of a 100 MB upload. This
body is a file-like object with a known length: `requests` sends it with a Content-Length header
and reads the file in blocks, so memory use does not grow with the file size.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

from .errors import CancelledError

ProgressCallback = Callable[[int, int | None], None]
"""Called with the bytes done so far and the total, when known."""


def format_bytes(count: int) -> str:
    """Return a byte count as "512 B", "12 KB" or "3.4 MB" (1 KB = 1024 bytes)."""
    if count < 1024:
        return f"{count} B"
    if count < 1024**2:
        return f"{count / 1024:.0f} KB"
    return f"{count / 1024**2:.1f} MB"


class MultipartFileBody:
    """Streamed multipart body holding text fields and one file field."""

    def __init__(
        self,
        fields: Mapping[str, str],
        file_field: str,
        path: Path,
        *,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
        cancel: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.boundary = uuid.uuid4().hex
        self._cancel = cancel
        self._progress = progress
        self._path = path
        self._file_size = path.stat().st_size
        self._head = self._encode_head(fields, file_field, filename or path.name, content_type)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._length = len(self._head) + self._file_size + len(self._tail)
        self._stage = 0
        self._offset = 0
        self._sent = 0
        self._file: BinaryIO | None = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def _encode_head(
        self, fields: Mapping[str, str], file_field: str, filename: str, content_type: str
    ) -> bytes:
        parts: list[bytes] = []
        for name, value in fields.items():
            parts.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"'
                f"\r\n\r\n".encode()
                + value.encode("utf-8")
                + b"\r\n"
            )
        parts.append(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(file_field)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
        )
        return b"".join(parts)

    def read(self, size: int = -1) -> bytes:
        if self._cancel is not None and self._cancel.is_set():
            raise CancelledError("Upload cancelled")
        block = 1024 * 1024 if size is None or size < 0 else size
        if self._stage == 0:
            chunk = self._head[self._offset : self._offset + block]
            self._offset += len(chunk)
            if self._offset >= len(self._head):
                self._stage, self._offset = 1, 0
                self._file = self._path.open("rb")
            return self._count(chunk)
        if self._stage == 1:
            assert self._file is not None
            chunk = self._file.read(block)
            if chunk:
                return self._count(chunk)
            self._file.close()
            self._file = None
            self._stage = 2
        if self._stage == 2:
            chunk = self._tail[self._offset : self._offset + block]
            self._offset += len(chunk)
            if self._offset >= len(self._tail):
                self._stage = 3
            return self._count(chunk)
        return b""

    def _count(self, chunk: bytes) -> bytes:
        self._sent += len(chunk)
        if self._progress is not None:
            self._progress(self._sent, self._length)
        return chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _quote(value: str) -> str:
    """Escape a form-data name or file name the way browsers do (WHATWG multipart encoding)."""
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
