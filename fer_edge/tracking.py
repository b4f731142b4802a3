"""Per-face tracking across video frames and temporal smoothing of emotion probabilities.

Single-frame emotion scores flicker; averaging a face's probabilities over
time steadies the label. Faces are matched frame to frame by box IoU; a track
lost for more than ``max_missed`` frames is dropped, so memory stays bounded.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .detection.base import iou_xywh


@dataclass(frozen=True)
class SmoothingOptions:
    """``method``: ``"ema"`` (``alpha`` weight of the newest frame), ``"window"`` (mean of the
    last ``window`` frames) or ``"none"``."""

    method: str = "ema"
    alpha: float = 0.4
    window: int = 5

    def __post_init__(self):
        if self.method not in ("ema", "window", "none"):
            raise ValueError(f"smoothing must be 'ema', 'window' or 'none', got {self.method!r}")
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"smoothing alpha must be within (0, 1], got {self.alpha}")
        if self.window < 1:
            raise ValueError(f"smoothing window must be at least 1, got {self.window}")


@dataclass
class Track:
    track_id: int
    box: np.ndarray
    probs: np.ndarray
    history: deque = field(default_factory=deque)
    missed: int = 0
    age: int = 1
    score: float = 1.0  # detection score of the last detection


class FaceTracker:
    """Greedy IoU matching of detections to tracks, with smoothed probabilities per track."""

    def __init__(self, smoothing: SmoothingOptions | None = None, iou_threshold: float = 0.3, max_missed: int = 5):
        self.smoothing = smoothing or SmoothingOptions()
        self.iou_threshold, self.max_missed = iou_threshold, max_missed
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self.tracks.clear()
        self._next_id = 0

    def _smooth(self, track: Track, probs: np.ndarray) -> np.ndarray:
        s = self.smoothing
        if s.method == "ema":
            return s.alpha * probs + (1.0 - s.alpha) * track.probs
        if s.method == "window":
            track.history.append(probs)
            return np.mean(track.history, axis=0)
        return probs

    def update(self, boxes, probs, scores=None) -> list[tuple[int, np.ndarray]]:
        """Match this frame's ``boxes`` (N, 4 xywh) with raw ``probs`` (N, C); returns ``(track_id, smoothed)``."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = [1.0] * len(boxes) if scores is None else list(scores)
        probs = np.asarray(probs, np.float32).reshape(len(boxes), -1) if len(boxes) else np.zeros((0, 0), np.float32)
        pairs = []
        for ti, t in enumerate(self.tracks):
            if len(boxes):
                for di, v in enumerate(iou_xywh(t.box, boxes)):
                    if v >= self.iou_threshold:
                        pairs.append((v, ti, di))
        track_of = [None] * len(boxes)
        used = set()
        for _, ti, di in sorted(pairs, reverse=True):
            if track_of[di] is None and ti not in used:
                track_of[di] = ti
                used.add(ti)
        out, seen = [], set()
        for di, ti in enumerate(track_of):
            if ti is None:
                t = Track(self._next_id, boxes[di], probs[di], deque(maxlen=self.smoothing.window), score=scores[di])
                t.history.append(probs[di])
                self._next_id += 1
                self.tracks.append(t)
            else:
                t = self.tracks[ti]
                t.probs = self._smooth(t, probs[di])
                t.box, t.missed, t.age, t.score = boxes[di], 0, t.age + 1, scores[di]
            out.append((t.track_id, t.probs.copy()))
            seen.add(t.track_id)
        for t in self.tracks:
            if t.track_id not in seen:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return out
