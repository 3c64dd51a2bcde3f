"""Convert a GLB to FBX, OBJ, STL or USDZ: the files `/download` and `/convert` serve.

OBJ and STL are written by trimesh, USDZ by Pixar's USD library (the usd-core package) and
FBX by the binary writer in `fbx.py`. Every format keeps the glTF node names as object names
except STL, which has no names. Every format but STL keeps glTF's Y-up axes and states them.
STL has no axis metadata, so it is turned Z-up, the convention of 3D printing tools and of
Blender's STL importer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from .export_scene import ExportScene, export_scene
from .fbx import scene_to_fbx

Y_UP_TO_Z_UP = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)


def trimesh_scene(scene: ExportScene) -> trimesh.Scene:
    result = trimesh.Scene()
    for mesh in scene.meshes:
        geometry = trimesh.Trimesh(vertices=mesh.positions, faces=mesh.triangles, process=False)
        result.add_geometry(geometry, geom_name=mesh.name, node_name=mesh.name)
    return result


def to_obj(scene: ExportScene) -> bytes:
    text = trimesh.exchange.obj.export_obj(
        trimesh_scene(scene),
        include_normals=False,
        include_color=False,
        include_texture=False,
        header="Thrixel local server",
    )
    return str(text).encode("utf-8")


def to_stl(scene: ExportScene) -> bytes:
    combined = trimesh.util.concatenate(list(trimesh_scene(scene).geometry.values()))
    combined.apply_transform(Y_UP_TO_Z_UP)
    return bytes(trimesh.exchange.stl.export_stl(combined))


def to_usdz(scene: ExportScene) -> bytes:
    # Imported on use: usd-core is large, and only USDZ conversions need it.
    from .usdz import scene_to_usdz

    return scene_to_usdz(scene)


WRITERS: dict[str, Callable[[ExportScene], bytes]] = {
    "fbx": scene_to_fbx,
    "obj": to_obj,
    "stl": to_stl,
    "usdz": to_usdz,
}
CONVERT_FORMATS = tuple(WRITERS)


def convert_glb(glb: bytes, format: str) -> bytes:
    """Convert GLB bytes to `format`, or raise ValueError when the model cannot be converted."""
    if format not in WRITERS:
        raise ValueError(f"cannot convert to {format!r}; expected one of {CONVERT_FORMATS}")
    return WRITERS[format](export_scene(glb))
