"""Faults the test hooks queue; the middleware applies each to the requests it matches."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

FaultKind = Literal[
    "drop_before_body",
    "drop_during_body",
    "status",
    "rate_limit",
    "slow",
    "slow_response",
    "html_error",
    "not_json",
    "truncate",
    "corrupt",
    "redirect",
    "stream_stall",
    "stream_keepalive_only",
    "stream_close_early",
]


class FaultSpec(BaseModel):
    """One queued fault: which requests it hits, what goes wrong and how often."""

    fault: FaultKind
    route: str = "*"
    """Route name (`download`, `stream`, `info`, `phase1_submit`, ...) or `*` for any."""
    method: str | None = None
    times: int = Field(1, ge=1)
    status: int = Field(503, ge=400, le=599)
    """HTTP status for `status`, `html_error` and `rate_limit`."""
    retry_after: str | None = None
    """Retry-After value for `rate_limit` (seconds or an HTTP date); none when null."""
    seconds: float = Field(5.0, ge=0, le=120)
    """Delay for `slow` and `slow_response`, silence for the stream faults."""
    target_host: str = "127.0.0.2"
    """Loopback host a `redirect` points at (same port and path): an address or `localhost`."""
    redirect_status: Literal[301, 302, 303, 307, 308] = 302
    events: int = Field(1, ge=0)
    """Events `stream_close_early` sends before closing."""

    @field_validator("target_host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if value == "localhost":
            return value
        try:
            loopback = ipaddress.ip_address(value).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError("target_host must be a loopback address or 'localhost'")
        return value


def take_fault(faults: list[dict[str, Any]], route: str, method: str) -> dict[str, Any] | None:
    """Pop one use of the first fault that matches the request; None when none does."""
    for fault in faults:
        if fault["route"] not in ("*", route):
            continue
        if fault["method"] and fault["method"].upper() != method:
            continue
        fault["times"] -= 1
        if fault["times"] <= 0:
            faults.remove(fault)
        return dict(fault)
    return None
