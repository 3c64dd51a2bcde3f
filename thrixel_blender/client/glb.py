"""Reading the container of a binary glTF (GLB) file without a glTF library.

Used to check a download before it replaces anything, and to read node names and required
extensions before an import. Plain `struct` and `json`; no `bpy`.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from .errors import InvalidResponseError

GLB_MAGIC = b"glTF"
_HEADER = struct.Struct("<4sII")
_CHUNK_HEADER = struct.Struct("<II")
_JSON_CHUNK = 0x4E4F534A


class InvalidGLBError(InvalidResponseError):
    """The file is not a complete, well-formed GLB 2.0 container."""


def check_glb_header(path: Path, *, label: str | None = None) -> None:
    """Raise `InvalidGLBError` unless the file starts with a GLB 2.0 header whose length matches.

    `label` names the file in messages, such as "the downloaded model"; the default is its name.
    """
    name = label or path.name
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise InvalidGLBError(f"{name} is too short to be a GLB file ({size} bytes)")
    magic, version, declared = _HEADER.unpack(header)
    if magic != GLB_MAGIC:
        raise InvalidGLBError(f"{name} is not a GLB file: it does not start with 'glTF'")
    if version != 2:
        raise InvalidGLBError(f"{name} is glTF version {version}; only version 2 is read")
    if declared != size:
        raise InvalidGLBError(
            f"{name} is incomplete: its header declares {declared:,} bytes "
            f"but the file holds {size:,}"
        )


def read_glb_json(path: Path, *, label: str | None = None) -> dict[str, Any]:
    """Return the JSON chunk of a GLB file as a dict; `label` names the file in messages."""
    name = label or path.name
    check_glb_header(path, label=label)
    with path.open("rb") as handle:
        handle.seek(_HEADER.size)
        chunk_header = handle.read(_CHUNK_HEADER.size)
        if len(chunk_header) < _CHUNK_HEADER.size:
            raise InvalidGLBError(f"{name} has no JSON chunk")
        length, kind = _CHUNK_HEADER.unpack(chunk_header)
        if kind != _JSON_CHUNK:
            raise InvalidGLBError(f"{name} does not start with a JSON chunk")
        raw = handle.read(length)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidGLBError(f"{name} has a JSON chunk that cannot be read") from exc
    if not isinstance(document, dict):
        raise InvalidGLBError(f"{name} has a JSON chunk that is not an object")
    return document


def node_names(document: dict[str, Any]) -> list[str]:
    """Return the name of every node in document order; unnamed nodes give ""."""
    nodes = document.get("nodes", [])
    if not isinstance(nodes, list):
        return []
    return [str(node.get("name", "")) if isinstance(node, dict) else "" for node in nodes]


def required_extensions(document: dict[str, Any]) -> list[str]:
    """Return the extensions a reader must support to load the file."""
    required = document.get("extensionsRequired", [])
    return [str(name) for name in required] if isinstance(required, list) else []
