"""The usage estimate and the submit gate: holding at the active-job limit, waiting out 429."""

from __future__ import annotations

import threading
import time

import pytest

from thrixel_blender import limits
from thrixel_blender.client import SubmitResult
from thrixel_blender.client import errors as client_errors


def result() -> SubmitResult:
    return SubmitResult.from_json({"submission_id": "sub-1", "status": "queued"})


def test_usage_counts_listing_and_local_submits() -> None:
    tracker = limits.UsageTracker()
    now = time.time()
    tracker.observe_listing([now - 10, now - 7200, now - 2 * 86400, None], 1, at=now - 5)
    tracker.note_submit(at=now - 1)
    tracker.note_submit(at=now - 100)  # Before the listing: already counted in it.
    usage = tracker.usage(now)
    assert usage.last_hour == 2
    assert usage.last_day == 3
    assert usage.active == 2


def test_active_estimate_takes_larger_source() -> None:
    tracker = limits.UsageTracker()
    tracker.observe_listing([], 3)
    tracker.set_local_active(1)
    assert tracker.active_estimate() == 3
    tracker.observe_listing([], 0)
    assert tracker.active_estimate() == 1


def test_gate_retries_after_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = limits.UsageTracker()
    calls: list[int] = []
    seen_waits: list[limits.Wait | None] = []

    def submit(client: object, cancel: threading.Event) -> SubmitResult:
        calls.append(1)
        if len(calls) == 1:
            raise client_errors.RateLimitedError("slow down", retry_after=0.05)
        seen_waits.append(tracker.wait_of("job-1"))
        return result()

    gated = limits.gated_submit(tracker, "job-1", submit)
    assert gated(None, threading.Event()).submission_id == "sub-1"  # type: ignore[arg-type]
    assert len(calls) == 2
    assert seen_waits[0] is not None and seen_waits[0].reason == "rate"
    assert tracker.wait_of("job-1") is None
    assert tracker.usage().last_hour == 1


def test_gate_holds_at_active_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "HOLD_POLL_SECONDS", 0.01)
    tracker = limits.UsageTracker()
    tracker.observe_listing([], 3)
    sent = threading.Event()

    def submit(client: object, cancel: threading.Event) -> SubmitResult:
        sent.set()
        return result()

    gated = limits.gated_submit(tracker, "job-2", submit)
    thread = threading.Thread(target=gated, args=(None, threading.Event()))
    thread.start()
    deadline = time.monotonic() + 5
    while tracker.wait_of("job-2") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tracker.wait_of("job-2") is not None
    assert tracker.wait_of("job-2").reason == "slot"
    assert not sent.is_set()
    tracker.observe_listing([], 2)
    thread.join(5)
    assert sent.is_set()
    assert tracker.wait_of("job-2") is None


def test_gate_cancel_while_waiting() -> None:
    tracker = limits.UsageTracker()

    def submit(client: object, cancel: threading.Event) -> SubmitResult:
        raise client_errors.RateLimitedError("slow down", retry_after=30)

    cancel = threading.Event()
    gated = limits.gated_submit(tracker, "job-3", submit)
    timer = threading.Timer(0.1, cancel.set)
    timer.start()
    with pytest.raises(client_errors.CancelledError):
        gated(None, cancel)  # type: ignore[arg-type]
    assert tracker.wait_of("job-3") is None


def test_wait_text_counts_down() -> None:
    wait = limits.Wait("job", "rate", 1000.0)
    assert wait.describe(limits.DOCUMENTED_DEFAULTS, 977.0).endswith("in 23 s")
    assert limits.format_wait(125) == "2 min 05 s"
    slot = limits.Wait("job", "slot", None)
    assert "3 of 3 jobs are active" in slot.describe(limits.DOCUMENTED_DEFAULTS, 0.0)
