"""Models generated from a prompt: named parts chosen from its words, the same bytes each time."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from .glb import BufferWriter, pack_glb
from .surface import box_uvs, vertex_normals

ShapeFactory = Callable[[int], trimesh.Trimesh]

SHAPES: dict[str, ShapeFactory] = {
    "box": lambda detail: trimesh.creation.box(extents=(1.0, 1.0, 1.0)),
    "sphere": lambda detail: trimesh.creation.icosphere(subdivisions=2 + detail, radius=0.5),
    "cylinder": lambda detail: trimesh.creation.cylinder(
        radius=0.5, height=1.0, sections=16 * (1 + detail)
    ),
    "cone": lambda detail: trimesh.creation.cone(
        radius=0.5, height=1.0, sections=16 * (1 + detail)
    ),
    "capsule": lambda detail: trimesh.creation.capsule(
        height=0.6, radius=0.4, count=(12 * (1 + detail),) * 2
    ),
}
UPRIGHT_SHAPES = frozenset({"cylinder", "cone", "capsule"})


@dataclass(frozen=True)
class Part:
    name: str
    shape: str
    translation: tuple[float, float, float]
    scale: tuple[float, float, float]
    material: str | None = None


BASE_PARTS = (
    Part("Body", "capsule", (0.0, 0.0, 0.0), (1.0, 1.4, 0.8)),
    Part("Head", "sphere", (0.0, 1.15, 0.0), (0.7, 0.7, 0.7)),
)
KEYWORD_PARTS: dict[str, tuple[Part, ...]] = {
    "lantern": (
        Part("Lantern", "cylinder", (0.8, 0.3, 0.3), (0.3, 0.45, 0.3), "Iron"),
        Part("Lantern Glass.001", "sphere", (0.8, 0.3, 0.3), (0.22, 0.3, 0.22), "Glass"),
    ),
    "wing": (
        Part("Wing.L", "box", (-0.9, 0.6, -0.2), (1.2, 0.1, 0.6)),
        Part("Wing.R", "box", (0.9, 0.6, -0.2), (1.2, 0.1, 0.6)),
    ),
    "horn": (
        Part("Horn.L", "cone", (-0.25, 1.55, 0.0), (0.15, 0.4, 0.15)),
        Part("Horn.R", "cone", (0.25, 1.55, 0.0), (0.15, 0.4, 0.15)),
    ),
    "tail": (Part("Tail", "cylinder", (0.0, -0.5, -0.7), (0.15, 0.15, 0.9)),),
    "hat": (Part("Hat", "cone", (0.0, 1.7, 0.0), (0.6, 0.5, 0.6)),),
    "sword": (
        Part("Sword Blade", "box", (0.9, 0.4, 0.2), (0.1, 1.4, 0.25), "Steel"),
        Part("Sword Hilt", "cylinder", (0.9, -0.4, 0.2), (0.12, 0.3, 0.12)),
    ),
    "shield": (Part("Shield", "cylinder", (-0.8, 0.2, 0.3), (0.8, 0.08, 0.8)),),
    "robot": (
        Part("Antenna", "cylinder", (0.0, 1.75, 0.0), (0.05, 0.5, 0.05), "Steel"),
        Part("Arm.L", "capsule", (-0.75, 0.2, 0.0), (0.3, 0.9, 0.3)),
        Part("Arm.R", "capsule", (0.75, 0.2, 0.0), (0.3, 0.9, 0.3)),
    ),
    "base": (Part("Pedestal", "box", (0.0, -1.1, 0.0), (1.4, 0.3, 1.4), "Stone"),),
}
KEYWORD_ALIASES = {
    "wings": "wing",
    "horns": "horn",
    "pedestal": "base",
    "plinth": "base",
    "mech": "robot",
    "android": "robot",
    "lamp": "lantern",
}
EXTRA_PARTS = (
    Part("Crest", "cone", (0.0, 1.6, -0.1), (0.2, 0.35, 0.5)),
    Part("Ornament", "sphere", (0.0, 0.3, 0.45), (0.25, 0.25, 0.25)),
    Part("Pedestal", "box", (0.0, -1.1, 0.0), (1.4, 0.3, 1.4), "Stone"),
)
MATERIAL_COLORS: dict[str, tuple[float, float, float, float]] = {
    "Stone": (0.46, 0.45, 0.42, 1.0),
    "Bronze": (0.55, 0.37, 0.2, 1.0),
    "Wood": (0.45, 0.3, 0.16, 1.0),
    "Gold": (0.83, 0.66, 0.22, 1.0),
    "Steel": (0.62, 0.64, 0.67, 1.0),
    "Iron": (0.3, 0.3, 0.32, 1.0),
    "Glass": (0.75, 0.9, 1.0, 0.45),
    "Red": (0.75, 0.12, 0.1, 1.0),
    "Blue": (0.12, 0.3, 0.8, 1.0),
    "Green": (0.15, 0.6, 0.2, 1.0),
    "Marble": (0.9, 0.89, 0.86, 1.0),
    "Clay": (0.72, 0.42, 0.3, 1.0),
}
STOP_WORDS = {
    "a",
    "an",
    "the",
    "of",
    "with",
    "and",
    "holding",
    "small",
    "large",
    "big",
    "on",
    "in",
    "make",
    "made",
    "very",
    "little",
}


def prompt_words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def choose_parts(prompt: str) -> list[Part]:
    """Pick the model's parts from the prompt's words; unknown prompts get one extra part."""
    words = prompt_words(prompt)
    parts = list(BASE_PARTS)
    seen: set[str] = set()
    for word in words:
        keyword = KEYWORD_ALIASES.get(word, word)
        if keyword in KEYWORD_PARTS and keyword not in seen:
            seen.add(keyword)
            parts.extend(KEYWORD_PARTS[keyword])
    if not seen:
        digest = hashlib.sha256(prompt.encode("utf-8")).digest()
        parts.append(EXTRA_PARTS[digest[0] % len(EXTRA_PARTS)])
    return parts


def model_name(prompt: str) -> str:
    words = [w for w in prompt_words(prompt) if w not in STOP_WORDS]
    return max(words, key=len).capitalize() if words else "Model"


def prompt_material(prompt: str) -> str | None:
    for word in prompt_words(prompt):
        if word.capitalize() in MATERIAL_COLORS:
            return word.capitalize()
    return None


def material_color(name: str, prompt: str) -> tuple[float, float, float, float]:
    if name in MATERIAL_COLORS:
        return MATERIAL_COLORS[name]
    digest = hashlib.sha256(f"{prompt}|{name}".encode()).digest()
    red, green, blue = (0.2 + 0.7 * b / 255 for b in digest[:3])
    return (round(red, 4), round(green, 4), round(blue, 4), 1.0)


def part_mesh(part: Part, detail: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return positions, normals, UVs and triangles of a part, scaled in its own space."""
    mesh = SHAPES[part.shape](detail)
    if part.shape in UPRIGHT_SHAPES:
        # trimesh builds these along +Z; glTF is Y-up, so stand them upright.
        mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, (1, 0, 0)))
    mesh.apply_scale(np.array(part.scale))
    positions = np.asarray(mesh.vertices, dtype=np.float32)
    faces = np.asarray(mesh.faces)
    normals = vertex_normals(positions, faces)
    return positions, normals, box_uvs(positions, normals), faces


def build_prompt_glb(prompt: str, detail: int = 0) -> bytes:
    """Build the GLB for a prompt: a root node named after it with one child node per part."""
    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "Thrixel local server"},
        "scene": 0,
        "scenes": [{"name": "Scene", "nodes": [0]}],
        "nodes": [{"name": model_name(prompt), "children": []}],
        "meshes": [],
        "materials": [],
    }
    writer = BufferWriter(gltf)
    materials: dict[str, int] = {}
    default_material = prompt_material(prompt)
    for part in choose_parts(prompt):
        material_name = part.material or default_material or f"{part.name} Material"
        if material_name not in materials:
            color = material_color(material_name, prompt)
            material: dict[str, Any] = {
                "name": material_name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": list(color),
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.8,
                },
            }
            if color[3] < 1.0:
                material["alphaMode"] = "BLEND"
            materials[material_name] = len(gltf["materials"])
            gltf["materials"].append(material)
        positions, normals, uvs, faces = part_mesh(part, detail)
        primitive = {
            "attributes": {
                "POSITION": writer.add_accessor(positions),
                "NORMAL": writer.add_accessor(normals),
                "TEXCOORD_0": writer.add_accessor(uvs),
            },
            "indices": writer.add_accessor(faces, indices=True),
            "material": materials[material_name],
        }
        gltf["meshes"].append({"name": f"{part.name} Mesh", "primitives": [primitive]})
        gltf["nodes"][0]["children"].append(len(gltf["nodes"]))
        gltf["nodes"].append(
            {
                "name": part.name,
                "mesh": len(gltf["meshes"]) - 1,
                "translation": list(part.translation),
            }
        )
    binary = writer.finish()
    return pack_glb(gltf, binary)
