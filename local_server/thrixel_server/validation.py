"""Request checks that answer 422 in FastAPI's shape: {"detail": [{"loc", "msg", "type"}]}."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import NoReturn
from urllib.parse import urlsplit

from fastapi.exceptions import RequestValidationError
from pydantic_core import PydanticCustomError

DATA_URL = re.compile(r"^data:image/(png|jpeg);base64,(.*)$", re.DOTALL)
IMAGE_MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8"}


def reject_field(field: str | tuple[str | int, ...], message: str) -> NoReturn:
    """Raise a 422 naming one body field."""
    loc = (field,) if isinstance(field, str) else field
    raise RequestValidationError([{"loc": ("body", *loc), "msg": message, "type": "value_error"}])


def decode_image_string(value: str) -> bytes | None:
    """Return the bytes of a data URL image, None for an https URL; raise on anything else.

    Raises PydanticCustomError, so it can be called from a pydantic field validator.
    """
    if value.startswith("https://"):
        if not urlsplit(value).hostname:
            raise PydanticCustomError("image_url", "Image URL has no host.")
        return None
    match = DATA_URL.match(value)
    if match is None:
        raise PydanticCustomError(
            "image_format",
            "Image must be a data:image/png;base64 or data:image/jpeg;base64 URL "
            "or an https:// URL.",
        )
    kind, payload = match.groups()
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("image_base64", "Image data is not valid base64.") from None
    if not data.startswith(IMAGE_MAGIC[kind]):
        raise PydanticCustomError(
            "image_content",
            "Image data does not match its declared type image/{kind}.",
            {"kind": kind},
        )
    return data


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
