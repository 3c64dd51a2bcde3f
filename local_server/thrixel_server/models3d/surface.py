"""Per-vertex surface data computed from geometry: normals and box-mapped UVs."""

from __future__ import annotations

import numpy as np


def vertex_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Return area-weighted unit vertex normals (up, +Y, for vertices on no triangle)."""
    corners = positions[triangles]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    sums = np.zeros_like(positions, dtype=np.float64)
    for corner in range(3):
        np.add.at(sums, triangles[:, corner], face_normals)
    lengths = np.linalg.norm(sums, axis=1)
    sums[lengths == 0] = (0.0, 1.0, 0.0)
    lengths[lengths == 0] = 1.0
    return (sums / lengths[:, None]).astype(np.float32)


def box_uvs(positions: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
    """Project each vertex onto the bounding-box plane its normal faces most: a box mapping."""
    lo = positions.min(axis=0)
    span = np.maximum(positions.max(axis=0) - lo, 1e-9)
    unit = (positions - lo) / span
    if normals is None or len(normals) != len(positions):
        axis = np.full(len(positions), 1)
    else:
        axis = np.abs(normals).argmax(axis=1)
    uv = np.empty((len(positions), 2), dtype=np.float32)
    uv[axis == 0] = unit[axis == 0][:, [2, 1]]
    uv[axis == 1] = unit[axis == 1][:, [0, 2]]
    uv[axis == 2] = unit[axis == 2][:, [0, 1]]
    uv[:, 1] = 1.0 - uv[:, 1]
    return uv
