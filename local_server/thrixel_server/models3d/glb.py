"""GLB container and accessor reading and writing on plain glTF JSON dicts with numpy."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GLB_MAGIC = b"glTF"
JSON_CHUNK = 0x4E4F534A
BIN_CHUNK = 0x004E4942

COMPONENT_DTYPES: dict[int, type[np.generic]] = {
    5120: np.int8,
    5121: np.uint8,
    5122: np.int16,
    5123: np.uint16,
    5125: np.uint32,
    5126: np.float32,
}
TYPE_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963


class GlbError(ValueError):
    """The bytes are not a GLB this server can read."""


def unpack_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split GLB bytes into the glTF JSON dict and the binary chunk (empty when absent)."""
    if len(data) < 20 or data[:4] != GLB_MAGIC:
        raise GlbError("not a GLB file (missing 'glTF' magic)")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise GlbError(f"unsupported GLB version {version}")
    if length > len(data):
        raise GlbError(f"GLB is truncated: header says {length} bytes, got {len(data)}")
    gltf: dict[str, Any] | None = None
    binary = b""
    offset = 12
    while offset + 8 <= length:
        chunk_length, chunk_type = struct.unpack_from("<II", data, offset)
        chunk = data[offset + 8 : offset + 8 + chunk_length]
        if chunk_type == JSON_CHUNK:
            gltf = json.loads(chunk.decode("utf-8"))
        elif chunk_type == BIN_CHUNK and not binary:
            binary = bytes(chunk)
        offset += 8 + chunk_length
    if gltf is None:
        raise GlbError("GLB has no JSON chunk")
    return gltf, binary


def pack_glb(gltf: dict[str, Any], binary: bytes) -> bytes:
    """Write a GLB; the output depends only on the inputs, so equal models give equal bytes."""
    json_bytes = json.dumps(gltf, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    json_bytes += b" " * (-len(json_bytes) % 4)
    binary += b"\x00" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(json_bytes), JSON_CHUNK) + json_bytes
    if binary:
        chunks += struct.pack("<II", len(binary), BIN_CHUNK) + binary
    return GLB_MAGIC + struct.pack("<II", 2, 12 + len(chunks)) + chunks


def read_accessor(gltf: dict[str, Any], binary: bytes, index: int) -> np.ndarray:
    """Return an accessor's elements as an (count, width) array (sparse accessors included)."""
    accessor = gltf["accessors"][index]
    dtype = np.dtype(COMPONENT_DTYPES[accessor["componentType"]])
    width = TYPE_WIDTHS[accessor["type"]]
    count = accessor["count"]
    if "bufferView" in accessor:
        values = _read_view(
            gltf, binary, accessor["bufferView"], accessor.get("byteOffset", 0), dtype, width, count
        )
    else:
        values = np.zeros((count, width), dtype=dtype)
    sparse = accessor.get("sparse")
    if sparse:
        values = values.copy()
        indices_info, values_info = sparse["indices"], sparse["values"]
        index_dtype = np.dtype(COMPONENT_DTYPES[indices_info["componentType"]])
        positions = _read_view(
            gltf,
            binary,
            indices_info["bufferView"],
            indices_info.get("byteOffset", 0),
            index_dtype,
            1,
            sparse["count"],
        )
        replaced = _read_view(
            gltf,
            binary,
            values_info["bufferView"],
            values_info.get("byteOffset", 0),
            dtype,
            width,
            sparse["count"],
        )
        values[positions[:, 0]] = replaced
    if accessor.get("normalized") and dtype.kind in "iu":
        values = values.astype(np.float32) / float(np.iinfo(dtype.type).max)  # type: ignore[type-var]
    return values


def _read_view(
    gltf: dict[str, Any],
    binary: bytes,
    view_index: int,
    extra_offset: int,
    dtype: np.dtype,
    width: int,
    count: int,
) -> np.ndarray:
    view = gltf["bufferViews"][view_index]
    if view.get("buffer", 0) != 0:
        raise GlbError("only GLB files with one embedded buffer are supported")
    start = view.get("byteOffset", 0) + extra_offset
    element = dtype.itemsize * width
    stride = view.get("byteStride") or element
    needed = start + stride * (count - 1) + element if count else start
    if needed > len(binary):
        raise GlbError(f"accessor data runs past the end of the binary chunk ({needed} bytes)")
    raw = np.frombuffer(binary, dtype=np.uint8, count=needed - start, offset=start)
    if stride == element:
        return raw.view(dtype).reshape(count, width)
    rows = np.lib.stride_tricks.as_strided(raw, shape=(count, element), strides=(stride, 1))
    return np.ascontiguousarray(rows).view(dtype).reshape(count, width)


@dataclass
class BufferWriter:
    """Appends arrays to a binary chunk and registers bufferViews and accessors for them."""

    gltf: dict[str, Any]
    data: bytearray = field(default_factory=bytearray)

    def add_view(self, payload: bytes, target: int | None = None) -> int:
        self.data += b"\x00" * (-len(self.data) % 4)
        view: dict[str, Any] = {
            "buffer": 0,
            "byteOffset": len(self.data),
            "byteLength": len(payload),
        }
        if target is not None:
            view["target"] = target
        self.data += payload
        views = self.gltf.setdefault("bufferViews", [])
        views.append(view)
        return len(views) - 1

    def add_accessor(self, array: np.ndarray, *, indices: bool = False) -> int:
        if indices:
            array = np.ascontiguousarray(array.reshape(-1), dtype=np.uint32)
            kind, component = "SCALAR", 5125
        else:
            array = np.ascontiguousarray(array, dtype=np.float32)
            kind = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}[array.shape[1]]
            component = 5126
        target = ELEMENT_ARRAY_BUFFER if indices else ARRAY_BUFFER
        accessor: dict[str, Any] = {
            "bufferView": self.add_view(array.tobytes(), target),
            "componentType": component,
            "count": int(array.shape[0]),
            "type": kind,
        }
        if not indices and kind == "VEC3":
            accessor["min"] = [float(v) for v in array.min(axis=0)]
            accessor["max"] = [float(v) for v in array.max(axis=0)]
        accessors = self.gltf.setdefault("accessors", [])
        accessors.append(accessor)
        return len(accessors) - 1

    def finish(self) -> bytes:
        self.gltf["buffers"] = [{"byteLength": len(self.data)}] if self.data else []
        if not self.data:
            self.gltf.pop("buffers")
        return bytes(self.data)
