"""Actions that apply each queued fault to the one request it matches."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

STREAM_FAULTS = frozenset({"stream_stall", "stream_keepalive_only", "stream_close_early"})
HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>{status} Error</title></head>\n"
    "<body><h1>{status} Error</h1><p>The upstream server did not respond.</p>"
    "<hr><address>nginx</address></body></html>\n"
)


async def close_connection(raw_send: Send) -> None:
    """Close the TCP connection under the request without a proper HTTP ending.

    NOTE: ASGI has no "drop the connection" message. uvicorn's `send` is a bound method of its
    request cycle, which owns the transport, so this reaches through it.
    """
    transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the connection: the ASGI server is not uvicorn")
    transport.close()
    await asyncio.sleep(0)


async def send_simple(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra_headers: dict[str, str] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra_headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def buffered_response(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
    """Run the app to the end and return its response start message and whole body."""
    start: Message = {}
    parts: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, capture)
    return start, b"".join(parts)


async def send_replaced_body(send: Send, start: Message, body: bytes) -> None:
    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def corrupt_glb(body: bytes) -> bytes:
    """Keep the 'glTF' magic but overwrite the JSON chunk, so only a real parse finds it."""
    damaged = bytearray(body)
    damaged[20 : min(len(damaged), 120)] = b"\xff" * (min(len(damaged), 120) - 20)
    return bytes(damaged)


async def drop_during_body(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, raw_send: Send
) -> None:
    """Send the headers and half of the first body chunk, then close the connection."""
    dropped = False

    async def cut(message: Message) -> None:
        nonlocal dropped
        if dropped:
            return
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            dropped = True
            await close_connection(raw_send)
            return
        await send(message)

    await app(scope, receive, cut)


def error_body(detail: str) -> bytes:
    return json.dumps({"detail": detail}).encode()


async def apply(
    fault: dict[str, Any],
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    raw_send: Send,
) -> None:
    kind = fault["fault"]
    log.info("Applying fault %s to %s %s", kind, scope["method"], scope["path"])
    retry_after = {"Retry-After": fault["retry_after"]} if fault.get("retry_after") else None
    if kind == "drop_before_body":
        await close_connection(raw_send)
    elif kind == "drop_during_body":
        await drop_during_body(app, scope, receive, send, raw_send)
    elif kind == "status":
        await send_simple(
            send,
            fault["status"],
            error_body("Injected server error."),
            "application/json",
            retry_after,
        )
    elif kind == "rate_limit":
        await send_simple(
            send, 429, error_body("Rate limit exceeded."), "application/json", retry_after
        )
    elif kind == "html_error":
        page = HTML_PAGE.format(status=fault["status"]).encode()
        await send_simple(send, fault["status"], page, "text/html; charset=utf-8")
    elif kind == "not_json":
        await send_simple(send, 200, b"Service temporarily unavailable", "application/json")
    elif kind == "slow":
        await asyncio.sleep(fault["seconds"])
        await app(scope, receive, send)
    elif kind == "slow_response":
        # The request is handled (a submit creates its submission) and only the response is
        # late, as when a busy service responds after the client's read timeout.
        start, body = await buffered_response(app, scope, receive)
        await asyncio.sleep(fault["seconds"])
        await send_replaced_body(send, start, body)
    elif kind in ("truncate", "corrupt"):
        start, body = await buffered_response(app, scope, receive)
        changed = body[: len(body) // 2] if kind == "truncate" else corrupt_glb(body)
        await send_replaced_body(send, start, changed)
    elif kind == "redirect":
        await redirect(fault, scope, send)
    elif kind in STREAM_FAULTS:
        scope.setdefault("state", {})["thrixel_fault"] = fault
        await app(scope, receive, send)
    else:
        raise ValueError(f"unknown fault {kind!r}")


async def redirect(fault: dict[str, Any], scope: Scope, send: Send) -> None:
    port = scope["server"][1]
    query = scope.get("query_string", b"").decode("latin-1")
    location = f"http://{fault['target_host']}:{port}{scope['path']}"
    if query:
        location += f"?{query}"
    await send_simple(send, fault["redirect_status"], b"", "text/plain", {"Location": location})
