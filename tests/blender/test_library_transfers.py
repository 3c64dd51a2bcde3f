"""Downloads, conversions, the model's script and reference images against the local server.

Each converted file is imported with Blender's own importer for its format, so "a real file of
its format" means one that Blender reads into mesh objects.
"""

from __future__ import annotations

import base64
import builtins
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bpy
import pytest
from conftest import Addon
from library_support import (
    cache,
    created,
    pump_until,
    refresh,
    reset_library,
    submit,
    wait_completed,
)

from server_fixture import LocalServer

IMPORTERS = {
    "glb": lambda path: bpy.ops.import_scene.gltf(filepath=path),
    "fbx": lambda path: bpy.ops.import_scene.fbx(filepath=path),
    "obj": lambda path: bpy.ops.wm.obj_import(filepath=path),
    "stl": lambda path: bpy.ops.wm.stl_import(filepath=path),
    "usdz": lambda path: bpy.ops.wm.usd_import(filepath=path),
}


@pytest.fixture
def library(configured: Addon) -> Iterator[Addon]:
    reset_library(configured)
    yield configured
    reset_library(configured)


def only_transfer(addon: Addon) -> Any:
    transfers = list(cache(addon).transfers.values())
    assert len(transfers) == 1, f"expected one transfer, found {len(transfers)}"
    return transfers[0]


def finish_transfer(addon: Addon) -> Any:
    pump_until(addon, lambda: only_transfer(addon).state != "running", what="the download")
    return only_transfer(addon)


def download(addon: Addon, submission_id: str, fmt: str, folder: Path, **options: Any) -> Any:
    cache(addon).transfers.clear()
    result = bpy.ops.thrixel.download_submission(
        submission_id=submission_id, format=fmt, directory=str(folder), **options
    )
    assert result == {'FINISHED'}
    return finish_transfer(addon)


def mesh_count() -> int:
    return sum(1 for obj in bpy.data.objects if obj.type == 'MESH')


def test_download_glb_to_folder(library: Addon, server: LocalServer, tmp_path: Path) -> None:
    submission_id = created(server, "a bronze bell")
    refresh(library)
    transfer = download(library, submission_id, "glb", tmp_path)
    assert transfer.state == "done", transfer.message
    path = Path(transfer.path)
    assert path.parent == tmp_path
    assert path.name == f"a_bronze_bell_{submission_id[:8]}.glb"
    assert path.read_bytes()[:4] == b"glTF"
    before = mesh_count()
    IMPORTERS["glb"](str(path))
    assert mesh_count() > before


@pytest.mark.parametrize("fmt", ["fbx", "obj", "stl", "usdz"])
def test_converted_file_imports(
    library: Addon, server: LocalServer, tmp_path: Path, fmt: str
) -> None:
    submission_id = created(server, f"a stone well as {fmt}")
    transfer = download(library, submission_id, fmt, tmp_path)
    assert transfer.state == "done", transfer.message
    path = Path(transfer.path)
    assert path.suffix == f".{fmt}"
    assert path.stat().st_size > 0
    # The conversion went through the job API, not the inline download.
    assert server.admin.requests_log("convert")
    assert server.admin.requests_log("convert_status")
    assert server.admin.requests_log("convert_download")
    assert not [e for e in server.admin.requests_log("download") if f"format={fmt}" in e["query"]]

    before = mesh_count()
    assert IMPORTERS[fmt](str(path)) == {'FINISHED'}
    assert mesh_count() > before, f"Blender's {fmt} importer found no mesh in {path.name}"


def test_failed_conversion_offers_convert_again(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = created(server, "a marble bust")
    server.admin._call("POST", "fail_conversion", json={"error": "the converter crashed"})
    transfer = download(library, submission_id, "fbx", tmp_path)
    assert transfer.state == "failed"
    assert "the converter crashed" in transfer.message
    assert "Convert Again" in transfer.message
    assert transfer.can_force
    assert not list(tmp_path.iterdir()), "a failed conversion left a file behind"

    transfer = download(library, submission_id, "fbx", tmp_path, force=True)
    assert transfer.state == "done", transfer.message
    assert server.admin.requests_log("convert")[-1]["body"]["force"] is True
    assert Path(transfer.path).is_file()


def test_conversion_not_ready_keeps_waiting(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = created(server, "a pewter mug")
    server.admin.add_fault("convert_download", "status", status=409)
    transfer = download(library, submission_id, "stl", tmp_path)
    assert transfer.state == "done", transfer.message
    statuses = [entry["status"] for entry in server.admin.requests_log("convert_download")]
    assert statuses[0] == 409
    assert statuses[-1] == 200


def test_gone_conversion_download_is_a_failure(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = created(server, "a jade frog")
    server.admin.add_fault("convert_download", "status", status=410)
    transfer = download(library, submission_id, "obj", tmp_path)
    assert transfer.state == "failed"
    assert "Convert Again" in transfer.message
    assert transfer.can_force


def test_download_to_missing_folder_is_rejected(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = created(server, "a cork stopper")
    with pytest.raises(RuntimeError, match="does not exist"):
        bpy.ops.thrixel.download_submission(
            submission_id=submission_id, format="glb", directory=str(tmp_path / "missing")
        )
    assert cache(library).transfers == {}


def test_script_opens_as_text_and_never_runs(
    library: Addon, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    submission_id = created(server, "a tiny rocket")
    node_names = {"Head", "Body"}
    ran: list[str] = []
    real_exec, real_compile = builtins.exec, builtins.compile

    def watch_exec(source: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(source, (str, bytes)) and b"Generated by the Thrixel" in (
            source if isinstance(source, bytes) else source.encode()
        ):
            ran.append("exec")
        return real_exec(source, *args, **kwargs)

    def watch_compile(source: Any, *args: Any, **kwargs: Any) -> Any:
        text = source if isinstance(source, (str, bytes)) else b""
        if b"Generated by the Thrixel" in (text if isinstance(text, bytes) else text.encode()):
            ran.append("compile")
        return real_compile(source, *args, **kwargs)

    monkeypatch.setattr(builtins, "exec", watch_exec)
    monkeypatch.setattr(builtins, "compile", watch_compile)
    objects_before = {obj.name for obj in bpy.data.objects}
    meshes_before = len(bpy.data.meshes)

    assert bpy.ops.thrixel.open_script(submission_id=submission_id) == {'FINISHED'}
    pump_until(
        library,
        lambda: any(text.get("thrixel_submission_id") == submission_id for text in bpy.data.texts),
        what="the script text",
    )
    text = next(t for t in bpy.data.texts if t.get("thrixel_submission_id") == submission_id)
    source = text.as_string()
    assert text["thrixel_downloaded_code"] is True
    assert text.use_module is False
    assert source.startswith("# Downloaded from the Thrixel service")
    assert "never runs this script" in source
    assert "bpy.data.objects.new" in source, "the text is not the model's script"
    # Running it would add one object per glTF node; nothing was added.
    assert ran == []
    assert {obj.name for obj in bpy.data.objects} == objects_before
    assert len(bpy.data.meshes) == meshes_before
    assert not node_names & {obj.name for obj in bpy.data.objects}


def png_data_url(width: int, height: int, name: str, tmp_path: Path) -> str:
    image = bpy.data.images.new(name, width, height)
    path = tmp_path / f"{name}.png"
    image.filepath_raw = str(path)
    image.file_format = 'PNG'
    image.save()
    bpy.data.images.remove(image)
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def test_reference_images_load_as_images(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    images = [png_data_url(32, 16 + n, f"ref{n}", tmp_path) for n in range(3)]
    submission_id = submit(server, "phase1", {"images": images})
    wait_completed(server, submission_id)
    before = set(bpy.data.images)

    assert bpy.ops.thrixel.load_reference_images(submission_id=submission_id) == {'FINISHED'}
    pump_until(
        library,
        lambda: len([i for i in bpy.data.images if i.get("thrixel_submission_id")]) == 3,
        what="the reference images",
    )
    loaded = [image for image in bpy.data.images if image not in before]
    assert sorted(image.name.rsplit(" ", 3)[-1] for image in loaded) == ["0", "1", "2"]
    for image in loaded:
        assert image.packed_file is not None, f"{image.name} is not packed"
        assert image.size[0] > 0
    indexes = [entry["query"] for entry in server.admin.requests_log("download")]
    assert any("index=3" in query for query in indexes), "the fourth index was never tried"


def test_detailer_reference_loads(library: Addon, server: LocalServer) -> None:
    parent = created(server, "a ceramic owl")
    detail = submit(server, "detailer", {"parent_submission_id": parent, "prompt": "glazed"})
    wait_completed(server, detail, timeout=60)
    refresh(library)

    assert bpy.ops.thrixel.load_reference_images(submission_id=detail) == {'FINISHED'}
    pump_until(
        library,
        lambda: (
            any(image.get("thrixel_submission_id") == detail for image in bpy.data.images)
            or f"references:{detail}" in cache(library).errors
        ),
        what="the detailer reference",
    )
    names = [image.name for image in bpy.data.images if image.get("thrixel_submission_id")]
    assert any(name.endswith("Detailer Reference") for name in names), names
    assert server.admin.requests_log("detailer_reference")
