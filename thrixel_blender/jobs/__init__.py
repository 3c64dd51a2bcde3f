"""The job runner: follows remote work on worker threads and reports events to a queue.

No `bpy`: the Blender side drains `JobRunner.events` on the main thread.
"""

from .events import EVENT_KINDS, CallFunction, JobEvent, JobSpec, SubmitFunction
from .runner import JobRunner

__all__ = ["EVENT_KINDS", "CallFunction", "JobEvent", "JobRunner", "JobSpec", "SubmitFunction"]
