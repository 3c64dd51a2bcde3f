"""The library's share of each pump tick: apply background results, start queued thumbnail and
detail fetches, keep the active-job estimate current and the Downloads panel moving."""

from __future__ import annotations

from . import background, library_cache, library_calls, library_ops, limits, previews, props

ACTIVE_STATUSES = frozenset({"queued", "processing"})
_busy = False


def step(budget: float) -> bool:
    """Do one tick of library work within `budget` seconds; returns whether work remains."""
    applied = background.get().drain(budget)
    previews.feed()
    library_ops.feed()
    limits.tracker().set_local_active(
        sum(1 for _scene, record in props.all_jobs() if record.status in ACTIVE_STATUSES)
    )
    running = any(t.state == "running" for t in library_cache.get().transfers.values())
    waiting = bool(limits.tracker().usage().waits) or bool(background.get().waits())
    if applied or running or waiting:
        # Progress of downloads and countdowns of waits change without any event.
        library_calls.tag_redraw()
    global _busy
    _busy = background.get().busy() or running
    return _busy


def busy() -> bool:
    """Whether the last tick left library work in flight, so the pump should tick soon."""
    return _busy


def shutdown() -> None:
    """Stop background work and forget the session's library state."""
    background.shutdown()
    previews.unregister()
    library_ops.reset()
    library_cache.clear()
    limits.reset()
    global _busy
    _busy = False
