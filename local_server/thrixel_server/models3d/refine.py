"""Phase 2 work on a real GLB: the same parts, subdivided and smoothed.

Node names, the hierarchy, transforms and materials stay as they were, and every node with a
mesh gets a denser, smoother mesh built from its own.
"""

from __future__ import annotations

import numpy as np
import trimesh

from .glb import BufferWriter, pack_glb, unpack_glb
from .rework import ReworkResult, mesh_triangle_counts, rebuild_node
from .scene import check_readable, node_name

MAX_SUBDIVIDED_TRIANGLES = 20_000
"""Primitives with more triangles than this are only smoothed: loop subdivision makes 4x."""
SMOOTHING_ITERATIONS = 4
TAUBIN_LAMBDA = 0.5
TAUBIN_MU = -0.53


def refine_surface(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subdivide once (loop subdivision, midpoint for non-manifold input) and Taubin-smooth."""
    if len(faces) <= MAX_SUBDIVIDED_TRIANGLES:
        try:
            points, faces = trimesh.remesh.subdivide_loop(points, faces, iterations=1)
        except (ValueError, IndexError):
            # Loop subdivision needs edges shared by at most two triangles.
            points, faces = trimesh.remesh.subdivide(points, faces)
    return taubin_smooth(np.asarray(points, dtype=np.float64), faces), np.asarray(faces)


def taubin_smooth(
    points: np.ndarray, faces: np.ndarray, iterations: int = SMOOTHING_ITERATIONS
) -> np.ndarray:
    """Smooth with Taubin's lambda/mu steps, which keep the volume (parts do not shrink apart).

    trimesh.smoothing needs scipy, so this is the same umbrella operator in plain numpy.
    """
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.concatenate([edges, edges[:, ::-1]]), axis=0)
    degree = np.bincount(edges[:, 0], minlength=len(points)).astype(np.float64)
    has_neighbours = degree > 0
    result = points.copy()
    for _ in range(iterations):
        for factor in (TAUBIN_LAMBDA, TAUBIN_MU):
            sums = np.zeros_like(result)
            np.add.at(sums, edges[:, 0], result[edges[:, 1]])
            step = sums[has_neighbours] / degree[has_neighbours, None] - result[has_neighbours]
            result[has_neighbours] += factor * step
    return result


def refine_glb(glb: bytes) -> ReworkResult:
    """Refine every node that has a mesh and return the new GLB with what changed."""
    gltf, binary = unpack_glb(glb)
    check_readable(gltf)
    writer = BufferWriter(gltf, bytearray(binary))
    result = ReworkResult(glb=b"")
    for index, node in enumerate(gltf.get("nodes", [])):
        if "mesh" not in node:
            continue
        result.triangles_before += mesh_triangle_counts(gltf, binary, node["mesh"])
        result.triangles_after += rebuild_node(gltf, binary, writer, index, refine_surface)
        result.changed_node_names.append(node_name(gltf, index))
    result.glb = pack_glb(gltf, writer.finish())
    return result
