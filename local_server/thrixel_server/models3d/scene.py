"""Walk a glTF scene: node transforms and the triangles of every mesh instance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .glb import GlbError, read_accessor

UNSUPPORTED_EXTENSIONS = ("EXT_meshopt_compression", "KHR_draco_mesh_compression")


@dataclass
class MeshInstance:
    """One triangle primitive placed in the world by its node."""

    node_index: int
    node_name: str
    mesh_index: int
    primitive_index: int
    world: np.ndarray
    positions: np.ndarray
    triangles: np.ndarray
    base_color: tuple[float, float, float, float]


def check_readable(gltf: dict[str, Any]) -> None:
    """Raise GlbError for compressed geometry, which this server cannot decode."""
    for name in gltf.get("extensionsRequired", []):
        if name in UNSUPPORTED_EXTENSIONS:
            raise GlbError(f"geometry compressed with {name} is not supported")


def node_name(gltf: dict[str, Any], index: int) -> str:
    return str(gltf["nodes"][index].get("name", f"Node {index}"))


def local_matrix(node: dict[str, Any]) -> np.ndarray:
    if "matrix" in node:
        return np.array(node["matrix"], dtype=np.float64).reshape(4, 4).T
    x, y, z, w = node.get("rotation", [0.0, 0.0, 0.0, 1.0])
    rotation = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * np.array(node.get("scale", [1.0, 1.0, 1.0]))
    matrix[:3, 3] = node.get("translation", [0.0, 0.0, 0.0])
    return matrix


def scene_roots(gltf: dict[str, Any]) -> list[int]:
    scenes = gltf.get("scenes") or []
    if scenes:
        return list(scenes[gltf.get("scene", 0)].get("nodes", []))
    children = {c for node in gltf.get("nodes", []) for c in node.get("children", [])}
    return [i for i in range(len(gltf.get("nodes", []))) if i not in children]


def world_matrices(gltf: dict[str, Any]) -> dict[int, np.ndarray]:
    """Return the world matrix of every node reachable from the default scene."""
    result: dict[int, np.ndarray] = {}
    stack = [(root, np.eye(4)) for root in scene_roots(gltf)]
    while stack:
        index, parent = stack.pop()
        if index in result:
            continue
        world = parent @ local_matrix(gltf["nodes"][index])
        result[index] = world
        stack.extend((child, world) for child in gltf["nodes"][index].get("children", []))
    return result


def triangle_indices(
    gltf: dict[str, Any], binary: bytes, primitive: dict[str, Any], vertex_count: int
) -> np.ndarray | None:
    """Return (n, 3) triangle indices of a primitive, or None when it is not triangles."""
    mode = primitive.get("mode", 4)
    if "indices" in primitive:
        flat = read_accessor(gltf, binary, primitive["indices"]).reshape(-1).astype(np.int64)
    else:
        flat = np.arange(vertex_count, dtype=np.int64)
    if mode == 4:
        return flat[: len(flat) - len(flat) % 3].reshape(-1, 3)
    if mode == 5 and len(flat) >= 3:
        strip = np.stack([flat[:-2], flat[1:-1], flat[2:]], axis=1)
        strip[1::2] = strip[1::2][:, [1, 0, 2]]
        return strip
    if mode == 6 and len(flat) >= 3:
        return np.stack([np.full(len(flat) - 2, flat[0]), flat[1:-1], flat[2:]], axis=1)
    return None


def material_color(gltf: dict[str, Any], material: int | None) -> tuple[float, ...]:
    if material is None:
        return (0.8, 0.8, 0.8, 1.0)
    pbr = gltf["materials"][material].get("pbrMetallicRoughness", {})
    return tuple(pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0]))


def mesh_instances(gltf: dict[str, Any], binary: bytes) -> Iterator[MeshInstance]:
    check_readable(gltf)
    for node_index, world in sorted(world_matrices(gltf).items()):
        node = gltf["nodes"][node_index]
        if "mesh" not in node:
            continue
        for primitive_index, primitive in enumerate(gltf["meshes"][node["mesh"]]["primitives"]):
            positions = read_accessor(gltf, binary, primitive["attributes"]["POSITION"])
            triangles = triangle_indices(gltf, binary, primitive, len(positions))
            if triangles is None:
                continue
            color = material_color(gltf, primitive.get("material"))
            yield MeshInstance(
                node_index,
                node_name(gltf, node_index),
                node["mesh"],
                primitive_index,
                world,
                positions.astype(np.float64),
                triangles,
                (color[0], color[1], color[2], color[3]),
            )


def triangle_count(gltf: dict[str, Any], binary: bytes) -> int:
    return sum(len(instance.triangles) for instance in mesh_instances(gltf, binary))
