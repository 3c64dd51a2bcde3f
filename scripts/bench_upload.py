"""Peak memory of a phase 5 upload of a large GLB: the add-on's streaming upload next to a
plain `requests` `files=` upload, against the local Thrixel server on 127.0.0.1.

Usage: .venv/bpy-5.0.1/bin/python scripts/bench_upload.py [--size-mb 95]

It writes a GLB of about the given size (one triangulated grid), starts the local server and
uploads the file once per method, each in a fresh child process. For each method it prints how
far the process's peak resident set size (VmHWM, Linux only) rose above its size before the
upload, and the peak of the Python allocations that tracemalloc traced during the upload. The
server's own memory is not counted.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
BYTES_PER_GRID_POINT = 12 + 6 * 4
"""A float32 position per point, and two triangles of uint32 indices per grid cell."""
MEGABYTE = 1024**2


def write_grid_glb(path: Path, size_bytes: int) -> int:
    """Write a GLB holding one triangulated grid of about `size_bytes`; returns its size."""
    side = max(2, int((size_bytes / BYTES_PER_GRID_POINT) ** 0.5))
    axis = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    xs, zs = np.meshgrid(axis, axis)
    ys = 0.05 * np.sin(xs * 9.0) * np.cos(zs * 7.0)
    positions = np.stack([xs, ys, zs], axis=-1).reshape(-1, 3).astype(np.float32)
    cells = np.arange(side * side, dtype=np.uint32).reshape(side, side)[:-1, :-1].reshape(-1)
    indices = np.stack(
        [cells, cells + side, cells + 1, cells + 1, cells + side, cells + side + 1], axis=-1
    ).reshape(-1)

    binary = positions.tobytes() + indices.astype(np.uint32).tobytes()
    document = {
        "asset": {"version": "2.0", "generator": "thrixel-blender bench_upload.py"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "Benchmark Grid", "mesh": 0}],
        "meshes": [{"name": "Grid", "primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": positions.nbytes, "target": 34962},
            {
                "buffer": 0,
                "byteOffset": positions.nbytes,
                "byteLength": indices.nbytes,
                "target": 34963,
            },
        ],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": len(positions),
                "type": "VEC3",
                "min": positions.min(axis=0).tolist(),
                "max": positions.max(axis=0).tolist(),
            },
            {"bufferView": 1, "componentType": 5125, "count": len(indices), "type": "SCALAR"},
        ],
    }
    chunk = json.dumps(document).encode()
    chunk += b" " * (-len(chunk) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(chunk) + 8 + len(binary)
    with path.open("wb") as stream:
        stream.write(struct.pack("<4sII", b"glTF", 2, total))
        stream.write(struct.pack("<II", len(chunk), 0x4E4F534A))
        stream.write(chunk)
        stream.write(struct.pack("<II", len(binary), 0x004E4942))
        stream.write(binary)
    return total


# ---------------------------------------------------------------------------------------------
# One upload, in a child process


def _load_client() -> types.ModuleType:
    """Import the add-on's client package without the add-on's `__init__`, which needs bpy."""
    package = types.ModuleType("thrixel_blender")
    package.__path__ = [str(REPO_ROOT / "thrixel_blender")]
    sys.modules["thrixel_blender"] = package
    import thrixel_blender.client as client

    return client


def upload_once(method: str, path: Path, base_url: str, key: str) -> dict[str, float | str]:
    if method == "streaming":
        client = _load_client()
        config = client.ClientConfig(base_url=base_url, api_key=key)
        thrixel = client.ThrixelClient(config)

        def send() -> str:
            return str(thrixel.upload_glb(path, task="benchmark").submission_id)
    else:
        import requests

        def send() -> str:
            with path.open("rb") as handle:
                response = requests.post(
                    f"{base_url}/phase5/submit",
                    headers={"Authorization": f"Bearer {key}"},
                    files={"glb_file": (path.name, handle, "model/gltf-binary")},
                    data={"task": "benchmark"},
                    timeout=600,
                )
            response.raise_for_status()
            return str(response.json()["submission_id"])

    rss_before = _status_kilobytes("VmRSS")
    _reset_peak_rss()
    tracemalloc.start()
    started = time.perf_counter()
    submission_id = send()
    seconds = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = _status_kilobytes("VmHWM")
    return {
        "method": method,
        "submission_id": submission_id,
        "seconds": seconds,
        "rss_growth_mb": (rss_peak - rss_before) / 1024,
        "traced_peak_mb": traced_peak / MEGABYTE,
    }


def _status_kilobytes(field: str) -> int:
    """Read a memory figure of this process from /proc/self/status (Linux), in kilobytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line")


def _reset_peak_rss() -> None:
    # ru_maxrss survives fork and exec on Linux, so a child would report the parent's peak.
    # Writing 5 to clear_refs resets this process's peak (VmHWM) to its current RSS.
    Path("/proc/self/clear_refs").write_text("5")


# ---------------------------------------------------------------------------------------------
# The benchmark


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size-mb", type=float, default=95.0, help="size of the generated GLB in MB (default 95)"
    )
    parser.add_argument("--child", choices=("streaming", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(upload_once(args.child, args.file, args.base_url, args.key)))
        return 0

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from server_fixture import running_server

    with tempfile.TemporaryDirectory(prefix="thrixel-bench-") as folder:
        path = Path(folder) / "benchmark-grid.glb"
        size = write_grid_glb(path, int(args.size_mb * MEGABYTE))
        print(f"GLB: {size / MEGABYTE:.1f} MB ({size:,} bytes)")
        with running_server(step_seconds=0.05) as server:
            server.admin.configure(rate_limits=False)
            results = [_run_child(method, path, server) for method in ("streaming", "naive")]
    print(f"{'method':<10} {'file MB':>8} {'RSS growth MB':>14} {'traced peak MB':>15} {'s':>6}")
    for result in results:
        print(
            f"{result['method']:<10} {size / MEGABYTE:>8.1f} {result['rss_growth_mb']:>14.1f} "
            f"{result['traced_peak_mb']:>15.1f} {result['seconds']:>6.1f}"
        )
    return 0


def _run_child(method: str, path: Path, server: object) -> dict[str, float | str]:
    command = [
        sys.executable,
        __file__,
        "--child",
        method,
        "--file",
        str(path),
        "--base-url",
        server.base_url,  # type: ignore[attr-defined]
        "--key",
        server.api_key,  # type: ignore[attr-defined]
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{method} upload failed:\n{completed.stderr}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    raise SystemExit(main())
