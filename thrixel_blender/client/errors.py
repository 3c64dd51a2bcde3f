"""Errors raised by the Thrixel client.

Every failure of a call ends in one of these classes, so callers switch on the type and never
on a `requests` exception or a status code. Messages never contain the API key.
"""

from __future__ import annotations

import errno
from pathlib import Path


class ThrixelError(Exception):
    """Base class of every error the client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        body: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.body = body
        self.fix = fix
        """What to do next, as a sentence, when the client has one; None leaves it to the caller."""

    @property
    def transient(self) -> bool:
        """Whether trying the same call again later may succeed."""
        return False


class ThrixelConnectionError(ThrixelError):
    """The service could not be reached, or the connection dropped mid-response."""

    @property
    def transient(self) -> bool:
        return True


class CertificateError(ThrixelConnectionError):
    """TLS verification failed: the server's certificate is not trusted."""

    @property
    def transient(self) -> bool:
        return False


class RequestTimeoutError(ThrixelError):
    """Connecting or reading took longer than the configured timeout."""

    @property
    def transient(self) -> bool:
        return True


class ValidationError(ThrixelError):
    """The request was rejected before or by the service (400 or 422) because of one field."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        body: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id, body=body, fix=fix)
        self.field = field
        """The API name of the rejected field (such as "task"), as the message writes it."""


class AuthError(ThrixelError):
    """The API key is missing or invalid (401)."""


class ForbiddenError(AuthError):
    """The API key is valid but does not own the resource (403)."""


class NotFoundError(ThrixelError):
    """The id or the path is unknown to the service (404 or 405)."""


class BaseURLError(NotFoundError):
    """The base URL does not lead to the Thrixel API.

    Raised for a 404 or 405 on a documented route that is not the service's own error (a web
    server's page or the generic "Not Found"), and for a redirect of a call that is never
    redirected, such as http:// sent to https:// or a path without /api/v1.
    """


class ConflictError(ThrixelError):
    """The resource is not ready yet (409, a conversion still queued or running)."""

    @property
    def transient(self) -> bool:
        return True


class GoneError(ThrixelError):
    """The resource failed for good (410, a failed conversion)."""


class PayloadTooLargeError(ThrixelError):
    """The upload is larger than the service accepts (413)."""


class RateLimitedError(ThrixelError):
    """Too many requests (429). `retry_after` is the delay in seconds, when the service gave one."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        request_id: str | None = None,
        body: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id, body=body, fix=fix)
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return True


class ServerError(ThrixelError):
    """The service failed (5xx)."""

    @property
    def transient(self) -> bool:
        return True


class InvalidResponseError(ThrixelError):
    """The response could not be used: not JSON, a missing field, a short or corrupt download."""

    @property
    def transient(self) -> bool:
        return True


class LocalFileError(ThrixelError):
    """A file on this computer could not be written, such as a download in its folder."""

    def __init__(self, message: str, *, path: str, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.path = path
        """The folder or file that could not be written."""


def local_file_error(folder: Path, error: OSError) -> LocalFileError:
    """Return a LocalFileError that names `folder` and the reason writing into it failed."""
    reasons = {
        errno.EACCES: ("permission denied", "Choose another folder, or make this one writable"),
        errno.EPERM: ("permission denied", "Choose another folder, or make this one writable"),
        errno.EROFS: ("the disk is read-only", "Choose another folder"),
        errno.ENOSPC: ("the disk is full", "Free some disk space or choose another folder"),
        getattr(errno, "EDQUOT", -1): (
            "the disk quota is used up",
            "Free some space or choose another folder",
        ),
        errno.ENOENT: ("the folder does not exist", "Choose another folder"),
        errno.ENOTDIR: ("part of the path is a file, not a folder", "Choose another folder"),
        errno.EEXIST: ("part of the path is a file, not a folder", "Choose another folder"),
    }
    reason, fix = reasons.get(
        error.errno or 0, (error.strerror or type(error).__name__, "Choose another folder")
    )
    return LocalFileError(f"Cannot write to {folder}: {reason}", path=str(folder), fix=fix)


class CancelledError(ThrixelError):
    """The caller's cancel event was set while the call was running."""
