"""What each queued fault does to the one request it hits."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


async def apply(
    fault: dict[str, Any],
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    raw_send: Send,
) -> None:
    # TODO: apply the fault kinds; until then a queued fault leaves the request unchanged.
    await app(scope, receive, send)
