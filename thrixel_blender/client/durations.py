"""Durations in the words people use: "45 seconds", "12 minutes", "1 h 5 min"."""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    """Return `seconds` as a short human duration, rounded up so a wait is never understated.

    Under 90 seconds the count is in seconds, under an hour in whole minutes, and above that
    in hours and minutes.
    """
    whole = max(0, math.ceil(seconds))
    if whole < 90:
        return f"{whole} second{'s' if whole != 1 else ''}"
    minutes = math.ceil(whole / 60)
    if minutes <= 60:
        return f"{minutes} minutes"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
