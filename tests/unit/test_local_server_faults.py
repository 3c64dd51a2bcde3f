"""Faults the local Thrixel server injects on request through its /_test/faults hook."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from server_fixture import LocalServer, module_server_fixtures
from thrixel_server.models3d.glb import GlbError, unpack_glb

pytestmark = pytest.mark.server

PROMPT = "a bronze robot"


server, clean_state = module_server_fixtures()


def submit(server: LocalServer) -> str:
    response = requests.post(
        f"{server.base_url}/phase1/submit",
        json={"task": PROMPT},
        headers=server.auth_headers(),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["submission_id"])


def completed(server: LocalServer) -> str:
    submission_id = submit(server)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        info = requests.get(f"{server.base_url}/{submission_id}/info", timeout=10).json()
        if info["status"] == "completed":
            return submission_id
        time.sleep(0.05)
    raise AssertionError("submission did not complete")


def get_glb(server: LocalServer, submission_id: str, **kwargs: Any) -> requests.Response:
    return requests.get(
        f"{server.base_url}/{submission_id}/download",
        params={"format": "glb"},
        timeout=kwargs.pop("timeout", 10),
        **kwargs,
    )


def info_url(server: LocalServer, submission_id: str) -> str:
    return f"{server.base_url}/{submission_id}/info"


def test_drop_before_body(server: LocalServer) -> None:
    submission_id = submit(server)
    server.admin.add_fault("info", "drop_before_body")
    with pytest.raises(requests.ConnectionError):
        requests.get(info_url(server, submission_id), timeout=5)
    assert requests.get(info_url(server, submission_id), timeout=5).status_code == 200


def test_drop_during_body(server: LocalServer) -> None:
    submission_id = completed(server)
    server.admin.add_fault("download", "drop_during_body")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        get_glb(server, submission_id)
    assert get_glb(server, submission_id).content[:4] == b"glTF"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_fault_counts_down(server: LocalServer, status: int) -> None:
    submission_id = submit(server)
    server.admin.add_fault("info", "status", status=status, times=2)
    first = requests.get(info_url(server, submission_id), timeout=5)
    second = requests.get(info_url(server, submission_id), timeout=5)
    third = requests.get(info_url(server, submission_id), timeout=5)
    assert first.status_code == status
    assert first.json() == {"detail": "Injected server error."}
    assert second.status_code == status
    assert third.status_code == 200
    assert server.admin.faults() == []


@pytest.mark.parametrize("retry_after", ["7", "Wed, 21 Oct 2026 07:28:00 GMT", None])
def test_rate_limit_retry_after(server: LocalServer, retry_after: str | None) -> None:
    server.admin.add_fault("phase1_submit", "rate_limit", retry_after=retry_after)
    response = requests.post(
        f"{server.base_url}/phase1/submit",
        json={"task": PROMPT},
        headers=server.auth_headers(),
        timeout=5,
    )
    assert response.status_code == 429
    assert response.headers.get("retry-after") == retry_after
    assert server.admin.requests_log("phase1_submit")[0]["fault"] == "rate_limit"


def test_slow_response_times_out(server: LocalServer) -> None:
    submission_id = submit(server)
    server.admin.add_fault("info", "slow", seconds=2)
    with pytest.raises(requests.ReadTimeout):
        requests.get(info_url(server, submission_id), timeout=0.5)


def test_slow_response_handles_request_first(server: LocalServer) -> None:
    server.admin.add_fault("phase1_submit", "slow_response", seconds=2)
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            f"{server.base_url}/phase1/submit",
            json={"task": PROMPT},
            headers=server.auth_headers(),
            timeout=0.5,
        )
    listed = requests.get(
        f"{server.base_url}/submissions", headers=server.auth_headers(), timeout=5
    ).json()["submissions"]
    assert [row["task"] for row in listed] == [PROMPT], "the late submit was not handled"


def test_html_error_page(server: LocalServer) -> None:
    submission_id = submit(server)
    server.admin.add_fault("info", "html_error", status=502)
    response = requests.get(info_url(server, submission_id), timeout=5)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>502 Error</h1>" in response.text


def test_not_json_body(server: LocalServer) -> None:
    submission_id = submit(server)
    server.admin.add_fault("info", "not_json")
    response = requests.get(info_url(server, submission_id), timeout=5)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_truncated_glb(server: LocalServer) -> None:
    submission_id = completed(server)
    whole = get_glb(server, submission_id).content
    server.admin.add_fault("download", "truncate")
    response = get_glb(server, submission_id)
    assert len(response.content) == len(whole) // 2
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(GlbError, match="truncated"):
        unpack_glb(response.content)


def test_corrupt_glb_keeps_magic(server: LocalServer) -> None:
    submission_id = completed(server)
    whole = get_glb(server, submission_id).content
    server.admin.add_fault("download", "corrupt")
    response = get_glb(server, submission_id)
    assert response.content[:4] == b"glTF"
    assert len(response.content) == len(whole)
    with pytest.raises(ValueError):
        unpack_glb(response.content)


@pytest.mark.parametrize("host", ["127.0.0.2", "localhost"])
def test_redirect_to_other_loopback_host(server: LocalServer, host: str) -> None:
    submission_id = completed(server)
    server.admin.clear_requests()
    server.admin.add_fault("download", "redirect", target_host=host)
    response = get_glb(server, submission_id, headers=server.auth_headers())
    assert response.status_code == 200
    assert response.history[0].status_code == 302
    assert response.url.startswith(f"http://{host}:{server.port}/")
    assert response.content[:4] == b"glTF"
    first, second = server.admin.requests_log("download")
    assert first["authorization_present"] is True
    assert first["fault"] == "redirect"
    assert second["host"] == f"{host}:{server.port}"
    # requests drops Authorization when the host changes; the log shows it did.
    assert second["authorization_present"] is False


def test_fault_matches_method_only(server: LocalServer) -> None:
    submission_id = submit(server)
    server.admin.add_fault("*", "status", method="POST", status=500)
    assert requests.get(info_url(server, submission_id), timeout=5).status_code == 200
    assert len(server.admin.faults()) == 1


def test_bad_redirect_target_is_rejected(server: LocalServer) -> None:
    response = requests.post(
        f"{server.root_url}/_test/faults",
        timeout=5,
        json={"route": "download", "fault": "redirect", "target_host": "10.0.0.1"},
    )
    assert response.status_code == 422


def stream_lines(server: LocalServer, submission_id: str, timeout: float) -> list[str]:
    with requests.get(
        f"{server.base_url}/{submission_id}/stream", stream=True, timeout=timeout
    ) as response:
        return [line for line in response.iter_lines(decode_unicode=True) if line]


def test_stream_stall_hits_read_timeout(server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    submission_id = submit(server)
    server.admin.add_fault("stream", "stream_stall", seconds=3)
    with pytest.raises(requests.exceptions.ConnectionError):
        stream_lines(server, submission_id, timeout=0.5)


def test_stream_keepalive_only_then_close(server: LocalServer) -> None:
    server.admin.configure(keepalive_seconds=0.2)
    server.admin.set_pace(paused=True)
    submission_id = submit(server)
    server.admin.add_fault("stream", "stream_keepalive_only", seconds=1)
    lines = stream_lines(server, submission_id, timeout=5)
    assert lines[0] == 'data: {"type": "status", "status": "queued"}'
    assert set(lines[1:]) == {": keep-alive"}
    assert len(lines) >= 3


def test_stream_closes_before_terminal(server: LocalServer) -> None:
    submission_id = submit(server)
    server.admin.add_fault("stream", "stream_close_early", events=2)
    lines = stream_lines(server, submission_id, timeout=5)
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert len(events) == 3
    assert all(e.get("status") not in ("completed", "failed") for e in events)
