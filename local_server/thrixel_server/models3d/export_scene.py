"""A GLB flattened for export to other formats: one mesh per glTF node, in world space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .glb import unpack_glb
from .scene import mesh_instances


@dataclass
class ExportMaterial:
    name: str
    color: tuple[float, float, float, float]
    """Base colour factor, linear RGBA."""


@dataclass
class ExportMesh:
    name: str
    """Name of the glTF node the mesh comes from."""
    positions: np.ndarray
    """World-space vertex positions (n, 3), glTF axes: Y up, metres."""
    triangles: np.ndarray
    """Vertex indices (m, 3)."""
    material_indices: np.ndarray
    """Index into ExportScene.materials for each triangle (m,)."""
    origin: np.ndarray
    """World position of the node, where formats with object transforms put the object."""


@dataclass
class ExportScene:
    meshes: list[ExportMesh]
    materials: list[ExportMaterial]

    @property
    def triangle_count(self) -> int:
        return sum(len(mesh.triangles) for mesh in self.meshes)


def material_name(gltf: dict[str, Any], index: int | None) -> str:
    if index is None:
        return "Default"
    return str(gltf["materials"][index].get("name") or f"Material {index}")


def export_scene(glb: bytes) -> ExportScene:
    """Flatten a GLB, or raise ValueError when it has no triangles to export."""
    gltf, binary = unpack_glb(glb)
    materials: list[ExportMaterial] = []
    material_slots: dict[int | None, int] = {}
    parts: dict[int, list[tuple[np.ndarray, np.ndarray, int]]] = {}
    names: dict[int, str] = {}
    origins: dict[int, np.ndarray] = {}
    for instance in mesh_instances(gltf, binary):
        primitive = gltf["meshes"][instance.mesh_index]["primitives"][instance.primitive_index]
        material = primitive.get("material")
        if material not in material_slots:
            material_slots[material] = len(materials)
            materials.append(ExportMaterial(material_name(gltf, material), instance.base_color))
        homogeneous = np.c_[instance.positions, np.ones(len(instance.positions))]
        world = (homogeneous @ instance.world.T)[:, :3]
        triangles = instance.triangles
        if np.linalg.det(instance.world[:3, :3]) < 0:
            # A mirroring transform turns the winding inside out, so flip it back.
            triangles = triangles[:, ::-1]
        parts.setdefault(instance.node_index, []).append(
            (world, triangles, material_slots[material])
        )
        names[instance.node_index] = instance.node_name
        origins[instance.node_index] = instance.world[:3, 3].copy()
    meshes = [merged_mesh(names[node], origins[node], pieces) for node, pieces in parts.items()]
    scene = ExportScene(meshes, materials)
    if not scene.triangle_count:
        raise ValueError("the model has no triangles to export")
    return scene


def merged_mesh(
    name: str, origin: np.ndarray, pieces: list[tuple[np.ndarray, np.ndarray, int]]
) -> ExportMesh:
    positions, triangles, material_indices = [], [], []
    offset = 0
    for world, faces, material in pieces:
        positions.append(world)
        triangles.append(faces + offset)
        material_indices.append(np.full(len(faces), material, dtype=np.int64))
        offset += len(world)
    return ExportMesh(
        name=name,
        positions=np.concatenate(positions),
        triangles=np.concatenate(triangles).astype(np.int64),
        material_indices=np.concatenate(material_indices),
        origin=origin,
    )
