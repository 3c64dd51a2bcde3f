"""Checks on values before they are sent: ids, images, ranges and enums.

Each check raises `ValidationError` naming the field, so a bad value never leaves the machine and
the message names the field to fix. Plain functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence

from .errors import ValidationError

_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_DATA_URL_PATTERN = re.compile(r"data:image/(png|jpeg);base64,(.+)", re.DOTALL)

MAX_IMAGES = 6
"""Largest number of entries in `images` (phase 1)."""


def validate_id(value: str, field: str) -> str:
    """Raise unless `value` is a well-formed id that cannot change a URL path.

    Ids come from the service, from saved files and from users, so `../`, `/`, `?` and `%`
    must never reach a path. The service uses UUIDs; any run of letters, digits, `-` and `_`
    is accepted.
    """
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value):
        raise ValidationError(
            f"{field} {value!r} is not a valid id: expected letters, digits and dashes, "
            "as in a UUID",
            field=field,
        )
    return value


def validate_int_range(value: int, field: str, low: int, high: int) -> None:
    """Raise unless `value` is an integer in `[low, high]`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be a whole number, not {value!r}", field=field)
    if not low <= value <= high:
        raise ValidationError(
            f"{field} is {value:,} but must be between {low:,} and {high:,}",
            field=field,
            fix="Enter a value in that range",
        )


def validate_choice(value: object, field: str, choices: Iterable[object]) -> None:
    """Raise unless `value` is one of `choices`."""
    allowed = tuple(choices)
    if value not in allowed:
        listed = ", ".join(str(choice) for choice in allowed)
        raise ValidationError(
            f"{field} is {value!r} but must be one of: {listed}",
            field=field,
            fix="Choose one of those values",
        )


def validate_text(value: str, field: str, *, max_length: int, required: bool = False) -> None:
    """Raise unless `value` is a string no longer than `max_length` (and not blank if required)."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text, not {type(value).__name__}", field=field)
    if required and not value.strip():
        raise ValidationError(f"{field} is empty", field=field, fix="Enter some text")
    if len(value) > max_length:
        raise ValidationError(
            f"{field} is {len(value):,} characters long; the service accepts at most "
            f"{max_length:,}",
            field=field,
            fix="Shorten it",
        )


def validate_image_reference(value: str, field: str) -> None:
    """Raise unless `value` is a base64 PNG or JPEG data URL or an `https://` URL."""
    if not isinstance(value, str) or not value:
        raise ValidationError(
            f"{field} is empty", field=field, fix="Pick an image file or paste an https:// URL"
        )
    if value.startswith("https://"):
        if len(value) <= len("https://") or any(ch.isspace() for ch in value):
            raise ValidationError(f"{field} is not a valid https:// URL", field=field)
        return
    match = _DATA_URL_PATTERN.fullmatch(value)
    if match is None:
        shown = value[:40] + ("..." if len(value) > 40 else "")
        raise ValidationError(
            f"{field} {shown!r} is neither a PNG or JPEG data URL nor an https:// URL",
            field=field,
        )
    try:
        base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(
            f"{field} contains data that is not valid base64", field=field
        ) from exc


def validate_images(image: str | None, images: Sequence[str] | None) -> None:
    """Raise unless `image` and `images` follow the phase 1 rules (exclusive, at most six)."""
    if image is not None and images is not None:
        raise ValidationError(
            "image and images cannot both be set: send one image or a list of up to six",
            field="images",
        )
    if image is not None:
        validate_image_reference(image, "image")
    if images is not None:
        if not 1 <= len(images) <= MAX_IMAGES:
            raise ValidationError(
                f"images contains {len(images)} entries but must contain 1 to {MAX_IMAGES}",
                field="images",
            )
        for index, entry in enumerate(images):
            validate_image_reference(entry, f"images[{index}]")


def validate_node_names(names: Sequence[str], field: str) -> None:
    """Raise unless `names` is a list of non-empty strings without duplicates."""
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValidationError(f"{field} contains an empty node name", field=field)
        if name in seen:
            raise ValidationError(f"{field} names {name!r} twice", field=field)
        seen.add(name)
