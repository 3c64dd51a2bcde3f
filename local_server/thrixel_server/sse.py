"""Server-Sent Events frames for `GET /{submission_id}/stream`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from .store import TERMINAL_STATUSES, Store, Submission

POLL_SECONDS = 0.05
KEEPALIVE_COMMENT = ": keep-alive\n\n"


def frame(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event)}\n\n"


def is_terminal_event(event: dict[str, Any]) -> bool:
    return event.get("type") == "status" and event.get("status") in TERMINAL_STATUSES


def snapshot(submission: Submission) -> list[dict[str, Any]]:
    """Events that tell a new listener the submission's current state."""
    status: dict[str, Any] = {"type": "status", "status": submission.status}
    if submission.status == "failed":
        status["error"] = submission.error
    events = [status]
    if submission.status == "processing" and submission.progress > 0:
        events.append(
            {
                "type": "progress",
                "percent": submission.progress,
                "message": "Generating geometry...",
            }
        )
    return events


async def event_stream(
    store: Store, submission: Submission, fault: dict[str, Any] | None = None
) -> AsyncIterator[str]:
    """Yield the snapshot, then each new event and keep-alive comments in silences.

    The stream ends after the terminal status, or where a queued stream fault cuts it.
    """
    index = len(submission.events)
    for event in snapshot(submission):
        yield frame(event)
    if submission.is_terminal:
        return
    if fault is not None:
        async for text in faulty_stream(store, submission, fault, index):
            yield text
        return
    last_sent = time.monotonic()
    while True:
        await asyncio.sleep(POLL_SECONDS)
        while index < len(submission.events):
            event = submission.events[index]
            index += 1
            yield frame(event)
            last_sent = time.monotonic()
            if is_terminal_event(event):
                return
        if time.monotonic() - last_sent >= store.config.keepalive_seconds:
            yield KEEPALIVE_COMMENT
            last_sent = time.monotonic()


async def faulty_stream(
    store: Store, submission: Submission, fault: dict[str, Any], index: int
) -> AsyncIterator[str]:
    """Misbehave as the fault specifies after the snapshot, then close without a terminal event."""
    kind = fault["fault"]
    if kind == "stream_close_early":
        sent = 0
        while sent < fault["events"]:
            await asyncio.sleep(POLL_SECONDS)
            while index < len(submission.events) and sent < fault["events"]:
                event = submission.events[index]
                index += 1
                if is_terminal_event(event):
                    return
                yield frame(event)
                sent += 1
        return
    deadline = time.monotonic() + fault["seconds"]
    if kind == "stream_stall":
        await asyncio.sleep(fault["seconds"])
        return
    while time.monotonic() < deadline:
        await asyncio.sleep(min(store.config.keepalive_seconds, deadline - time.monotonic()))
        yield KEEPALIVE_COMMENT
