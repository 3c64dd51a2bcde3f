"""Client for the Thrixel HTTP API, usable from plain Python.

No `bpy` and no threads of its own; see `api.ThrixelClient`.
"""

from . import errors
from .api import MAX_UPLOAD_BYTES, ClientFactory, ThrixelClient
from .config import DEFAULT_BASE_URL, ClientConfig, is_loopback_host, normalize_base_url
from .models import (
    CONVERT_FORMATS,
    DOWNLOAD_FORMATS,
    TERMINAL_STATUSES,
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

__all__ = [
    "CONVERT_FORMATS",
    "DEFAULT_BASE_URL",
    "DOWNLOAD_FORMATS",
    "MAX_UPLOAD_BYTES",
    "ROUTES",
    "TERMINAL_STATUSES",
    "ClientConfig",
    "ClientFactory",
    "DetailRequest",
    "Phase1Request",
    "Phase2Request",
    "Phase3Request",
    "RemeshRequest",
    "RetextureRequest",
    "Route",
    "StreamEvent",
    "SubmissionInfo",
    "SubmitResult",
    "ThrixelClient",
    "errors",
    "is_loopback_host",
    "normalize_base_url",
]
