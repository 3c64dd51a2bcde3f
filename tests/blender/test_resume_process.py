"""A file saved mid-job in one Blender process resumes the job in another one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import Addon

from server_fixture import LocalServer

PROMPT = "a small stone gargoyle holding a lantern"
HELPER = Path(__file__).with_name("resume_process.py")
RESULT_PREFIX = "RESUME-RESULT "
PROCESS_TIMEOUT_SECONDS = 120


def run_step(*args: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(HELPER), *args],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert len(lines) == 1, completed.stdout + completed.stderr
    return dict(json.loads(lines[0][len(RESULT_PREFIX) :]))


def test_saved_job_resumes_in_new_process(
    configured: Addon, server: LocalServer, tmp_path: Path
) -> None:
    saved = tmp_path / "mid_job.blend"
    server.admin.set_pace(paused=True)
    started = run_step("save", str(saved), server.base_url, server.api_key, PROMPT)
    assert saved.is_file()

    server.admin.set_pace(paused=False)
    resumed = run_step("resume", str(saved), server.base_url, server.api_key)

    assert resumed["job_id"] == started["job_id"]
    assert resumed["submission_id"] == started["submission_id"]
    assert resumed["status"] == "completed"
    assert resumed["objects"] > 0
    assert resumed["tagged"] == [started["submission_id"]]
    assert len(server.admin.requests_log("phase1_submit")) == 1, "the job was submitted again"
    downloads = server.admin.requests_log("download")
    assert [entry["path"] for entry in downloads] == [
        f"/api/v1/{started['submission_id']}/download"
    ]
