"""Phase 3 work on a real GLB: apply a natural-language edit by reading its words.

The request's words pick the parts (node names), and the change: a colour or material word
recolours them, "glow" makes them emissive, "bigger" or "smaller" scales them, "remove" deletes
them, and a known part the model lacks ("add wings") is added. A request none of these rules
understand still recolours one part, chosen from the request's hash, so every edit changes
something visible.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .glb import BufferWriter, pack_glb, unpack_glb
from .prompt_model import (
    KEYWORD_ALIASES,
    KEYWORD_PARTS,
    MATERIAL_COLORS,
    Part,
    material_color,
    part_mesh,
    prompt_words,
)
from .scene import check_readable, node_name, scene_roots
from .scene import material_color as gltf_material_color

GROW_WORDS = frozenset({"bigger", "larger", "taller", "longer", "wider", "huge", "enlarge", "grow"})
SHRINK_WORDS = frozenset({"smaller", "shorter", "thinner", "tiny", "shrink", "narrower"})
REMOVE_WORDS = frozenset({"remove", "delete", "without", "drop", "lose"})
GLOW_WORDS = frozenset({"glow", "glowing", "glows", "shine", "shining", "emissive", "lit"})
GROW_FACTOR = 1.35
SHRINK_FACTOR = 0.7


@dataclass
class ModifyResult:
    glb: bytes
    changed_node_names: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    """One sentence per applied change, such as "Recoloured Lantern to Blue"."""


def singular(word: str) -> str:
    """Return the keyword form of a word: "horns" and "horn" both become "horn"."""
    word = KEYWORD_ALIASES.get(word, word)
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = KEYWORD_ALIASES.get(word[:-1], word[:-1])
    return word


def name_words(name: str) -> set[str]:
    return {singular(word) for word in prompt_words(name)}


@dataclass
class Edit:
    """The gltf being edited, with the binary writer for parts added to it."""

    gltf: dict[str, Any]
    writer: BufferWriter
    result: ModifyResult

    def mesh_nodes(self) -> list[int]:
        return [i for i, node in enumerate(self.gltf.get("nodes", [])) if "mesh" in node]

    def mark(self, index: int, change: str) -> None:
        name = node_name(self.gltf, index)
        if name not in self.result.changed_node_names:
            self.result.changed_node_names.append(name)
        self.result.changes.append(change.format(name=name))

    def add_material(self, name: str, color: tuple[float, ...], glow: bool) -> int:
        material: dict[str, Any] = {
            "name": name,
            "pbrMetallicRoughness": {
                "baseColorFactor": list(color),
                "metallicFactor": 0.0,
                "roughnessFactor": 0.6,
            },
        }
        if glow:
            material["emissiveFactor"] = list(color[:3])
        if color[3] < 1.0:
            material["alphaMode"] = "BLEND"
        materials = self.gltf.setdefault("materials", [])
        materials.append(material)
        return len(materials) - 1

    def node_color(self, index: int) -> tuple[float, ...]:
        mesh = self.gltf["meshes"][self.gltf["nodes"][index]["mesh"]]
        primitives = mesh.get("primitives") or [{}]
        return gltf_material_color(self.gltf, primitives[0].get("material"))

    def recolour(self, index: int, material: int) -> None:
        """Point node `index` at its own copy of its mesh, with every primitive in `material`."""
        node = self.gltf["nodes"][index]
        mesh = copy.deepcopy(self.gltf["meshes"][node["mesh"]])
        for primitive in mesh.get("primitives", []):
            primitive["material"] = material
        self.gltf["meshes"].append(mesh)
        node["mesh"] = len(self.gltf["meshes"]) - 1

    def scale(self, index: int, factor: float) -> None:
        node = self.gltf["nodes"][index]
        if "matrix" in node:
            matrix = np.array(node["matrix"], dtype=np.float64).reshape(4, 4)
            matrix[:3, :3] *= factor
            node["matrix"] = [float(v) for v in matrix.reshape(-1)]
        else:
            node["scale"] = [float(v) * factor for v in node.get("scale", [1.0, 1.0, 1.0])]

    def add_part(self, part: Part, prompt: str) -> int:
        """Add `part` as a child of the first scene root and return its node index."""
        material_name = part.material or f"{part.name} Material"
        material = self.add_material(material_name, material_color(material_name, prompt), False)
        positions, normals, uvs, faces = part_mesh(part, 0)
        primitive = {
            "attributes": {
                "POSITION": self.writer.add_accessor(positions),
                "NORMAL": self.writer.add_accessor(normals),
                "TEXCOORD_0": self.writer.add_accessor(uvs),
            },
            "indices": self.writer.add_accessor(faces, indices=True),
            "material": material,
        }
        meshes = self.gltf.setdefault("meshes", [])
        meshes.append({"name": f"{part.name} Mesh", "primitives": [primitive]})
        nodes = self.gltf.setdefault("nodes", [])
        nodes.append(
            {"name": part.name, "mesh": len(meshes) - 1, "translation": list(part.translation)}
        )
        index = len(nodes) - 1
        roots = scene_roots(self.gltf)
        if roots and roots[0] != index:
            nodes[roots[0]].setdefault("children", []).append(index)
        else:
            scenes = self.gltf.setdefault("scenes", [{"nodes": []}])
            scenes[self.gltf.get("scene", 0)].setdefault("nodes", []).append(index)
        return index

    def remove(self, doomed: set[int]) -> bool:
        """Delete nodes and descendants. Return False, changing nothing, when a skin uses one."""
        nodes = self.gltf.get("nodes", [])
        stack = list(doomed)
        while stack:
            for child in nodes[stack.pop()].get("children", []):
                if child not in doomed:
                    doomed.add(child)
                    stack.append(child)
        for skin in self.gltf.get("skins", []):
            if doomed & {*skin.get("joints", []), skin.get("skeleton", -1)}:
                return False
        keep = [i for i in range(len(nodes)) if i not in doomed]
        remap = {old: new for new, old in enumerate(keep)}
        self.gltf["nodes"] = [nodes[i] for i in keep]
        for node in self.gltf["nodes"]:
            if "children" in node:
                node["children"] = [remap[c] for c in node["children"] if c in remap]
                if not node["children"]:
                    del node["children"]
        for scene in self.gltf.get("scenes", []):
            scene["nodes"] = [remap[n] for n in scene.get("nodes", []) if n in remap]
        for skin in self.gltf.get("skins", []):
            skin["joints"] = [remap[j] for j in skin["joints"]]
            if "skeleton" in skin:
                skin["skeleton"] = remap[skin["skeleton"]]
        self._remap_animations(remap)
        return True

    def _remap_animations(self, remap: dict[int, int]) -> None:
        animations = []
        for animation in self.gltf.get("animations", []):
            channels = []
            for channel in animation.get("channels", []):
                target = channel.get("target", {})
                if "node" in target:
                    if target["node"] not in remap:
                        continue
                    target["node"] = remap[target["node"]]
                channels.append(channel)
            if channels:
                animation["channels"] = channels
                animations.append(animation)
        if "animations" in self.gltf:
            self.gltf["animations"] = animations


def modify_glb(glb: bytes, request: str) -> ModifyResult:
    """Apply the edit `request` to a GLB and return the new GLB with the changes made."""
    gltf, binary = unpack_glb(glb)
    check_readable(gltf)
    edit = Edit(gltf, BufferWriter(gltf, bytearray(binary)), ModifyResult(glb=b""))
    raw_words = prompt_words(request)
    words = [singular(word) for word in raw_words]
    word_set = set(words)
    names = {i: name_words(node_name(gltf, i)) for i in range(len(gltf.get("nodes", [])))}
    targets = [i for i in edit.mesh_nodes() if names[i] & word_set]
    target_words = set().union(*(names[i] for i in targets))
    # A material word that names a part ("the glass") picks the part, not the colour.
    colors = [w.capitalize() for w in raw_words if w.capitalize() in MATERIAL_COLORS]
    colors = [c for c in colors if c.lower() not in target_words] or colors

    if word_set & REMOVE_WORDS:
        remove_parts(edit, targets)
    else:
        added = add_missing_parts(edit, words, names, request)
        recolour_parts(edit, targets or added or edit.mesh_nodes(), colors, word_set)
        factor = (
            GROW_FACTOR
            if word_set & GROW_WORDS
            else SHRINK_FACTOR
            if word_set & SHRINK_WORDS
            else None
        )
        if factor is not None:
            # Without named parts the whole model scales, from its roots.
            for index in targets or added or scene_roots(gltf):
                edit.scale(index, factor)
                edit.mark(index, f"Scaled {{name}} by {factor}")
    if not edit.result.changes:
        recolour_fallback(edit, request)
    edit.result.glb = pack_glb(gltf, edit.writer.finish())
    return edit.result


def remove_parts(edit: Edit, targets: list[int]) -> None:
    names = [node_name(edit.gltf, i) for i in targets]
    if targets and edit.remove(set(targets)):
        edit.result.changed_node_names.extend(names)
        edit.result.changes.extend(f"Removed {name}" for name in names)


def add_missing_parts(
    edit: Edit, words: list[str], names: dict[int, set[str]], request: str
) -> list[int]:
    """Add the parts of each known keyword in the request that no node is named after."""
    present = set().union(*names.values())
    added = []
    for keyword in dict.fromkeys(words):
        if keyword not in KEYWORD_PARTS or keyword in present:
            continue
        for part in KEYWORD_PARTS[keyword]:
            index = edit.add_part(part, request)
            edit.mark(index, "Added {name}")
            added.append(index)
    return added


def recolour_parts(edit: Edit, targets: list[int], colors: list[str], words: set[str]) -> None:
    """Give the targets the first colour named, emissive when the request has a glow word."""
    glow = bool(words & GLOW_WORDS)
    if not colors and not glow:
        return
    for index in targets:
        label = colors[0] if colors else node_name(edit.gltf, index)
        color = MATERIAL_COLORS[colors[0]] if colors else edit.node_color(index)
        edit.recolour(index, edit.add_material(f"{label} Glow" if glow else label, color, glow))
        if colors:
            edit.mark(index, f"Recoloured {{name}} to {label}" + (", glowing" if glow else ""))
        else:
            edit.mark(index, "Made {name} glow")


def recolour_fallback(edit: Edit, request: str) -> None:
    """Recolour one part picked by the request's hash, for a request that no rule matches."""
    candidates = edit.mesh_nodes()
    if not candidates:
        return
    digest = hashlib.sha256(request.encode("utf-8")).digest()
    index = candidates[digest[0] % len(candidates)]
    color = material_color("Edit", request)
    edit.recolour(index, edit.add_material("Edited", color, False))
    edit.mark(index, "Recoloured {name}")
