"""Build checked detail, remesh and retexture requests from the Selected panel's options.

Main thread only: reference images are read from disk or from image datablocks. Every value is
checked against the documented rules before anything is exported or sent, and a bad value
raises OptionError naming the panel field, the value and the allowed range.
"""

from __future__ import annotations

import base64
import logging
import tempfile
from pathlib import Path
from typing import Any, cast

import bpy
import numpy as np

from .client import DetailRequest, RemeshRequest, RetextureRequest
from .client.errors import ValidationError
from .detail_props import THRIXEL_PG_detail_options
from .messages import UserFacingError

log = logging.getLogger(__name__)

PLACEHOLDER_PARENT_ID = "pending-upload"
"""Stands in for the upload's id while a request is checked before the upload exists."""
FIELD_LABELS = {
    "prompt": "Prompt",
    "image": "Reference Image",
    "mesh": "Control Mesh URL",
    "seed": "Seed",
    "texture_size": "Texture Size",
    "control_mesh_voxelize_res": "Voxel Resolution",
    "decimation_target": "Triangles",
    "pipeline_type": "Pipeline",
    "control_mesh_ss_lat_noise_t0idx": "Noise Timestep",
    "focus_on_node_names": "Focus",
    "focus_mode": "Focus Mode",
    "mode": "Mode",
    "apply_to_node_names": "Apply To",
    "project_id": "Project ID",
    "parent_submission_id": "Parent Submission",
}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


class OptionError(UserFacingError):
    """An option in the Selected panel is invalid; the message names the field and the fix."""


def detail_request(
    options: THRIXEL_PG_detail_options, parent_id: str, focus: list[str]
) -> DetailRequest:
    """Return the detail request the options describe, checked."""
    url = options.control_mesh_url.strip()
    if url and not url.startswith("https://"):
        raise OptionError(
            f"\"Control Mesh URL\" is \"{url[:60]}\", which is not an https:// URL. Enter an "
            "https:// address of a GLB file, or clear the field."
        )
    request = DetailRequest(
        parent_submission_id=parent_id,
        image=_image_option(options.image_source, options.image_path, options.image),
        mesh=url or None,
        prompt=options.prompt.strip() or None,
        seed=options.seed,
        texture_size=int(options.texture_size),
        control_mesh_voxelize_res=options.control_mesh_voxelize_res,
        decimation_target=options.decimation_target,
        pipeline_type=None if options.pipeline_type == 'DEFAULT' else options.pipeline_type,
        control_mesh_ss_lat_noise_t0idx=(
            options.noise_timestep if options.use_noise_timestep else None
        ),
        preserve_parts=options.preserve_parts,
        focus_on_node_names=list(focus),
        focus_mode=options.focus_mode,
        project_id=options.project_id.strip() or None,
    )
    _check(request)
    return request


def remesh_request(options: THRIXEL_PG_detail_options, parent_id: str) -> RemeshRequest:
    """Return the remesh request the options describe, checked."""
    request = RemeshRequest(
        parent_submission_id=parent_id,
        decimation_target=options.remesh_decimation_target,
        remesh=options.remesh_quads,
        project_id=options.project_id.strip() or None,
    )
    _check(request)
    return request


def retexture_request(
    options: THRIXEL_PG_detail_options, parent_id: str, apply_to: list[str]
) -> RetextureRequest:
    """Return the retexture request the options describe, checked."""
    image = None
    if options.retexture_mode == 'regenerate':
        image = _image_option(
            options.retexture_image_source, options.retexture_image_path, options.retexture_image
        )
    request = RetextureRequest(
        parent_submission_id=parent_id,
        texture_size=int(options.retexture_texture_size),
        mode=options.retexture_mode,
        image=image,
        apply_to_node_names=list(apply_to),
        project_id=options.project_id.strip() or None,
    )
    _check(request)
    return request


def _check(request: DetailRequest | RemeshRequest | RetextureRequest) -> None:
    try:
        request.validate()
    except ValidationError as error:
        label = FIELD_LABELS.get(error.field or "", error.field or "A value")
        text = error.message
        if error.field and text.startswith(error.field):
            text = f"\"{label}\"" + text[len(error.field) :]
        else:
            text = f"\"{label}\": {text}"
        raise OptionError(f"{text.rstrip('.')}. Change it in the Selected panel.") from None


# ---------------------------------------------------------------------------------------------
# Reference images


def _image_option(source: str, path_text: str, image: bpy.types.Image | None) -> str | None:
    if source == 'FILE':
        return image_file_data_url(path_text)
    if source == 'DATABLOCK':
        if image is None:
            raise OptionError("No image is chosen for \"Reference Image\". Pick one, or pick None.")
        return image_datablock_data_url(image)
    return None


def image_file_data_url(path_text: str) -> str:
    """Return a PNG or JPEG file as a base64 data URL."""
    if not path_text.strip():
        raise OptionError("No file is chosen for \"Image File\". Pick a PNG or JPEG image.")
    path = Path(bpy.path.abspath(path_text.strip()))
    try:
        data = path.read_bytes()
    except OSError as error:
        raise OptionError(
            f"The image file \"{path}\" could not be read ({error.strerror or error}). "
            "Check the path and pick the file again."
        ) from None
    mime = _mime_of(data)
    if mime is None:
        raise OptionError(
            f"The image file \"{path.name}\" is not a PNG or JPEG image. Save it as PNG or "
            "JPEG, or pick another file."
        )
    return _data_url(mime, data)


def image_datablock_data_url(image: bpy.types.Image) -> str:
    """Return an image of this file as a base64 data URL, re-encoded as PNG when needed."""
    if image.packed_file is not None and not image.is_dirty:
        # The 4.2 stubs declare a str, but Blender returns the file's bytes.
        data = bytes(cast(Any, image.packed_file.data))
        mime = _mime_of(data)
        if mime is not None:
            return _data_url(mime, data)
    if image.source == 'FILE' and not image.is_dirty and image.packed_file is None:
        path = Path(bpy.path.abspath(image.filepath, library=image.library))
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        mime = _mime_of(data)
        if mime is not None:
            return _data_url(mime, data)
    return _data_url("image/png", _encode_png(image))


def _encode_png(image: bpy.types.Image) -> bytes:
    """Save a copy of the image's pixels as PNG; the image itself is left unchanged."""
    width, height = image.size
    if width == 0 or height == 0 or not image.has_data and not _load_pixels(image):
        raise OptionError(
            f"The image \"{image.name}\" has no pixels to send. Pick an image that shows in "
            "the Image Editor."
        )
    pixels = np.empty(width * height * 4, dtype=np.float32)
    cast(Any, image.pixels).foreach_get(pixels)
    copy = bpy.data.images.new("thrixel-reference-copy", width, height, alpha=True)
    try:
        cast(Any, copy.pixels).foreach_set(pixels)
        with tempfile.TemporaryDirectory(prefix="thrixel-image-") as folder:
            target = Path(folder) / "reference.png"
            copy.filepath_raw = str(target)
            copy.file_format = 'PNG'
            copy.save()
            return target.read_bytes()
    finally:
        bpy.data.images.remove(copy)


def _load_pixels(image: bpy.types.Image) -> bool:
    try:
        cast(Any, image.pixels)[0]
    except (IndexError, RuntimeError):
        return False
    return image.has_data


def _mime_of(data: bytes) -> str | None:
    if data.startswith(_PNG_MAGIC):
        return "image/png"
    if data.startswith(_JPEG_MAGIC):
        return "image/jpeg"
    return None


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
