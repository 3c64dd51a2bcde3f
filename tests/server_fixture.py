"""Start the local Thrixel server in a subprocess on 127.0.0.1 for a test, and drive its hooks.

with running_server() as server:
    requests.post(f"{server.base_url}/phase1/submit", headers=server.auth_headers(), ...)
    server.admin.add_fault("download", "truncate")
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVER_PATH = REPO_ROOT / "local_server"
TEST_KEY = "sk-thrixel-local-test"
OTHER_KEY = "sk-thrixel-local-other"
START_TIMEOUT_SECONDS = 30.0
ADMIN_TIMEOUT_SECONDS = 10.0


@dataclass
class AdminHooks:
    """Client for the server's /_test hooks."""

    root_url: str
    session: requests.Session = field(default_factory=requests.Session)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            method, f"{self.root_url}/_test/{path}", timeout=ADMIN_TIMEOUT_SECONDS, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Forget submissions, projects, faults and the request log; restore startup settings."""
        self._call("POST", "reset")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings such as step_seconds, paused, keepalive_seconds, rate_limits,
        max_active, per_hour, per_day and convert_seconds."""
        return dict(self._call("POST", "config", json=settings))

    def set_pace(self, step_seconds: float | None = None, *, paused: bool | None = None) -> None:
        changes: dict[str, Any] = {}
        if step_seconds is not None:
            changes["step_seconds"] = step_seconds
        if paused is not None:
            changes["paused"] = paused
        self.configure(**changes)

    def add_fault(self, route: str, fault: str, **options: Any) -> dict[str, Any]:
        """Queue a fault for the next request(s) to `route` (a route name or "*")."""
        return dict(self._call("POST", "faults", json={"route": route, "fault": fault, **options}))

    def set_fault(self, route: str, fault: str, **options: Any) -> dict[str, Any]:
        return self.add_fault(route, fault, **options)

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults"))

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def fail(
        self,
        submission_id: str | None = None,
        *,
        error: str = "Generation failed",
        after_steps: int = 0,
    ) -> dict[str, Any]:
        """Fail a submission now, or, without an id, the next one created."""
        return dict(
            self._call(
                "POST",
                "fail",
                json={"submission_id": submission_id, "error": error, "after_steps": after_steps},
            )
        )

    def fail_conversion(self, error: str = "Conversion failed") -> dict[str, Any]:
        """Make the next conversion job fail with `error`."""
        return dict(self._call("POST", "fail_conversion", json={"error": error}))

    def usage(self) -> dict[str, Any]:
        """Return each owner's counts against the rate limits: active, last_hour, last_day."""
        return dict(self._call("GET", "usage"))

    def age_usage(self, seconds: float) -> dict[str, Any]:
        """Move the recorded submit times `seconds` into the past."""
        return dict(self._call("POST", "usage/age", json={"seconds": seconds}))

    def requests_log(self, route: str | None = None) -> list[dict[str, Any]]:
        """Requests the API received, oldest first, with secret header values redacted."""
        params = {"route": route} if route else None
        return list(self._call("GET", "requests", params=params))

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def add_gallery_item(
        self, name: str, prompt: str, parent_id: str | None = None
    ) -> dict[str, Any]:
        """Publish a gallery item until the next reset and return its id."""
        body = {"name": name, "prompt": prompt, "parent_id": parent_id}
        return dict(self._call("POST", "gallery", json=body))

    def archive_project(self, project_id: str, archived: bool = True) -> dict[str, Any]:
        """Archive or restore a project (the API itself has no call for it)."""
        return dict(self._call("PATCH", f"projects/{project_id}", json={"is_archived": archived}))


@dataclass
class LocalServer:
    port: int
    process: subprocess.Popen[str]
    api_key: str = TEST_KEY
    other_api_key: str = OTHER_KEY

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api/v1"

    @property
    def admin(self) -> AdminHooks:
        return AdminHooks(self.root_url)

    def auth_headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}


def _read_port(process: subprocess.Popen[str]) -> int:
    """Wait for the server's "listening ... port N" line and return N."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if "listening on" in line:
            return int(line.rsplit("port", 1)[1])
    raise RuntimeError(f"Local Thrixel server did not start (exit code {process.poll()}).")


def _wait_ready(root_url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{root_url}/_test/health", timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"Local Thrixel server at {root_url} did not become ready.")


@contextmanager
def running_server(
    *,
    step_seconds: float = 0.05,
    keepalive_seconds: float = 1.0,
    rate_limits: bool = False,
    extra_args: tuple[str, ...] = (),
) -> Iterator[LocalServer]:
    """Run the server on a free 127.0.0.1 port for the duration of the block.

    The per-key rate limits are off unless `rate_limits` is true, because suites submit many
    jobs. A test turns them on with `server.admin.configure(rate_limits=True, ...)`, and the
    next reset turns them off again.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SERVER_PATH), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "thrixel_server",
        "--port",
        "0",
        "--step-seconds",
        str(step_seconds),
        "--keepalive-seconds",
        str(keepalive_seconds),
        *(() if rate_limits else ("--no-rate-limits",)),
        *extra_args,
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        server = LocalServer(port=_read_port(process), process=process)
        _wait_ready(server.root_url)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def module_server_fixtures(**options: Any) -> tuple[Any, Any]:
    """Return pytest fixtures `server` (one server per test module) and an autouse
    `clean_state` that resets it before each test. Use: `server, clean_state = ...()`."""
    import pytest

    @pytest.fixture(scope="module")
    def server() -> Iterator[LocalServer]:
        with running_server(**options) as running:
            yield running

    @pytest.fixture(autouse=True)
    def clean_state(server: LocalServer) -> None:
        server.admin.reset()

    return server, clean_state
