"""Progress of long work on stderr, one line redrawn in place: what a person at a terminal wants to see, and
nothing at all where stderr is a log file or a pipe (or with ``-q``), so scripts read clean output."""
from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress("clip.mp4", total=900, unit="frames") as p: p.update()`` once per item.

    Nothing is drawn for work that ends within ``after_s``; then at most every ``every_s``:
    ``clip.mp4: 412/900 frames (46%), 87.1 frames/s, 6 s left``. The line is cleared at the end.
    """

    def __init__(self, label: str, total: int | None = None, unit: str = "frames", *, quiet: bool = False,
                 stream=None, after_s: float = 0.5, every_s: float = 0.25):
        self.stream = stream or sys.stderr
        self.enabled = not quiet and bool(getattr(self.stream, "isatty", lambda: False)())
        self.label, self.total, self.unit = label, total or None, unit
        self.after_s, self.every_s = after_s, every_s
        self.done, self._t0, self._last, self._drawn = 0, time.monotonic(), 0.0, False

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._t0 >= self.after_s and now - self._last >= self.every_s:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self._t0, 1e-9)
        text = f"{self.label}: {self.done}"
        if self.total:
            left = max(self.total - self.done, 0) / rate if rate > 0 else 0
            text += f"/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%), {rate:.1f} {self.unit}/s, " \
                    f"{left:.0f} s left"
        else:
            text += f" {self.unit}, {rate:.1f} {self.unit}/s"
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
