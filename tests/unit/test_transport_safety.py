"""Transport safety: TLS verification and CA bundles, redirects, size ceilings, the key in logs."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from server_fixture import LocalServer, running_server
from thrixel_blender.client import ClientConfig, Phase1Request, ThrixelClient, errors, transport
from thrixel_blender.client._http import RetryPolicy

FAST_RETRIES = RetryPolicy(max_retries=2, initial_delay=0.05, max_delay=2.0)
SUBMISSION_ID = "a1b2c3d4-e5f6-4890-abcd-ef1234567890"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with running_server() as running:
        yield running


@pytest.fixture
def client(server: LocalServer) -> Iterator[ThrixelClient]:
    server.admin.reset()
    config = ClientConfig(base_url=server.base_url, api_key=server.api_key, retry=FAST_RETRIES)
    with ThrixelClient(config) as instance:
        yield instance


# ---------------------------------------------------------------------------
# TLS


class _InfoHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        body = json.dumps({"submission_id": SUBMISSION_ID, "status": "queued", "phase": 1})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate; yields its URL and cert."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _InfoHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/api/v1", cert
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_untrusted_certificate_says_what_to_set(tls_server: tuple[str, Path]) -> None:
    url, _cert = tls_server
    with ThrixelClient(ClientConfig(base_url=url, retry=FAST_RETRIES)) as client:
        with pytest.raises(errors.CertificateError) as caught:
            client.get_info(SUBMISSION_ID)
    assert "CA bundle" in caught.value.message
    assert "REQUESTS_CA_BUNDLE" in caught.value.message


def test_ca_bundle_makes_certificate_trusted(tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    config = ClientConfig(base_url=url, ca_bundle=str(cert), retry=FAST_RETRIES)
    with ThrixelClient(config) as client:
        assert client.get_info(SUBMISSION_ID).submission_id == SUBMISSION_ID


# ---------------------------------------------------------------------------
# Redirects


def test_key_not_sent_after_redirect_to_other_host(
    client: ThrixelClient, server: LocalServer
) -> None:
    server.admin.add_fault("submissions", "redirect", target_host="127.0.0.2")
    with pytest.raises(errors.ThrixelError):
        client.list_submissions()
    log = server.admin.requests_log("submissions")
    first, redirected = log[0], log[-1]
    assert first["authorization_present"]
    assert redirected["host"].startswith("127.0.0.2")
    assert not redirected["authorization_present"]


# ---------------------------------------------------------------------------
# Download ceiling


def test_download_over_ceiling_is_refused(
    client: ThrixelClient, server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submission_id = client.submit_phase1(Phase1Request(task="a clay cup")).submission_id
    for _ in client.stream(submission_id):
        pass
    monkeypatch.setattr(transport, "MAX_DOWNLOAD_BYTES", 1024)
    with pytest.raises(errors.InvalidResponseError) as caught:
        client.download(submission_id, tmp_path / "model.glb")
    assert "ceiling" in caught.value.message
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# The key in logs and errors


def test_key_never_reaches_log_or_errors(
    server: LocalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "sk-thrixel-MARKER-7f3a9c"
    caplog.set_level(logging.DEBUG)
    seen_errors: list[str] = []
    config = ClientConfig(base_url=server.base_url, api_key=marker, retry=FAST_RETRIES)
    with ThrixelClient(config) as client:
        for call in (
            lambda: client.submit_phase1(Phase1Request(task="a clay cup")),
            lambda: client.list_submissions(),
            lambda: client.get_info("00000000-0000-4000-8000-000000000000"),
        ):
            try:
                call()
            except errors.ThrixelError as exc:
                seen_errors.append(f"{exc} {exc!r} {exc.body}")
    assert seen_errors
    assert marker not in caplog.text
    assert not any(marker in text for text in seen_errors)
    assert marker not in repr(config)


# ---------------------------------------------------------------------------
# Proxies


@pytest.fixture
def recording_proxy() -> Iterator[tuple[str, list[str]]]:
    """A proxy on 127.0.0.1 that records each request line and refuses to forward anything."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    lines: list[str] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with connection:
                    request = connection.recv(4096).decode("latin-1")
                    lines.append(request.split("\r\n", 1)[0])
                    connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", lines
    finally:
        listener.close()
        thread.join(timeout=5)


def test_proxy_variable_carries_remote_hosts(
    recording_proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy never forwards, and the .invalid name cannot resolve, so nothing leaves
    # this machine; the request line shows the client went through the proxy.
    proxy_url, lines = recording_proxy
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    config = ClientConfig(base_url="https://api.thrixel.invalid/api/v1", retry=FAST_RETRIES)
    with ThrixelClient(config) as client, pytest.raises(errors.ThrixelConnectionError) as caught:
        client.get_info(SUBMISSION_ID)
    assert lines
    assert lines[0].startswith("CONNECT api.thrixel.invalid:443")
    assert "proxy" in caught.value.message.lower()
