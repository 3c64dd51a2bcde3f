"""The check of a GLB's required glTF extensions against what this Blender can import.

A file that lists an extension in `extensionsRequired` cannot be read without it. Blender's
importer raises on such a file only after it has started, with a message the user cannot act
on, so the add-on checks the list first and names the extension itself.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from .client.glb import required_extensions

log = logging.getLogger(__name__)

DRACO = "KHR_draco_mesh_compression"

# NOTE: copied from `glTFImporter.extensions_managed` of Blender's glTF importer (the same list
# in 4.2 and 5.0). It is used only when that list cannot be read from the importer itself.
_FALLBACK_IMPORTABLE = frozenset(
    {
        "EXT_mesh_gpu_instancing",
        "EXT_texture_webp",
        "KHR_animation_pointer",
        DRACO,
        "KHR_lights_punctual",
        "KHR_materials_anisotropy",
        "KHR_materials_clearcoat",
        "KHR_materials_emissive_strength",
        "KHR_materials_ior",
        "KHR_materials_pbrSpecularGlossiness",
        "KHR_materials_sheen",
        "KHR_materials_specular",
        "KHR_materials_transmission",
        "KHR_materials_unlit",
        "KHR_materials_variants",
        "KHR_materials_volume",
        "KHR_mesh_quantization",
        "KHR_texture_transform",
    }
)


@functools.cache
def importable_extensions() -> frozenset[str]:
    """Return the required extensions this Blender's glTF importer can read.

    Draco is left out when the importer's Draco library is missing, as in the 4.2 `bpy` wheel.
    """
    try:
        from io_scene_gltf2.io.imp.gltf2_io_gltf import (  # type: ignore[import-not-found]
            glTFImporter,
        )

        probe = glTFImporter("", {"import_user_extensions": []})
        # The importer attaches console handlers to its logger; flush() detaches them again.
        probe.log.flush()
        importable = frozenset(str(name) for name in probe.extensions_managed)
    except Exception as error:  # noqa: BLE001 - any change inside the importer lands here
        log.warning("Could not read the glTF importer's extension list (%s)", error)
        importable = _FALLBACK_IMPORTABLE
    if not _draco_available():
        importable = importable - {DRACO}
    return importable


def _draco_available() -> bool:
    try:
        from io_scene_gltf2.io.com.draco import dll_exists  # type: ignore[import-not-found]
    except ImportError:
        try:
            from io_scene_gltf2.io.com.gltf2_io_draco_compression_extension import (  # type: ignore[import-not-found]
                dll_exists,
            )
        except ImportError:
            return False
    try:
        return bool(dll_exists(quiet=True))
    except Exception:  # noqa: BLE001 - a broken check means no Draco, not a failed import
        return False


def unsupported_required(document: dict[str, Any]) -> list[str]:
    """Return the extensions `document` requires that this Blender cannot import."""
    importable = importable_extensions()
    return [name for name in required_extensions(document) if name not in importable]
