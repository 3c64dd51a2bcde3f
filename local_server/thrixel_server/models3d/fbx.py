"""A binary FBX 7.4 writer for static meshes with base-colour materials.

Autodesk's FBX SDK is not distributed on PyPI and the ufbx bindings only read, so this module
writes the format itself, as Blender's FBX add-on (io_scene_fbx) reads it. A file is a 23-byte
magic and the version, then a tree of node records with 32-bit offsets (64-bit from version
7500), a 13-byte null record closing each nested list, and a footer.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .export_scene import ExportScene

FBX_VERSION = 7400
MAGIC = b"Kaydara FBX Binary  \x00\x1a\x00"
NULL_RECORD = b"\x00" * 13
RECORD_HEADER_BYTES = 13
"""End offset, property count and property list length (three uint32), then the name length."""
FOOTER_ID = bytes.fromhex("fabcab09d0c8d466b176fb831cf7267e")
FOOTER_MAGIC = bytes.fromhex("f85a8c6adef5d97eece90ce3758f290b")
COMPRESS_ARRAYS_OVER_BYTES = 128
ARRAY_DTYPES = {"i": "<i4", "l": "<i8", "f": "<f4", "d": "<f8", "b": "u1"}
SCALAR_FORMATS = {"Y": "<h", "I": "<i", "L": "<q", "F": "<f", "D": "<d"}
FIRST_OBJECT_ID = 1_000_000


@dataclass
class Prop:
    """One typed property value: `code` is the FBX type letter (I, L, D, S, C, d, i, ...)."""

    code: str
    value: Any


@dataclass
class Node:
    name: str
    props: list[Prop] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)


def encode_prop(prop: Prop) -> bytes:
    code = prop.code.encode("ascii")
    if prop.code in SCALAR_FORMATS:
        return code + struct.pack(SCALAR_FORMATS[prop.code], prop.value)
    if prop.code == "C":
        return code + (b"\x01" if prop.value else b"\x00")
    if prop.code in ("S", "R"):
        data = prop.value.encode("utf-8") if isinstance(prop.value, str) else bytes(prop.value)
        return code + struct.pack("<I", len(data)) + data
    if prop.code in ARRAY_DTYPES:
        array = np.ascontiguousarray(prop.value, dtype=ARRAY_DTYPES[prop.code]).reshape(-1)
        payload, encoding = array.tobytes(), 0
        if len(payload) > COMPRESS_ARRAYS_OVER_BYTES:
            payload, encoding = zlib.compress(payload), 1
        return code + struct.pack("<III", len(array), encoding, len(payload)) + payload
    raise ValueError(f"unknown FBX property type {prop.code!r}")


def encode_node(node: Node, offset: int) -> bytes:
    """Encode a node record that starts at byte `offset` of the file (end offsets are absolute)."""
    name = node.name.encode("ascii")
    props = b"".join(encode_prop(prop) for prop in node.props)
    position = offset + RECORD_HEADER_BYTES + len(name) + len(props)
    nested = bytearray()
    for child in node.children:
        nested += encode_node(child, position + len(nested))
    # A null record closes a nested list. Records with neither props nor children get one too,
    # as Blender's own writer does, so that a reader can tell "Name: {}" from "Name:".
    if node.children or not node.props:
        nested += NULL_RECORD
    end = position + len(nested)
    header = struct.pack("<III", end, len(node.props), len(props)) + bytes([len(name)])
    return header + name + props + bytes(nested)


def encode_file(nodes: list[Node]) -> bytes:
    data = bytearray(MAGIC + struct.pack("<I", FBX_VERSION))
    for node in nodes:
        data += encode_node(node, len(data))
    data += NULL_RECORD
    data += FOOTER_ID + b"\x00" * 4
    data += b"\x00" * (16 - len(data) % 16)
    data += struct.pack("<I", FBX_VERSION) + b"\x00" * 120 + FOOTER_MAGIC
    return bytes(data)


# Document -----------------------------------------------------------------------------------


def string(value: str | bytes) -> Prop:
    return Prop("S", value)


def int32(value: int) -> Prop:
    return Prop("I", value)


def int64(value: int) -> Prop:
    return Prop("L", value)


def double(value: float) -> Prop:
    return Prop("D", float(value))


def p_int(name: str, value: int) -> Node:
    return Node("P", [string(name), string("int"), string("Integer"), string(""), int32(value)])


def p_double(name: str, value: float) -> Node:
    return Node("P", [string(name), string("double"), string("Number"), string(""), double(value)])


def p_color(name: str, rgb: tuple[float, ...]) -> Node:
    return Node(
        "P", [string(name), string("Color"), string(""), string("A"), *(double(c) for c in rgb[:3])]
    )


def p_vector(name: str, xyz: np.ndarray) -> Node:
    return Node(
        "P", [string(name), string(name), string(""), string("A"), *(double(float(c)) for c in xyz)]
    )


def object_name(name: str, kind: str) -> Prop:
    """Return the name property of an object: FBX joins the name and the class with \\x00\\x01."""
    return string(name.replace("\x00", "").encode("utf-8") + b"\x00\x01" + kind.encode("ascii"))


def global_settings() -> Node:
    # glTF is Y-up with +Z forward, in metres: FBX up Y, front +Z, coord +X, 100 cm per unit.
    properties = [
        p_int("UpAxis", 1),
        p_int("UpAxisSign", 1),
        p_int("FrontAxis", 2),
        p_int("FrontAxisSign", 1),
        p_int("CoordAxis", 0),
        p_int("CoordAxisSign", 1),
        p_int("OriginalUpAxis", 1),
        p_int("OriginalUpAxisSign", 1),
        p_double("UnitScaleFactor", 100.0),
        p_double("OriginalUnitScaleFactor", 100.0),
    ]
    return Node(
        "GlobalSettings",
        children=[Node("Version", [int32(1000)]), Node("Properties70", [], properties)],
    )


def ids() -> Iterator[int]:
    number = FIRST_OBJECT_ID
    while True:
        yield number
        number += 1


def scene_to_fbx(scene: ExportScene, creator: str = "Thrixel local server") -> bytes:
    """Write the meshes as FBX: one Mesh model per part, its materials and the connections."""
    next_id = ids()
    objects: list[Node] = []
    connections: list[Node] = []

    def connect(child: int, parent: int) -> None:
        connections.append(Node("C", [string("OO"), int64(child), int64(parent)]))

    material_ids = []
    for material in scene.materials:
        material_id = next(next_id)
        material_ids.append(material_id)
        properties = [
            p_color("DiffuseColor", material.color),
            Node(
                "P",
                [
                    string("TransparencyFactor"),
                    string("Number"),
                    string(""),
                    string("A"),
                    double(1 - material.color[3]),
                ],
            ),
        ]
        objects.append(
            Node(
                "Material",
                [int64(material_id), object_name(material.name, "Material"), string("")],
                [
                    Node("Version", [int32(102)]),
                    Node("ShadingModel", [string("Phong")]),
                    Node("MultiLayer", [int32(0)]),
                    Node("Properties70", [], properties),
                ],
            )
        )

    for mesh in scene.meshes:
        model_id, geometry_id = next(next_id), next(next_id)
        used, local = np.unique(mesh.material_indices, return_inverse=True)
        corners = mesh.triangles.astype(np.int64).copy()
        corners[:, 2] = ~corners[:, 2]  # A negative (bit-inverted) index ends each polygon.
        objects.append(
            Node(
                "Geometry",
                [int64(geometry_id), object_name(mesh.name, "Geometry"), string("Mesh")],
                [
                    Node("Properties70"),
                    Node("GeometryVersion", [int32(124)]),
                    Node("Vertices", [Prop("d", mesh.positions - mesh.origin)]),
                    Node("PolygonVertexIndex", [Prop("i", corners)]),
                    material_layer(local.reshape(-1)),
                    Node(
                        "Layer",
                        [int32(0)],
                        [
                            Node("Version", [int32(100)]),
                            Node(
                                "LayerElement",
                                [],
                                [
                                    Node("Type", [string("LayerElementMaterial")]),
                                    Node("TypedIndex", [int32(0)]),
                                ],
                            ),
                        ],
                    ),
                ],
            )
        )
        objects.append(
            Node(
                "Model",
                [int64(model_id), object_name(mesh.name, "Model"), string("Mesh")],
                [
                    Node("Version", [int32(232)]),
                    Node("Properties70", [], [p_vector("Lcl Translation", mesh.origin)]),
                    Node("Shading", [Prop("C", True)]),
                    Node("Culling", [string("CullingOff")]),
                ],
            )
        )
        connect(model_id, 0)
        connect(geometry_id, model_id)
        for material_index in used:
            connect(material_ids[int(material_index)], model_id)

    counts = {
        "Model": len(scene.meshes),
        "Geometry": len(scene.meshes),
        "Material": len(scene.materials),
    }
    return encode_file(
        [
            Node(
                "FBXHeaderExtension",
                children=[
                    Node("FBXHeaderVersion", [int32(1003)]),
                    Node("FBXVersion", [int32(FBX_VERSION)]),
                    Node("Creator", [string(creator)]),
                ],
            ),
            global_settings(),
            Node(
                "Documents",
                children=[
                    Node("Count", [int32(1)]),
                    Node(
                        "Document",
                        [int64(next(next_id)), string("Scene"), string("Scene")],
                        [Node("Properties70"), Node("RootNode", [int64(0)])],
                    ),
                ],
            ),
            Node("References"),
            definitions(counts),
            Node("Objects", children=objects),
            Node("Connections", children=connections),
        ]
    )


def material_layer(indices: np.ndarray) -> Node:
    return Node(
        "LayerElementMaterial",
        [int32(0)],
        [
            Node("Version", [int32(101)]),
            Node("Name", [string("")]),
            Node("MappingInformationType", [string("ByPolygon")]),
            Node("ReferenceInformationType", [string("IndexToDirect")]),
            Node("Materials", [Prop("i", indices)]),
        ],
    )


def definitions(counts: dict[str, int]) -> Node:
    kinds = [Node("ObjectType", [string("GlobalSettings")], [Node("Count", [int32(1)])])]
    kinds += [
        Node("ObjectType", [string(kind)], [Node("Count", [int32(count)])])
        for kind, count in counts.items()
        if count
    ]
    total = sum(counts.values()) + 1
    return Node(
        "Definitions",
        children=[Node("Version", [int32(100)]), Node("Count", [int32(total)]), *kinds],
    )
