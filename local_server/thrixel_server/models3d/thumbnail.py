"""PNG images of a model: a flat-shaded three-quarter view drawn with Pillow."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .glb import unpack_glb
from .scene import mesh_instances

MAX_DRAWN_TRIANGLES = 30_000
BACKGROUND = (38, 40, 46)


def _view_rotation(yaw_degrees: float = 35.0, pitch_degrees: float = 20.0) -> np.ndarray:
    yaw, pitch = np.radians(yaw_degrees), np.radians(pitch_degrees)
    around_y = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    around_x = np.array(
        [[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]]
    )
    return around_x @ around_y


def _collect_triangles(gltf: dict[str, Any], binary: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Return world-space triangle corners (n, 3, 3) and their RGBA colours (n, 4)."""
    corners, colors = [], []
    for instance in mesh_instances(gltf, binary):
        homogeneous = np.c_[instance.positions, np.ones(len(instance.positions))]
        world = (homogeneous @ instance.world.T)[:, :3]
        corners.append(world[instance.triangles])
        colors.append(np.tile(instance.base_color, (len(instance.triangles), 1)))
    if not corners:
        return np.zeros((0, 3, 3)), np.zeros((0, 4))
    return np.concatenate(corners), np.concatenate(colors)


def render_png(glb: bytes, size: int = 256) -> bytes:
    """Draw the model as a PNG of `size` x `size` pixels."""
    gltf, binary = unpack_glb(glb)
    corners, colors = _collect_triangles(gltf, binary)
    image = Image.new("RGB", (size, size), BACKGROUND)
    if len(corners):
        if len(corners) > MAX_DRAWN_TRIANGLES:
            keep = np.linspace(0, len(corners) - 1, MAX_DRAWN_TRIANGLES).astype(int)
            corners, colors = corners[keep], colors[keep]
        _draw_triangles(ImageDraw.Draw(image), corners, colors, size)
    return _png_bytes(image)


def _draw_triangles(
    draw: ImageDraw.ImageDraw, corners: np.ndarray, colors: np.ndarray, size: int
) -> None:
    view = corners @ _view_rotation().T
    lo, hi = view.reshape(-1, 3).min(axis=0), view.reshape(-1, 3).max(axis=0)
    scale = 0.85 * size / max(float(np.max(hi[:2] - lo[:2])), 1e-9)
    centre = (lo[:2] + hi[:2]) / 2
    normals = np.cross(view[:, 1] - view[:, 0], view[:, 2] - view[:, 0])
    lengths = np.maximum(np.linalg.norm(normals, axis=1), 1e-12)
    light = np.abs(normals @ np.array([0.3, 0.5, 0.8])) / lengths
    shade = 0.35 + 0.65 * light
    for index in np.argsort(view[:, :, 2].mean(axis=1)):
        points = [
            (size / 2 + (x - centre[0]) * scale, size / 2 - (y - centre[1]) * scale)
            for x, y, _ in view[index]
        ]
        rgb = tuple(int(255 * min(1.0, c * shade[index])) for c in colors[index][:3])
        draw.polygon(points, fill=rgb)


def pattern_png(seed_text: str, size: int, tint: tuple[float, ...] = (1.0, 1.0, 1.0)) -> bytes:
    """Make a square PNG whose pattern depends only on `seed_text`: a stand-in for a texture."""
    digest = hashlib.sha256(seed_text.encode("utf-8")).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    u, v = np.meshgrid(axis, axis)
    waves = np.zeros((size, size, 3), dtype=np.float32)
    for channel in range(3):
        fx, fy, phase = rng.uniform(2, 12), rng.uniform(2, 12), rng.uniform(0, 6.3)
        waves[:, :, channel] = 0.5 + 0.5 * np.sin(fx * u * 6.283 + fy * v * 6.283 + phase)
    pixels = (0.55 + 0.45 * waves) * np.array(tint[:3], dtype=np.float32)
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), "RGB")
    return _png_bytes(image)


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
