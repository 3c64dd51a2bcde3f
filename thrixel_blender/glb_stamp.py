"""Stamp each node of a GLB with its own index before Blender imports it. No bpy.

Blender's importer renames nodes whose names collide (`Head` becomes `Head.001`), cuts long
names, and never records the original name. Node `extras` come back as custom properties on
the imported objects, so an index put there maps every object back to the glTF node it came
from, whatever Blender called it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from .client.glb import read_glb_json

NODE_INDEX_KEY = "thrixel_node_index"
"""The extras key that carries a node's index through the import; removed after import."""

_HEADER = struct.Struct("<4sII")
_CHUNK_HEADER = struct.Struct("<II")
_JSON_CHUNK = 0x4E4F534A


def write_stamped_copy(
    source: Path, destination: Path, *, label: str | None = None
) -> dict[str, Any]:
    """Write a copy of `source` whose nodes carry their index in `extras`.

    Returns the original glTF document (JSON chunk). Raises `InvalidGLBError`, naming the file
    as `label` (default: its name), when `source` is not a complete GLB. A node whose `extras`
    is a JSON value other than an object cannot take a key without losing that value, so it
    stays unstamped and callers match it by name.
    """
    document = read_glb_json(source, label=label)
    stamped = json.loads(json.dumps(document))
    for index, node in enumerate(stamped.get("nodes") or []):
        if not isinstance(node, dict):
            continue
        extras = node.setdefault("extras", {})
        if isinstance(extras, dict):
            extras[NODE_INDEX_KEY] = index

    # Everything after the JSON chunk (the BIN chunk, if any) is copied byte for byte.
    with source.open("rb") as stream:
        stream.seek(_HEADER.size)
        json_length, _ = _CHUNK_HEADER.unpack(stream.read(_CHUNK_HEADER.size))
        stream.seek(_HEADER.size + _CHUNK_HEADER.size + json_length)
        tail = stream.read()

    json_bytes = json.dumps(stamped, ensure_ascii=False, separators=(",", ":")).encode()
    json_bytes += b" " * (-len(json_bytes) % 4)
    total = _HEADER.size + _CHUNK_HEADER.size + len(json_bytes) + len(tail)
    with destination.open("wb") as stream:
        stream.write(_HEADER.pack(b"glTF", 2, total))
        stream.write(_CHUNK_HEADER.pack(len(json_bytes), _JSON_CHUNK))
        stream.write(json_bytes)
        stream.write(tail)
    return document
