"""Turn any failure into the one message the user reads, the same way in every operator."""

from __future__ import annotations

import logging
import re

from . import logs
from .client import errors
from .client.durations import format_duration
from .client.glb import InvalidGLBError

log = logging.getLogger(__name__)

FIELD_LABELS = {
    # Generate
    "task": "prompt",
    "model": "model override",
    "adaptive_thinking": "Adaptive Thinking option",
    "project_id": "project",
    "image": "reference image",
    "images": "reference images",
    # Refine and modify
    "modification_request": "change request",
    # Detail, remesh and retexture
    "prompt": "prompt",
    "seed": "seed",
    "texture_size": "texture size",
    "decimation_target": "triangle count",
    "control_mesh_voxelize_res": "voxel resolution",
    "control_mesh_ss_lat_noise_t0idx": "noise timestep",
    "pipeline_type": "pipeline",
    "focus_on_node_names": "selected parts",
    "focus_mode": "focus mode",
    "apply_to_node_names": "selected parts",
    "mode": "retexture mode",
    "mesh": "control mesh URL",
    # Settings and library
    "base_url": "base URL",
    "name": "name",
    "nickname": "nickname",
    "glb_file": "exported model",
}
"""The name the interface uses for each request field the client names in its messages."""

_INDEXED_FIELD = re.compile(r"(?P<base>[A-Za-z_]+)(?:\[(?P<bracket>\d+)\]|\.(?P<dot>\d+))$")


def user_message(error: BaseException, *, action: str, in_job: bool = False) -> str:
    """Return a message for `error`: what failed, on which value, what to do next.

    `action` names what the user was doing, such as "Generate". `in_job` marks a message
    shown on a job record, whose next step is the Retry button rather than trying again.
    Known errors keep the client's or importer's own wording, with request fields called by
    their names in the interface. Anything else is logged with its traceback and reported
    without internals. The result never contains an API key.
    """
    if isinstance(error, errors.ThrixelError):
        text = _sentence(_with_labels(error, error.message))
        if error.fix:
            text += " " + _sentence(_with_labels(error, error.fix))
        else:
            text += _hint(error, in_job)
    elif isinstance(error, UserFacingError):
        text = _sentence(str(error))
    else:
        log.error("%s failed unexpectedly", action, exc_info=error)
        text = (
            f"{action} failed because of an unexpected error in the add-on. "
            "The details are in the system console."
        )
    return logs.mask_secrets(text)


class UserFacingError(Exception):
    """A failure whose text is already written for the user (import and settings problems)."""


def field_label(field: str) -> str | None:
    """Return the interface's name for request field `field`, or None when it has none.

    An indexed field such as "images[2]" or "images.2" names one entry: "reference image 3".
    """
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    match = _INDEXED_FIELD.fullmatch(field)
    if match is None or match.group("base") not in FIELD_LABELS:
        return None
    index = int(match.group("bracket") or match.group("dot"))
    label = FIELD_LABELS[match.group("base")]
    return f"{label.removesuffix('s')} {index + 1}"


def _with_labels(error: errors.ThrixelError, text: str) -> str:
    """Replace the first mention of a validation error's field with its interface name."""
    field = getattr(error, "field", None)
    label = field_label(field) if isinstance(field, str) else None
    if not field or label is None:
        return text
    pattern = rf"(?<![\w.\[]){re.escape(field)}(?![\w\[])"
    return re.sub(pattern, lambda _match: f"the {label}", text, count=1)


def _hint(error: errors.ThrixelError, in_job: bool) -> str:
    """Return the next step for an error whose own text gives none."""
    again = "press Retry" if in_job else "try again"
    if isinstance(error, errors.RateLimitedError):
        if error.retry_after is not None:
            wait = format_duration(max(1.0, error.retry_after))
            return f" Wait {wait}, then {again}."
        return f" Wait a while, then {again}."
    if isinstance(error, errors.CancelledError | errors.CertificateError):
        return ""
    if isinstance(error, errors.ThrixelConnectionError | errors.RequestTimeoutError):
        return f" Check your network connection, then {again}."
    if isinstance(error, errors.ServerError):
        return f" The problem is on the service's side: {again} in a few minutes."
    if isinstance(error, errors.ConflictError):
        return f" Wait a moment, then {again}."
    if isinstance(error, InvalidGLBError):
        return " Press Retry to download it again." if in_job else " Download it again."
    if isinstance(error, errors.InvalidResponseError):
        return f" {again.capitalize()}; if it keeps failing, the service may be having problems."
    if isinstance(error, errors.NotFoundError):
        return (
            " It may have been deleted: check that it is still listed in your submissions, "
            f"then {again}."
        )
    return ""


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return "Something failed without a reason."
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."
