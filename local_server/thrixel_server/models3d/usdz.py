"""USDZ export with Pixar's USD library (the usd-core package): Y-up, metres, one Mesh prim
per part, with UsdPreviewSurface materials bound per face through GeomSubsets."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Tf, Usd, UsdGeom, UsdShade, UsdUtils, Vt

from .export_scene import ExportScene

MATERIAL_FAMILY = "materialBind"


def prim_name(name: str, fallback: str, used: set[str]) -> str:
    """Return a valid prim name for `name`, unique among `used` (which it extends)."""
    base = Tf.MakeValidIdentifier(name) if name else fallback
    candidate, suffix = base, 1
    while candidate in used:
        candidate, suffix = f"{base}_{suffix}", suffix + 1
    used.add(candidate)
    return candidate


def define_materials(stage: Usd.Stage, scene: ExportScene) -> list[UsdShade.Material]:
    materials = []
    used: set[str] = set()
    for index, material in enumerate(scene.materials):
        path = f"/Model/Materials/{prim_name(material.name, f'Material_{index}', used)}"
        shade = UsdShade.Material.Define(stage, path)
        shader = UsdShade.Shader.Define(stage, f"{path}/PreviewSurface")
        shader.CreateIdAttr("UsdPreviewSurface")
        shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(
            Gf.Vec3f(*material.color[:3])
        )
        shader.CreateInput("opacity", Sdf.ValueTypeNames.Float).Set(float(material.color[3]))
        shade.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
        materials.append(shade)
    return materials


def scene_to_usdz(scene: ExportScene) -> bytes:
    with tempfile.TemporaryDirectory(prefix="thrixel-usdz-") as folder:
        layer_path = str(Path(folder) / "model.usdc")
        stage = Usd.Stage.CreateNew(layer_path)
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
        UsdGeom.SetStageMetersPerUnit(stage, 1.0)
        stage.SetDefaultPrim(UsdGeom.Xform.Define(stage, "/Model").GetPrim())
        materials = define_materials(stage, scene)
        used: set[str] = {"Materials"}
        for index, mesh in enumerate(scene.meshes):
            name = prim_name(mesh.name, f"Part_{index}", used)
            geometry = UsdGeom.Mesh.Define(stage, f"/Model/{name}")
            geometry.AddTranslateOp().Set(Gf.Vec3d(*(float(v) for v in mesh.origin)))
            points = (mesh.positions - mesh.origin).astype(np.float32)
            geometry.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(points))
            geometry.CreateFaceVertexCountsAttr(Vt.IntArray([3] * len(mesh.triangles)))
            indices = mesh.triangles.reshape(-1).astype(np.int32)
            geometry.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(indices))
            geometry.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
            bind_materials(geometry, mesh.material_indices, materials)
        stage.GetRootLayer().Save()
        package = Path(folder) / "model.usdz"
        if not UsdUtils.CreateNewUsdzPackage(Sdf.AssetPath(layer_path), str(package)):
            raise ValueError("USD could not package the model as USDZ")
        return package.read_bytes()


def bind_materials(
    geometry: UsdGeom.Mesh, material_indices: np.ndarray, materials: list[UsdShade.Material]
) -> None:
    """Bind one material to the whole mesh, or one per GeomSubset of faces when it has several."""
    used = np.unique(material_indices)
    if len(used) == 1:
        UsdShade.MaterialBindingAPI.Apply(geometry.GetPrim()).Bind(materials[int(used[0])])
        return
    for material in used:
        faces = np.flatnonzero(material_indices == material).astype(np.int32)
        subset = UsdGeom.Subset.CreateGeomSubset(
            geometry,
            f"material_{int(material)}",
            UsdGeom.Tokens.face,
            Vt.IntArray.FromNumpy(faces),
            MATERIAL_FAMILY,
            UsdGeom.Tokens.partition,
        )
        UsdShade.MaterialBindingAPI.Apply(subset.GetPrim()).Bind(materials[int(material)])
