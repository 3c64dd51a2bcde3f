"""Typed requests and results of the Thrixel API.

Requests are dataclasses with a `validate()` that checks what the docs constrain and a
`to_json()` that leaves out unset fields, so the service applies its own defaults. Results are
built from the service's JSON with `from_json()`, which raises `InvalidResponseError` when a
required field is missing; the whole response stays in `raw`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidResponseError, ValidationError
from .validation import (
    validate_choice,
    validate_id,
    validate_image_reference,
    validate_images,
    validate_int_range,
    validate_node_names,
    validate_text,
)

TERMINAL_STATUSES = frozenset({"completed", "failed"})
"""Submission statuses after which nothing changes."""

TEXTURE_SIZES = (512, 768, 1024, 2048)
PIPELINE_TYPES = ("1024_cascade", "1536_cascade")
FOCUS_MODES = ("latent", "sparse_structure")
RETEXTURE_MODES = ("rebake", "regenerate", "rebake_texture")
DOWNLOAD_FORMATS = ("glb", "fbx", "obj", "stl", "usdz", "py", "thumbnail", "reference_image")
CONVERT_FORMATS = ("fbx", "obj", "stl", "usdz")

MAX_TEXT_LENGTH = 2000
"""Longest `task` the docs allow for an upload; used for every free-text field."""


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _require(data: Mapping[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise InvalidResponseError(
            f"The service's response has no valid {key!r} field", body=repr(dict(data))[:200]
        )
    return value


# ---------------------------------------------------------------------------
# Requests


@dataclass
class Phase1Request:
    """Create a model from a prompt, one reference image, or up to six."""

    task: str | None = None
    image: str | None = None
    images: list[str] | None = None
    model: str | None = None
    project_id: str | None = None
    adaptive_thinking: bool = False

    def validate(self) -> None:
        has_task = self.task is not None and self.task.strip() != ""
        if not has_task and self.image is None and not self.images:
            raise ValidationError(
                "There is nothing to generate from",
                field="task",
                fix="Enter a prompt or choose a reference image",
            )
        if self.task is not None:
            validate_text(self.task, "task", max_length=MAX_TEXT_LENGTH)
        validate_images(self.image, self.images)
        if self.model is not None:
            validate_text(self.model, "model", max_length=255, required=True)
        if self.project_id is not None:
            validate_id(self.project_id, "project_id")

    def to_json(self) -> dict[str, Any]:
        task = self.task.strip() if self.task is not None and self.task.strip() else None
        return _compact(
            {
                "task": task,
                "image": self.image,
                "images": self.images,
                "model": self.model,
                "project_id": self.project_id,
                "adaptive_thinking": self.adaptive_thinking,
            }
        )


@dataclass
class Phase2Request:
    """Auto-refine a completed phase 1 or 2 submission."""

    parent_submission_id: str
    project_id: str | None = None
    adaptive_thinking: bool = False

    def validate(self) -> None:
        validate_id(self.parent_submission_id, "parent_submission_id")
        if self.project_id is not None:
            validate_id(self.project_id, "project_id")

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "parent_submission_id": self.parent_submission_id,
                "project_id": self.project_id,
                "adaptive_thinking": self.adaptive_thinking,
            }
        )


@dataclass
class Phase3Request:
    """Apply a natural-language edit to a submission."""

    parent_submission_id: str
    modification_request: str
    project_id: str | None = None
    adaptive_thinking: bool = False

    def validate(self) -> None:
        validate_id(self.parent_submission_id, "parent_submission_id")
        validate_text(
            self.modification_request,
            "modification_request",
            max_length=MAX_TEXT_LENGTH,
            required=True,
        )
        if self.project_id is not None:
            validate_id(self.project_id, "project_id")

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "parent_submission_id": self.parent_submission_id,
                "modification_request": self.modification_request.strip(),
                "project_id": self.project_id,
                "adaptive_thinking": self.adaptive_thinking,
            }
        )


@dataclass
class DetailRequest:
    """Detail and texture a submission (phase 4). Unset options take the service's defaults."""

    parent_submission_id: str
    image: str | None = None
    mesh: str | None = None
    prompt: str | None = None
    seed: int | None = None
    texture_size: int | None = None
    control_mesh_voxelize_res: int | None = None
    decimation_target: int | None = None
    pipeline_type: str | None = None
    control_mesh_ss_lat_noise_t0idx: int | None = None
    preserve_parts: bool | None = None
    focus_on_node_names: list[str] = field(default_factory=list)
    focus_mode: str | None = None
    project_id: str | None = None

    def validate(self) -> None:
        validate_id(self.parent_submission_id, "parent_submission_id")
        if self.image is not None:
            validate_image_reference(self.image, "image")
        if self.mesh is not None and not self.mesh:
            raise ValidationError("mesh is empty", field="mesh")
        if self.prompt is not None:
            validate_text(self.prompt, "prompt", max_length=MAX_TEXT_LENGTH)
        if self.seed is not None:
            validate_int_range(self.seed, "seed", 0, 999_999)
        if self.texture_size is not None:
            validate_choice(self.texture_size, "texture_size", TEXTURE_SIZES)
        if self.control_mesh_voxelize_res is not None:
            validate_int_range(
                self.control_mesh_voxelize_res, "control_mesh_voxelize_res", 256, 2048
            )
        if self.decimation_target is not None:
            validate_int_range(self.decimation_target, "decimation_target", 10_000, 500_000)
        if self.pipeline_type is not None:
            validate_choice(self.pipeline_type, "pipeline_type", PIPELINE_TYPES)
        if self.control_mesh_ss_lat_noise_t0idx is not None:
            validate_int_range(
                self.control_mesh_ss_lat_noise_t0idx, "control_mesh_ss_lat_noise_t0idx", 0, 12
            )
        validate_node_names(self.focus_on_node_names, "focus_on_node_names")
        if self.focus_mode is not None:
            validate_choice(self.focus_mode, "focus_mode", FOCUS_MODES)
        if self.project_id is not None:
            validate_id(self.project_id, "project_id")

    def to_json(self) -> dict[str, Any]:
        body = _compact(
            {
                "parent_submission_id": self.parent_submission_id,
                "image": self.image,
                "mesh": self.mesh,
                "prompt": self.prompt,
                "seed": self.seed,
                "texture_size": self.texture_size,
                "control_mesh_voxelize_res": self.control_mesh_voxelize_res,
                "decimation_target": self.decimation_target,
                "pipeline_type": self.pipeline_type,
                "control_mesh_ss_lat_noise_t0idx": self.control_mesh_ss_lat_noise_t0idx,
                "preserve_parts": self.preserve_parts,
                "focus_mode": self.focus_mode,
                "project_id": self.project_id,
            }
        )
        if self.focus_on_node_names:
            body["focus_on_node_names"] = list(self.focus_on_node_names)
        return body


@dataclass
class RemeshRequest:
    """Re-decimate a completed phase 4 submission."""

    parent_submission_id: str
    decimation_target: int | None = None
    remesh: bool | None = None
    project_id: str | None = None

    def validate(self) -> None:
        validate_id(self.parent_submission_id, "parent_submission_id")
        if self.decimation_target is not None:
            validate_int_range(self.decimation_target, "decimation_target", 10_000, 500_000)
        if self.project_id is not None:
            validate_id(self.project_id, "project_id")

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "parent_submission_id": self.parent_submission_id,
                "decimation_target": self.decimation_target,
                "remesh": self.remesh,
                "project_id": self.project_id,
            }
        )


@dataclass
class RetextureRequest:
    """Regenerate the textures of a completed phase 4 submission."""

    parent_submission_id: str
    texture_size: int | None = None
    mode: str | None = None
    image: str | None = None
    apply_to_node_names: list[str] = field(default_factory=list)
    project_id: str | None = None

    def validate(self) -> None:
        validate_id(self.parent_submission_id, "parent_submission_id")
        if self.texture_size is not None:
            validate_choice(self.texture_size, "texture_size", TEXTURE_SIZES)
        if self.mode is not None:
            validate_choice(self.mode, "mode", RETEXTURE_MODES)
        if self.mode == "regenerate" and self.image is None:
            raise ValidationError(
                "The regenerate mode needs a reference image: choose an image file "
                "or an image in this file",
                field="image",
            )
        if self.image is not None:
            validate_image_reference(self.image, "image")
        validate_node_names(self.apply_to_node_names, "apply_to_node_names")
        if self.project_id is not None:
            validate_id(self.project_id, "project_id")

    def to_json(self) -> dict[str, Any]:
        body = _compact(
            {
                "parent_submission_id": self.parent_submission_id,
                "texture_size": self.texture_size,
                "mode": self.mode,
                "image": self.image,
                "project_id": self.project_id,
            }
        )
        if self.apply_to_node_names:
            body["apply_to_node_names"] = list(self.apply_to_node_names)
        return body


# ---------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class SubmitResult:
    """The response to any submit call."""

    submission_id: str
    status: str
    created_at: str | None
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubmitResult:
        submission_id = validate_response_id(_require(data, "submission_id", str))
        status = data.get("status")
        created_at = data.get("created_at")
        return cls(
            submission_id=submission_id,
            status=status if isinstance(status, str) else "queued",
            created_at=created_at if isinstance(created_at, str) else None,
            raw=dict(data),
        )


@dataclass(frozen=True)
class SubmissionInfo:
    """Status, phase, input and lineage of one submission, from `/{id}/info`."""

    submission_id: str
    phase: int
    status: str
    model: str | None
    input: dict[str, Any]
    parent_submission_id: str | None
    nickname: str | None
    is_archived: bool
    is_visible: bool
    is_deleted: bool
    is_pinned: bool
    adaptive_thinking: bool
    created_at: str | None
    completed_at: str | None
    error: str | None
    raw: dict[str, Any]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubmissionInfo:
        submission_id = validate_response_id(_require(data, "submission_id", str))
        status = _require(data, "status", str)
        phase = data.get("phase")
        parent = data.get("parent_submission_id")
        input_data = data.get("input")
        return cls(
            submission_id=submission_id,
            phase=phase if isinstance(phase, int) and not isinstance(phase, bool) else 0,
            status=status,
            model=_optional_str(data, "model"),
            input=dict(input_data) if isinstance(input_data, Mapping) else {},
            parent_submission_id=validate_response_id(parent) if isinstance(parent, str) else None,
            nickname=_optional_str(data, "nickname"),
            is_archived=data.get("is_archived") is True,
            is_visible=data.get("is_visible") is not False,
            is_deleted=data.get("is_deleted") is True,
            is_pinned=data.get("is_pinned") is True,
            adaptive_thinking=data.get("adaptive_thinking") is True,
            created_at=_optional_str(data, "created_at"),
            completed_at=_optional_str(data, "completed_at"),
            error=_optional_str(data, "error"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class StreamEvent:
    """One JSON event from `/{id}/stream`: progress, status or log."""

    type: str
    percent: float | None = None
    """Progress as a fraction from 0 to 1, clamped."""
    message: str | None = None
    status: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.type == "status" and self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StreamEvent:
        kind = data.get("type")
        percent = data.get("percent")
        number = float(percent) if isinstance(percent, (int, float)) else None
        if number is not None:
            number = min(max(number, 0.0), 1.0)
        return cls(
            type=kind if isinstance(kind, str) else "unknown",
            percent=number,
            message=_optional_str(data, "message"),
            status=_optional_str(data, "status"),
            raw=dict(data),
        )


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def validate_response_id(value: str) -> str:
    """Check an id read from a response before it is stored or put into a path."""
    try:
        return validate_id(value, "submission id")
    except ValidationError as exc:
        raise InvalidResponseError(f"The service returned an invalid id {value!r}") from exc


@dataclass(frozen=True)
class ConversionJob:
    """A conversion of a submission to another format, from the `/convert` job API."""

    job_id: str
    submission_id: str
    format: str
    status: str
    """One of queued, running, ready, failed."""
    error: str | None
    download_url: str | None
    raw: dict[str, Any]

    @property
    def is_terminal(self) -> bool:
        return self.status in ("ready", "failed")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConversionJob:
        return cls(
            job_id=validate_response_id(_require(data, "job_id", str)),
            submission_id=validate_response_id(_require(data, "submission_id", str)),
            format=_require(data, "format", str),
            status=_require(data, "status", str),
            error=_optional_str(data, "error"),
            download_url=_optional_str(data, "download_url"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Project:
    """A project that groups submissions."""

    id: str
    name: str
    description: str | None
    is_archived: bool
    submission_count: int
    created_at: str | None
    updated_at: str | None
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Project:
        count = data.get("submission_count")
        return cls(
            id=validate_response_id(_require(data, "id", str)),
            name=_require(data, "name", str),
            description=_optional_str(data, "description"),
            is_archived=data.get("is_archived") is True,
            submission_count=count if isinstance(count, int) else 0,
            created_at=_optional_str(data, "created_at"),
            updated_at=_optional_str(data, "updated_at"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class SubmissionSummary:
    """One row of the submissions list."""

    submission_id: str
    phase: int
    status: str
    nickname: str | None
    is_pinned: bool
    project_id: str | None
    created_at: str | None
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubmissionSummary:
        phase = data.get("phase")
        project = data.get("project_id")
        return cls(
            submission_id=validate_response_id(_require(data, "submission_id", str)),
            phase=phase if isinstance(phase, int) and not isinstance(phase, bool) else 0,
            status=_require(data, "status", str),
            nickname=_optional_str(data, "nickname"),
            is_pinned=data.get("is_pinned") is True,
            project_id=validate_response_id(project) if isinstance(project, str) else None,
            created_at=_optional_str(data, "created_at"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class GalleryItem:
    """A published gallery model; `parent_id` links it into the gallery tree."""

    id: str
    parent_id: str | None
    name: str
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GalleryItem:
        parent = data.get("parent_id")
        name = data.get("name") or data.get("title") or data.get("nickname") or ""
        return cls(
            id=validate_response_id(_require(data, "id", str)),
            parent_id=validate_response_id(parent) if isinstance(parent, str) else None,
            name=str(name),
            raw=dict(data),
        )
