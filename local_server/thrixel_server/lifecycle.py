"""The queued -> processing -> completed (or failed) life cycle, paced by the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from .models3d.blender_script import build_script
from .models3d.glb import GlbError
from .models3d.thumbnail import render_png
from .store import Artifacts, Store, Submission

log = logging.getLogger(__name__)

STAGE_MESSAGES = (
    "Reading the request...",
    "Generating geometry...",
    "Assigning materials...",
    "Packing the model...",
)
TICK_SECONDS = 0.02

Producer = Callable[[], Artifacts]


async def wait_step(store: Store) -> None:
    """Sleep one step of `step_seconds`, longer while the test hooks hold the pace paused."""
    await wait_seconds(store, lambda: store.config.step_seconds)


async def wait_seconds(store: Store, seconds: Callable[[], float]) -> None:
    """Sleep `seconds()` (read again each tick, so a new setting applies at once), not counting
    the time the test hooks hold the pace paused."""
    waited = 0.0
    while waited < seconds() or store.config.paused:
        await asyncio.sleep(TICK_SECONDS)
        if not store.config.paused:
            waited += TICK_SECONDS


def artifacts_for(glb: bytes, title: str, submission_id: str) -> Artifacts:
    """Make the thumbnail and the Blender script that go with a GLB."""
    return Artifacts(
        glb=glb, thumbnail=render_png(glb), script=build_script(glb, title, submission_id)
    )


async def run_submission(store: Store, submission: Submission, produce: Producer) -> None:
    """Advance a submission to its end; `produce` makes the result files in a worker thread."""
    await wait_step(store)
    if submission.is_terminal:
        return
    submission.set_status("processing")
    steps = max(1, store.config.progress_steps)
    for step in range(steps):
        await wait_step(store)
        if submission.is_terminal:
            return
        if submission.fail_after_steps is not None and step >= submission.fail_after_steps:
            submission.fail(submission.fail_error)
            return
        message = STAGE_MESSAGES[step % len(STAGE_MESSAGES)]
        submission.progress = round((step + 1) / (steps + 1), 4)
        submission.emit({"type": "log", "message": f"Stage {step + 1} of {steps}: {message}"})
        submission.emit({"type": "progress", "percent": submission.progress, "message": message})
    await finish(submission, produce)


async def finish(submission: Submission, produce: Producer) -> None:
    try:
        artifacts = await asyncio.to_thread(produce)
    except (GlbError, ValueError) as error:
        log.info("Submission %s failed: %s", submission.id, error)
        submission.fail(f"Could not process the model: {error}")
        return
    if submission.is_terminal:
        return
    references = submission.artifacts.reference_images
    submission.artifacts = artifacts
    if references and not artifacts.reference_images:
        artifacts.reference_images = references
    submission.progress = 1.0
    submission.emit({"type": "progress", "percent": 1.0, "message": "Done"})
    submission.set_status("completed")


def start(store: Store, submission: Submission, produce: Producer) -> None:
    """Schedule the life cycle on the running event loop."""
    spawn(store, run_submission(store, submission, produce))


def spawn(store: Store, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` as a task on the running event loop; the store keeps a reference to it."""
    task = asyncio.get_running_loop().create_task(work)
    store.tasks.add(task)
    task.add_done_callback(store.tasks.discard)
