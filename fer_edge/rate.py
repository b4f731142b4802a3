"""Frames per second, one way for every output (the camera's log line, the web page, MQTT's ``state``)."""
from __future__ import annotations

import time
from collections import deque


class RateMeter:
    """Events per second over the last ``window_s`` seconds: what the rate is now, not since the start."""

    def __init__(self, window_s: float = 2.0):
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.window_s = window_s
        self._times: deque = deque()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    @property
    def rate(self) -> float:
        """Events per second between the first and last event in the window (0 with fewer than two)."""
        span = self._times[-1] - self._times[0] if len(self._times) > 1 else 0.0
        return (len(self._times) - 1) / span if span > 0 else 0.0
