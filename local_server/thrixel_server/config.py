"""Settings of the local Thrixel server, set from the command line or by the test hooks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

DEFAULT_TEST_KEY = "sk-thrixel-local-test"
OTHER_TEST_KEY = "sk-thrixel-local-other"


def _default_keys() -> dict[str, str]:
    return {DEFAULT_TEST_KEY: "test", OTHER_TEST_KEY: "other"}


@dataclass
class ServerConfig:
    """Everything that shapes how the server behaves; one instance per running server."""

    api_keys: dict[str, str] = field(default_factory=_default_keys)
    """API key -> owner name. Submissions and projects belong to the owner."""
    step_seconds: float = 0.2
    """Seconds per life-cycle step (queued, then each progress step)."""
    progress_steps: int = 4
    """Number of progress events a submission emits while processing."""
    paused: bool = False
    """When true, no submission advances (tests use it to hold a job in one state)."""
    keepalive_seconds: float = 5.0
    """Seconds of silence after which the event stream sends a `: keep-alive` comment."""
    max_upload_bytes: int = 100 * 1024 * 1024
    """Largest accepted phase 5 upload (the documented 100 MB)."""
    max_active: int = 3
    """Concurrent queued or processing submissions per key."""
    per_hour: int = 10
    """Submissions per key per rolling hour."""
    per_day: int = 50
    """Submissions per key per rolling 24 hours."""
    rate_limits: bool = True
    """When false, the three limits above are not enforced."""
    convert_seconds: float = 0.2
    """Seconds a conversion job spends in each of `queued` and `running`."""

    def copy(self) -> ServerConfig:
        return dataclasses.replace(self, api_keys=dict(self.api_keys))

    def update(self, changes: dict[str, object]) -> None:
        """Apply the given field values; raise KeyError on an unknown field name."""
        names = {f.name for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in names:
                raise KeyError(name)
            setattr(self, name, value)

    def public_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["api_keys"] = sorted(self.api_keys.values())
        return data
