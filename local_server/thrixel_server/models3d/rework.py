"""Phase 4 work on a real GLB: decimate chosen nodes and bake a base-colour texture onto them.

Node names, the hierarchy and every transform stay as they were. Only the chosen nodes get a
new mesh; the old buffer data is kept, unreferenced, so other nodes keep their accessors.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fast_simplification
import numpy as np

from .glb import BufferWriter, pack_glb, read_accessor, unpack_glb
from .scene import check_readable, node_name, triangle_indices
from .surface import box_uvs, vertex_normals
from .thumbnail import pattern_png

MIN_TRIANGLES_PER_PRIMITIVE = 1


@dataclass
class ReworkResult:
    glb: bytes
    changed_node_names: list[str] = field(default_factory=list)
    triangles_before: int = 0
    triangles_after: int = 0


def node_names(glb: bytes) -> list[str]:
    gltf, _ = unpack_glb(glb)
    return [node_name(gltf, i) for i in range(len(gltf.get("nodes", [])))]


def weld(positions: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices at the same position, so seams do not open up during decimation."""
    unique, inverse = np.unique(np.round(positions, 6), axis=0, return_inverse=True)
    welded = inverse.reshape(-1)[triangles]
    keep = (
        (welded[:, 0] != welded[:, 1])
        & (welded[:, 1] != welded[:, 2])
        & (welded[:, 0] != welded[:, 2])
    )
    return unique.astype(np.float64), welded[keep]


def simplify(
    positions: np.ndarray, triangles: np.ndarray, budget: int
) -> tuple[np.ndarray, np.ndarray]:
    if len(triangles) <= budget:
        return positions, triangles
    points, faces = fast_simplification.simplify(
        positions, triangles.astype(np.int32), target_count=max(budget, 1)
    )
    faces = np.asarray(faces)
    if len(faces) > budget:
        # fast-simplification may stop a little above its target; drop the remainder.
        faces = faces[:budget]
    return np.asarray(points), faces


def mesh_triangle_counts(gltf: dict[str, Any], binary: bytes, mesh_index: int) -> int:
    total = 0
    for primitive in gltf["meshes"][mesh_index]["primitives"]:
        positions = read_accessor(gltf, binary, primitive["attributes"]["POSITION"])
        triangles = triangle_indices(gltf, binary, primitive, len(positions))
        total += 0 if triangles is None else len(triangles)
    return total


@dataclass
class Baker:
    """Adds one baked material (a generated base-colour texture) per reworked node."""

    gltf: dict[str, Any]
    writer: BufferWriter
    texture_size: int
    seed_text: str

    def material(self, name: str, tint: tuple[float, ...]) -> int:
        png = pattern_png(f"{self.seed_text}|{name}", self.texture_size, tint)
        images = self.gltf.setdefault("images", [])
        images.append(
            {
                "name": f"{name} Base Color",
                "mimeType": "image/png",
                "bufferView": self.writer.add_view(png),
            }
        )
        samplers = self.gltf.setdefault("samplers", [])
        if not samplers:
            samplers.append({"magFilter": 9729, "minFilter": 9987})
        textures = self.gltf.setdefault("textures", [])
        textures.append({"sampler": 0, "source": len(images) - 1})
        materials = self.gltf.setdefault("materials", [])
        materials.append(
            {
                "name": f"{name} Baked",
                "pbrMetallicRoughness": {
                    "baseColorTexture": {"index": len(textures) - 1},
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.7,
                },
            }
        )
        return len(materials) - 1


def rework_glb(
    glb: bytes,
    *,
    node_filter: list[str],
    decimation_target: int | None,
    texture_size: int | None,
    seed_text: str,
) -> ReworkResult:
    """Decimate (when a target is given) and bake (when a size is given) the chosen nodes.

    An empty `node_filter` means every node with a mesh. The chosen nodes together end with at
    most `decimation_target` triangles.
    """
    gltf, binary = unpack_glb(glb)
    check_readable(gltf)
    chosen = [
        i
        for i, node in enumerate(gltf.get("nodes", []))
        if "mesh" in node and (not node_filter or node_name(gltf, i) in node_filter)
    ]
    counts = {i: mesh_triangle_counts(gltf, binary, gltf["nodes"][i]["mesh"]) for i in chosen}
    before = sum(counts.values())
    ratio = 1.0
    if decimation_target is not None and before > decimation_target:
        ratio = decimation_target / before
    writer = BufferWriter(gltf, bytearray(binary))
    baker = Baker(gltf, writer, texture_size, seed_text) if texture_size else None
    result = ReworkResult(glb=b"", triangles_before=before)
    for index in chosen:
        result.triangles_after += rework_node(gltf, binary, writer, baker, index, ratio)
        result.changed_node_names.append(node_name(gltf, index))
    result.glb = pack_glb(gltf, writer.finish())
    return result


Reshape = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""Turns welded (positions, triangles) of one primitive into new ones."""


def rework_node(
    gltf: dict[str, Any],
    binary: bytes,
    writer: BufferWriter,
    baker: Baker | None,
    index: int,
    ratio: float,
) -> int:
    """Give node `index` its own decimated (and baked) mesh; return its triangle count."""

    def decimate(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        budget = max(MIN_TRIANGLES_PER_PRIMITIVE, int(len(faces) * ratio))
        return simplify(points, faces, budget)

    baked = baker.material(node_name(gltf, index), (1.0, 1.0, 1.0)) if baker else None
    return rebuild_node(gltf, binary, writer, index, decimate, baked)


def rebuild_node(
    gltf: dict[str, Any],
    binary: bytes,
    writer: BufferWriter,
    index: int,
    reshape: Reshape,
    material: int | None = None,
) -> int:
    """Give node `index` a new mesh made by `reshape` from each of its primitives.

    Each primitive keeps its material unless `material` replaces it. Returns the node's new
    triangle count.
    """
    node = gltf["nodes"][index]
    old_mesh = gltf["meshes"][node["mesh"]]
    mesh = {k: copy.deepcopy(v) for k, v in old_mesh.items() if k not in ("primitives", "weights")}
    mesh["primitives"] = []
    total = 0
    for primitive in old_mesh["primitives"]:
        positions = read_accessor(gltf, binary, primitive["attributes"]["POSITION"])
        triangles = triangle_indices(gltf, binary, primitive, len(positions))
        if triangles is None or not len(triangles):
            continue
        points, faces = reshape(*weld(positions.astype(np.float64), triangles))
        normals = vertex_normals(points, faces)
        new_primitive: dict[str, Any] = {
            "attributes": {
                "POSITION": writer.add_accessor(points),
                "NORMAL": writer.add_accessor(normals),
                "TEXCOORD_0": writer.add_accessor(box_uvs(points, normals)),
            },
            "indices": writer.add_accessor(faces, indices=True),
        }
        chosen = material if material is not None else primitive.get("material")
        if chosen is not None:
            new_primitive["material"] = chosen
        mesh["primitives"].append(new_primitive)
        total += len(faces)
    gltf["meshes"].append(mesh)
    node["mesh"] = len(gltf["meshes"]) - 1
    # Skin weights and morph targets do not survive a rebuilt mesh, so the node drops them.
    node.pop("skin", None)
    node.pop("weights", None)
    return total
