"""GLBs that require a glTF extension Blender cannot import are rejected before the import."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import bpy
import pytest
from conftest import FIXTURES_GLB, Addon, id_counts

DRACO_IMPORTS = bpy.app.version >= (4, 5, 0)
"""The 4.2 `bpy` wheel ships without the Draco library; 4.5 and 5.0 have it."""


def fixture_glb(name: str) -> Path:
    path = FIXTURES_GLB / name
    if not path.is_file():
        pytest.skip(f"fixture GLB {name} not found in {FIXTURES_GLB}")
    return path


def requiring(source: Path, extensions: list[str], destination: Path) -> Path:
    """Copy `source` with `extensions` added to extensionsRequired and extensionsUsed."""
    data = source.read_bytes()
    (json_length,) = struct.unpack_from("<I", data, 12)
    document = json.loads(data[20 : 20 + json_length])
    tail = data[20 + json_length :]
    document["extensionsRequired"] = extensions
    document["extensionsUsed"] = sorted(set(document.get("extensionsUsed", [])) | set(extensions))
    json_bytes = json.dumps(document).encode()
    json_bytes += b" " * (-len(json_bytes) % 4)
    total = 20 + len(json_bytes) + len(tail)
    destination.write_bytes(
        b"glTF"
        + struct.pack("<II", 2, total)
        + struct.pack("<II", len(json_bytes), 0x4E4F534A)
        + json_bytes
        + tail
    )
    return destination


@pytest.fixture
def importer_calls(configured: Addon, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Paths handed to Blender's glTF importer; the import still runs."""
    importer = configured.module("importer")
    calls: list[Path] = []
    real = importer._run_importer

    def spy(scene, view_layer, layer_collection, path):  # noqa: ANN001, ANN202
        calls.append(path)
        return real(scene, view_layer, layer_collection, path)

    monkeypatch.setattr(importer, "_run_importer", spy)
    return calls


def import_glb(addon: Addon, path: Path) -> object:
    return addon.module("importer").import_glb(
        bpy.context.scene, path, name="Lantern", submission_id="sub-1", phase=1
    )


@pytest.mark.parametrize(
    "extensions",
    [["EXT_meshopt_compression"], ["KHR_texture_basisu"], ["KHR_texture_basisu", "EXT_fancy"]],
    ids=["meshopt", "basisu", "two-unknown"],
)
def test_unsupported_extension_rejected(
    configured: Addon, importer_calls: list[Path], tmp_path: Path, extensions: list[str]
) -> None:
    glb = requiring(fixture_glb("Duck.glb"), extensions, tmp_path / "duck.glb")
    before = id_counts()

    with pytest.raises(configured.module("importer").ImportFailed) as failure:
        import_glb(configured, glb)

    message = str(failure.value)
    for name in extensions:
        assert name in message
    assert bpy.app.version_string in message
    assert "\"Lantern\"" in message
    assert "FBX or OBJ" in message
    assert importer_calls == [], "Blender's importer ran on a file it cannot read"
    assert id_counts() == before


def test_real_meshopt_file_rejected(configured: Addon, importer_calls: list[Path]) -> None:
    before = id_counts()
    with pytest.raises(configured.module("importer").ImportFailed, match="EXT_meshopt"):
        import_glb(configured, fixture_glb("BoxMeshopt.glb"))
    assert importer_calls == []
    assert id_counts() == before


def test_draco_follows_the_blender_build(
    configured: Addon, importer_calls: list[Path], tmp_path: Path
) -> None:
    glb = requiring(fixture_glb("Duck.glb"), ["KHR_draco_mesh_compression"], tmp_path / "d.glb")
    importer = configured.module("importer")
    if DRACO_IMPORTS:
        model = import_glb(configured, glb)
        assert model.object_names
        assert len(importer_calls) == 1
    else:
        with pytest.raises(importer.ImportFailed, match="KHR_draco_mesh_compression"):
            import_glb(configured, glb)
        assert importer_calls == []


def test_supported_extension_imports(
    configured: Addon, importer_calls: list[Path], tmp_path: Path
) -> None:
    glb = requiring(fixture_glb("Duck.glb"), ["KHR_texture_transform"], tmp_path / "t.glb")
    model = import_glb(configured, glb)
    assert model.object_names
    assert len(importer_calls) == 1


def test_extension_list_matches_importer(configured: Addon) -> None:
    importable = configured.module("gltf_support").importable_extensions()
    assert "KHR_materials_unlit" in importable
    assert "EXT_meshopt_compression" not in importable
    assert "KHR_texture_basisu" not in importable
    assert ("KHR_draco_mesh_compression" in importable) == DRACO_IMPORTS
