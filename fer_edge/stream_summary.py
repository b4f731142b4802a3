"""What a camera run did, in the one ``summary:`` line that ends ``fer-edge camera`` and ``serve`` however they
stop. Standard library only: it is said even when Ctrl-C comes before numpy has loaded."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class StreamSummary:
    frames: int = 0
    faces: int = 0
    emotions: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    error: str | None = None
    stopped_by: str = "end of stream"

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"frames": self.frames, "faces": self.faces, "emotions": dict(self.emotions),
                "seconds": round(self.seconds, 2), "fps": round(self.fps, 1), "stopped_by": self.stopped_by,
                "error": self.error}

    def line(self) -> str:
        return "summary: " + json.dumps(self.to_dict())
