"""Outermost ASGI layer: records each API request for the test hooks and applies faults."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import fault_actions
from .faults import take_fault
from .store import Store

RouteTable = list[tuple[re.Pattern[str], set[str], str]]
"""(path regex, methods, route name) for every API route, in matching order."""

MAX_LOGGED_BODY = 1_000_000
ADMIN_PREFIX = "/_test"
SECRET_HEADERS = ("authorization", "cookie", "x-api-key")


def route_name(route_table: RouteTable, scope: Scope) -> str:
    """Name of the route that will handle the request, as faults and the log refer to it."""
    for pattern, methods, name in route_table:
        if pattern.match(scope["path"]) and scope["method"] in methods:
            return name
    return "unknown"


def logged_headers(scope: Scope, store: Store) -> tuple[dict[str, str], str | None]:
    """Return headers with secret values replaced, and the owner of the Bearer key if valid."""
    headers: dict[str, str] = {}
    owner = None
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "authorization":
            scheme, _, key = value.partition(" ")
            owner = store.owner_for_key(key.strip()) if scheme.lower() == "bearer" else None
        headers[name] = "<redacted>" if name in SECRET_HEADERS else value
    return headers, owner


def parsed_body(body: bytes, content_type: str, complete: bool) -> Any:
    if "application/json" in content_type and complete:
        try:
            return json.loads(body)
        except ValueError:
            pass
    if "multipart/form-data" in content_type:
        return None
    return body[:2000].decode("utf-8", "replace") if body else None


RAW_SEND_KEY = "thrixel.raw_send"


class RawSendCapture:
    """Outermost ASGI wrapper that keeps the server's own `send` in the scope for faults."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND_KEY] = send
        await self.app(scope, receive, send)


class ThrixelMiddleware:
    def __init__(self, app: ASGIApp, *, fastapi_app: Any, route_table: RouteTable) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.route_table = route_table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        store: Store = self.fastapi_app.state.store
        name = route_name(self.route_table, scope)
        headers, owner = logged_headers(scope, store)
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "route": name,
            "host": headers.get("host"),
            "headers": headers,
            "authorization_present": "authorization" in headers,
            "auth_owner": owner,
            "body": None,
            "body_bytes": 0,
            "status": None,
            "fault": None,
        }
        with store.lock:
            store.request_log.append(entry)
            fault = take_fault(store.faults, name, scope["method"])
        entry["fault"] = fault["fault"] if fault else None

        chunks: list[bytes] = []

        async def logging_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                entry["body_bytes"] += len(body)
                if sum(map(len, chunks)) < MAX_LOGGED_BODY:
                    chunks.append(body)
                if not message.get("more_body"):
                    entry["body"] = parsed_body(
                        b"".join(chunks),
                        headers.get("content-type", ""),
                        entry["body_bytes"] <= MAX_LOGGED_BODY,
                    )
            return message

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        if fault is None:
            await self.app(scope, logging_receive, logging_send)
            return
        await fault_actions.apply(
            fault,
            self.app,
            scope,
            logging_receive,
            logging_send,
            raw_send=scope.get(RAW_SEND_KEY, send),
        )
