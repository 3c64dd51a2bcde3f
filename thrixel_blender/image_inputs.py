"""Reference images for Generate: files on disk, images in the Blender file (packed or not),
or https:// URLs, sent as base64 data URLs.

Images larger than `MAX_EDGE` pixels on their longer side are scaled down with Blender's own
image API on a temporary copy, which is removed again, so the user's images never change.
This runs on the main thread (bpy images are not thread-safe), before the job starts.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy.types import Context, Event, Operator

from . import library_calls, library_props, messages, props
from .client import Phase1Request
from .client.uploads import format_bytes
from .client.validation import MAX_IMAGES, validate_image_reference
from .messages import UserFacingError

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

log = logging.getLogger(__name__)

MAX_EDGE = 1024
"""Longest side, in pixels, an image is sent at. The service documents no limit; 1024 keeps
a request of six images to a few megabytes and is more than the reconstruction needs.
NOTE: our choice, not a documented limit."""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


class ImageInputError(UserFacingError):
    """An image input cannot be sent; the message names it and what to do."""


@dataclass(frozen=True)
class EncodedImage:
    """One image ready to send."""

    value: str
    """A data URL or the https:// URL as typed."""
    original_size: tuple[int, int] | None
    sent_size: tuple[int, int] | None
    sent_bytes: int

    def describe(self) -> str:
        if self.original_size is None or self.sent_size is None:
            return "URL, fetched by the service"
        width, height = self.original_size
        text = f"{width}×{height}"
        if self.sent_size != self.original_size:
            text += f", sent at {self.sent_size[0]}×{self.sent_size[1]}"
        return f"{text}, {format_bytes(self.sent_bytes)}"


def scaled_size(width: int, height: int, max_edge: int = MAX_EDGE) -> tuple[int, int]:
    """Return the size that fits in `max_edge` with the same aspect ratio; never upscales."""
    longest = max(width, height)
    if longest <= max_edge:
        return width, height
    factor = max_edge / longest
    return max(1, round(width * factor)), max(1, round(height * factor))


def mime_of(data: bytes) -> str | None:
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    return None


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# ---------------------------------------------------------------------------
# Encoding


def label_of(item: library_props.THRIXEL_PG_image_input) -> str:
    if item.source == 'FILE':
        return Path(bpy.path.abspath(item.filepath)).name or "the image file"
    if item.source == 'IMAGE':
        return item.image.name if item.image is not None else "the Blender image"
    return item.url.strip() or "the URL"


def encode(item: library_props.THRIXEL_PG_image_input) -> EncodedImage:
    """Encode one input for sending. Raises ImageInputError naming the input."""
    if item.source == 'URL':
        url = item.url.strip()
        if not url.startswith("https://"):
            raise ImageInputError(
                f"The image URL \"{url or '(empty)'}\" is not an https:// address. "
                "Enter an https:// URL, or choose a file instead."
            )
        try:
            validate_image_reference(url, "image")
        except Exception as error:
            raise ImageInputError(messages.user_message(error, action="Generate")) from None
        return EncodedImage(url, None, None, 0)
    if item.source == 'FILE':
        return _encode_file(item.filepath)
    if item.image is None:
        raise ImageInputError("An image input has no Blender image chosen. Pick one or remove it.")
    return _encode_blender_image(item.image)


def _encode_file(filepath: str) -> EncodedImage:
    path = Path(bpy.path.abspath(filepath)) if filepath else None
    if path is None or not path.is_file():
        raise ImageInputError(
            f"The image file \"{filepath or '(none)'}\" does not exist. Choose the file again."
        )
    try:
        image = bpy.data.images.load(str(path), check_existing=False)
    except RuntimeError:
        raise _not_an_image(path) from None
    try:
        # Blender reads the pixels only when they are first needed, so a file that is no
        # image loads without error and then has no size.
        if 0 in image.size[:]:
            raise _not_an_image(path)
        return _encode_blender_image(image, original=path.read_bytes())
    finally:
        bpy.data.images.remove(image)


def _not_an_image(path: Path) -> ImageInputError:
    return ImageInputError(
        f"The file \"{path.name}\" is not a PNG or JPEG image, and Blender cannot read it as "
        "another image format. Choose a PNG or JPEG file."
    )


def _encode_blender_image(image: bpy.types.Image, original: bytes | None = None) -> EncodedImage:
    width, height = image.size[:]
    if width == 0 or height == 0:
        path = Path(bpy.path.abspath(image.filepath)) if image.filepath else None
        if image.source == 'FILE' and path is not None and not path.is_file():
            raise ImageInputError(
                f"The file of the image \"{image.name}\" ({path}) does not exist. "
                "Find the file again in the Image Editor, or pick another image."
            )
        if image.source == 'FILE' and path is not None:
            raise ImageInputError(
                f"The image \"{image.name}\" has no pixels: its file \"{path.name}\" is not "
                "an image Blender can read. Pick another image."
            )
        raise ImageInputError(
            f"The image \"{image.name}\" has no pixels Blender can read. Pick another image."
        )
    if image.is_dirty:
        # Painted or edited since loading: the file on disk no longer matches the pixels.
        original = None
    elif original is None and image.packed_file is not None:
        # The stubs declare `data` as str; Blender returns the file's bytes.
        original = bytes(cast(bytes, image.packed_file.data))
    elif original is None and image.source == 'FILE' and image.filepath:
        path = Path(bpy.path.abspath(image.filepath))
        original = path.read_bytes() if path.is_file() else None

    target = scaled_size(width, height)
    mime = mime_of(original) if original is not None else None
    if target == (width, height) and original is not None and mime is not None:
        return EncodedImage(data_url(original, mime), (width, height), target, len(original))
    data, mime = _scaled_copy(image, target, keep_jpeg=mime == "image/jpeg")
    return EncodedImage(data_url(data, mime), (width, height), target, len(data))


def _scaled_copy(
    image: bpy.types.Image, size: tuple[int, int], *, keep_jpeg: bool
) -> tuple[bytes, str]:
    """Write a scaled copy of `image` as PNG (JPEG for JPEG sources) and return its bytes."""
    file_format: Literal['JPEG', 'PNG'] = 'JPEG' if keep_jpeg else 'PNG'
    mime, suffix = ("image/jpeg", ".jpg") if keep_jpeg else ("image/png", ".png")
    handle, name = tempfile.mkstemp(prefix="thrixel-image-", suffix=suffix)
    os.close(handle)
    copy = image.copy()
    try:
        if tuple(copy.size[:]) != size:
            copy.scale(*size)
        copy.file_format = file_format
        # With `filepath`, save() writes there and leaves the copy's own path alone.
        copy.save(filepath=name, quality=90)
        return Path(name).read_bytes(), mime
    except RuntimeError as error:
        raise ImageInputError(
            f"The image \"{image.name}\" could not be prepared for sending ({error}). "
            "Save it as a PNG file and choose the file instead."
        ) from None
    finally:
        bpy.data.images.remove(copy)
        Path(name).unlink(missing_ok=True)


def encode_all(
    items: list[library_props.THRIXEL_PG_image_input],
) -> tuple[str | None, list[str] | None, list[EncodedImage]]:
    """Return `image` (one input) or `images` (two to six) for a phase 1 request."""
    if len(items) > MAX_IMAGES:
        raise ImageInputError(
            f"{len(items)} reference images are listed, the service takes at most {MAX_IMAGES}. "
            "Remove some."
        )
    encoded = [encode(item) for item in items]
    values = [entry.value for entry in encoded]
    if not values:
        return None, None, encoded
    if len(values) == 1:
        return values[0], None, encoded
    return None, values, encoded


# ---------------------------------------------------------------------------
# Operators


class THRIXEL_OT_add_image_input(Operator):
    """Add a reference image for Generate: a file, an image in this file, or a URL"""

    bl_idname = "thrixel.add_image_input"
    bl_label = "Add Reference Image"
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}

    source: EnumProperty(name="Source", items=library_props.IMAGE_SOURCES, default='FILE')
    filepath: StringProperty(name="File", subtype='FILE_PATH', options={'SKIP_SAVE'})
    image_name: StringProperty(name="Image", options={'SKIP_SAVE'})
    url: StringProperty(name="URL", options={'SKIP_SAVE'})
    filter_image: bpy.props.BoolProperty(default=True, options={'HIDDEN', 'SKIP_SAVE'})
    filter_folder: bpy.props.BoolProperty(default=True, options={'HIDDEN', 'SKIP_SAVE'})

    def invoke(self, context: Context, event: Event) -> set[OperatorReturnItems]:
        if self.source == 'FILE' and not self.filepath:
            library_calls.window_manager(context).fileselect_add(self)
            return {'RUNNING_MODAL'}
        if self.source == 'IMAGE' and not self.image_name:
            return library_calls.window_manager(context).invoke_props_dialog(self)
        return self.execute(context)

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        if self.source == 'IMAGE':
            layout.prop_search(self, "image_name", bpy.data, "images")
        elif self.source == 'URL':
            layout.prop(self, "url")

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        settings = props.context_settings(context).library
        if len(settings.image_inputs) >= MAX_IMAGES:
            self.report({'ERROR'}, f"The service takes at most {MAX_IMAGES} reference images.")
            return {'CANCELLED'}
        image = None
        if self.source == 'IMAGE':
            image = bpy.data.images.get(self.image_name)
            if image is None:
                self.report({'ERROR'}, f"No image named \"{self.image_name}\" in this file.")
                return {'CANCELLED'}
        item = settings.image_inputs.add()
        item.source = self.source
        item.filepath = self.filepath
        item.image = image
        item.url = self.url.strip()
        # An input that cannot be sent is rejected now, not when Generate is pressed.
        try:
            item.size_note = encode(item).describe()
        except ImageInputError as error:
            settings.image_inputs.remove(len(settings.image_inputs) - 1)
            self.report({'ERROR'}, str(error))
            return {'CANCELLED'}
        settings.image_input_index = len(settings.image_inputs) - 1
        self.report({'INFO'}, f"Added \"{label_of(item)}\": {item.size_note}")
        return {'FINISHED'}


class THRIXEL_OT_remove_image_input(Operator):
    """Remove this reference image from Generate"""

    bl_idname = "thrixel.remove_image_input"
    bl_label = "Remove Reference Image"
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}

    index: bpy.props.IntProperty(name="Index", min=0, options={'SKIP_SAVE'})

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        settings = props.context_settings(context).library
        if self.index >= len(settings.image_inputs):
            return {'CANCELLED'}
        settings.image_inputs.remove(self.index)
        settings.image_input_index = max(0, min(self.index, len(settings.image_inputs) - 1))
        return {'FINISHED'}


classes = (THRIXEL_OT_add_image_input, THRIXEL_OT_remove_image_input)


def build_phase1_request(scene: bpy.types.Scene) -> tuple[Phase1Request, list[EncodedImage]]:
    """Build the Generate request from the scene's form: prompt, reference images, project.

    Raises ImageInputError for an unusable image and ValidationError for other fields.
    """
    settings = props.scene_settings(scene)
    image, images, encoded = encode_all(list(settings.library.image_inputs))
    request = Phase1Request(
        task=settings.prompt.strip() or None,
        image=image,
        images=images,
        model=settings.model_override.strip() or None,
        project_id=library_props.default_project_id(scene),
        adaptive_thinking=settings.adaptive_thinking,
    )
    request.validate()
    return request, encoded


def describe_sent(encoded: list[EncodedImage]) -> str:
    """Return a sentence listing the images sent and their sizes, or "" when none were sent."""
    if not encoded:
        return ""
    return "Images sent: " + "; ".join(entry.describe() for entry in encoded) + ". "
