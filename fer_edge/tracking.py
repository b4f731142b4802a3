"""Per-face tracking across video frames: matching, confirmation, box filtering, probability smoothing.

Single-frame emotion scores flicker; averaging a face's probabilities over
time steadies the label. Faces are matched frame to frame by box IoU; a track
lost for more than ``max_missed`` frames is dropped, so memory stays bounded.
A track counts as *confirmed* once it was seen in ``confirm_frames`` frames, so
a detector's one-frame phantom is never reported; its box goes through a One
Euro filter (Casiez et al., CHI 2012: smooth when still, quick when moving) and
its velocity predicts where to look in the next frame. Two tracks that end up on one box (a detector
merging two overlapping faces) become one, so a face is never reported twice.
"""
from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .continuity import same_face
from .detection.base import centre_inside, iou_pair, iou_xywh, overlap_pair


#: Two tracks whose boxes overlap this much follow one face.
DUPLICATE_IOU = 0.7
#: ... as do two whose smaller box lies this much inside the larger (the detector framed one face at two sizes;
#: its look at the other size differs, so the tracker started a second track on it).
DUPLICATE_INSIDE = 0.8
#: ... and whose centres are this close (x the larger side): a smaller face pasted over a larger one sits off its centre.
DUPLICATE_CENTRE = 0.25


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


class OneEuroFilter:
    """One Euro filter over a vector (a box): cutoff ``min_cutoff + beta * |speed|`` Hz, time in seconds."""

    def __init__(self, min_cutoff: float = 1.5, beta: float = 0.05, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
            raise ValueError(f"One Euro parameters must be positive (min_cutoff={min_cutoff}, beta={beta}, "
                             f"d_cutoff={d_cutoff})")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = self.dx = self.t = None

    @staticmethod
    def _alpha(cutoff, dt):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x = a * x + (1 - a) * self.x
        self.t = t
        return self.x.copy()


@dataclass
class Track:
    track_id: int
    box: np.ndarray
    probs: np.ndarray
    history: deque = field(default_factory=deque)
    missed: int = 0
    age: int = 1
    score: float = 1.0  # detection score of the last detection
    hits: int = 1  # frames in which it was detected
    score_sum: float = 0.0  # detection scores summed over those frames
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # position change per frame (EMA)
    smooth_box: np.ndarray | None = None  # One Euro filtered box
    box_filter: OneEuroFilter | None = None
    keypoints: tuple = ()
    verified: bool = True  # False until a second opinion confirmed it is a face (when the recognizer asks one)
    template: np.ndarray | None = None  # the face as last detected, small and gray, to follow it between detections
    verify_tries: int = 0
    look: np.ndarray | None = None  # the face's small gray patch when last detected (continuity.face_look)
    displaced: bool = False  # another face was found where it should be: never reported at a guessed place

    @property
    def mean_score(self) -> float:
        return self.score_sum / max(1, self.hits)

    def predicted_box(self) -> np.ndarray:
        """Where the face should be in the next frame: last box moved by its velocity."""
        return self.box + self.velocity * (self.missed + 1)


class FaceTracker:
    """Greedy IoU matching of detections to tracks, with smoothed probabilities per track."""

    def __init__(self, smoothing: SmoothingOptions | None = None, iou_threshold: float = 0.3, max_missed: int = 5,
                 confirm_frames: int = 1, box_filter: tuple[float, float] | None = None, confirm_score: float = 0.0,
                 instant_score: float | None = None):
        if confirm_frames < 1 or max_missed < 0:
            raise ValueError(f"confirm_frames must be >= 1 and max_missed >= 0, got {confirm_frames}, {max_missed}")
        self.smoothing = smoothing or SmoothingOptions()
        self.iou_threshold, self.max_missed, self.confirm_frames = iou_threshold, max_missed, confirm_frames
        self.box_filter = box_filter  # (min_cutoff, beta) of the One Euro box filter; None: raw boxes
        self.confirm_score = confirm_score  # mean detection score a track needs to be confirmed
        self.instant_score = instant_score  # ... and a first detection this sure needs no second frame (None: never)
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self.tracks.clear()
        self._next_id = 0

    def end_all(self) -> None:
        """End every track (a scene cut); ids keep counting, so a face after the cut never reuses one."""
        self.tracks.clear()

    def _smooth(self, track: Track, probs: np.ndarray) -> np.ndarray:
        s = self.smoothing
        if s.method == "ema":
            return s.alpha * probs + (1.0 - s.alpha) * track.probs
        if s.method == "window":
            track.history.append(probs)
            return np.mean(track.history, axis=0)
        return probs

    def forget(self, track_ids) -> None:
        """Drop these tracks (candidates that proved not to be faces): a later scan may start them afresh."""
        drop = set(track_ids)
        self.tracks = [t for t in self.tracks if t.track_id not in drop]

    def by_id(self, track_id: int) -> Track | None:
        return next((t for t in self.tracks if t.track_id == track_id), None)

    def confirmed(self, track: Track) -> bool:
        return track.verified and self.candidate(track)

    def candidate(self, track: Track) -> bool:
        """Seen often and surely enough to be reported, once verified."""
        return track.mean_score >= self.confirm_score and (
            track.hits >= self.confirm_frames
            or (self.instant_score is not None and track.mean_score >= self.instant_score))

    def update(self, boxes, probs, scores=None, timestamp_ms: float | None = None,
               track_ids=None, skipped: dict | None = None, looks=None) -> list[tuple[int, np.ndarray]]:
        """Match this frame's ``boxes`` (N, 4 xywh) with raw ``probs`` (N, C); returns ``(track_id, smoothed)``.

        Tracks are matched against their *predicted* boxes, so a face moving several pixels a
        frame keeps its id; ``timestamp_ms`` drives the box filter. ``track_ids`` (one per box) says
        which track each box belongs to (a face followed in its own region; None: match it by IoU);
        ``skipped`` maps the tracks not looked for this frame (not missed) to the box each was followed to
        (None: it moves on by its velocity). ``looks`` (one :func:`~.continuity.face_look` per box, or None)
        keeps a track one person: a box goes to a track only if it also looks like the track's face, so one
        face leaving as another comes in at the same place starts a new track.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        skipped = skipped or {}
        scores = [1.0] * len(boxes) if scores is None else list(scores)
        probs = np.asarray(probs, np.float32).reshape(len(boxes), -1) if len(boxes) else np.zeros((0, 0), np.float32)
        ids = [None] * len(boxes) if track_ids is None else list(track_ids)
        looks = [None] * len(boxes) if looks is None else list(looks)
        index = {t.track_id: ti for ti, t in enumerate(self.tracks)}
        @functools.cache
        def alike(ti, di) -> bool:  # each (track, box) pair compared once
            return same_face(self.tracks[ti].look, looks[di])

        pairs = [(2.0, index[tid], di) for di, tid in enumerate(ids) if tid is not None and alike(index[tid], di)]
        free = [di for di, tid in enumerate(ids) if tid is None or not alike(index[tid], di)]
        displaced = {index[tid] for di, tid in enumerate(ids) if tid is not None and di in free}
        for ti, t in enumerate(self.tracks):
            if free:
                for di, v in zip(free, iou_xywh(t.predicted_box(), boxes[free])):
                    if v >= self.iou_threshold and alike(ti, di):
                        pairs.append((v, ti, di))
                    elif not alike(ti, di) and centre_inside(boxes[di], t.predicted_box()):  # someone else is there
                        displaced.add(ti)
        track_of = [None] * len(boxes)
        used = set()
        for _, ti, di in sorted(pairs, reverse=True):
            if track_of[di] is None and ti not in used:
                track_of[di] = ti
                used.add(ti)
        out, seen = [], set()
        for di, ti in enumerate(track_of):
            if ti is None:
                t = Track(self._next_id, boxes[di], probs[di], deque(maxlen=self.smoothing.window), score=scores[di],
                          score_sum=float(scores[di]))
                t.history.append(probs[di])
                self._next_id += 1
                self.tracks.append(t)
            else:
                t = self.tracks[ti]
                t.probs = self._smooth(t, probs[di])
                step = (boxes[di] - t.box) / (t.missed + 1)
                step[2:] = 0.0  # sizes change slowly and noisily: predict the position only
                t.velocity = step if t.hits == 1 else 0.5 * step + 0.5 * t.velocity
                t.box, t.missed, t.age, t.score, t.displaced = boxes[di], 0, t.age + 1, scores[di], False
                t.hits += 1
                t.score_sum += float(scores[di])
            if looks[di] is not None:
                t.look = looks[di]
            if self.box_filter is not None:
                if t.box_filter is None:
                    t.box_filter = OneEuroFilter(*self.box_filter)
                seconds = (timestamp_ms if timestamp_ms is not None else t.age * 1000.0 / 30) / 1000.0
                t.smooth_box = t.box_filter(t.box, seconds)
            else:
                t.smooth_box = t.box
            out.append((t.track_id, t.probs.copy()))
            seen.add(t.track_id)
        for t in self.tracks:
            if t.track_id in skipped and t.track_id not in seen:
                moved = skipped[t.track_id]
                if moved is None:  # where its velocity takes it
                    t.box = t.box + t.velocity
                    if t.smooth_box is not None:
                        t.smooth_box = t.smooth_box + t.velocity
                else:  # where it was followed to (template matching)
                    t.box = np.asarray(moved, np.float64)
                    if t.box_filter is not None and timestamp_ms is not None:
                        t.smooth_box = t.box_filter(t.box, timestamp_ms / 1000.0)
                    else:
                        t.smooth_box = t.box
            elif t.track_id not in seen:
                t.missed += 1
        for ti in displaced:
            if ti not in used:  # not reported where it is presumed to be: another face is there
                self.tracks[ti].displaced = True
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        self._merge_duplicates()
        return out

    def _merge_duplicates(self) -> None:
        """Two tracks on one spot, so one face is never reported twice: when the detector merged two overlapping
        faces into one box and each track took it, the one not seen this frame goes (then the one seen in fewer
        frames); when one track's box lies inside the other's about its centre (one face framed at two sizes), the
        newcomer goes."""
        drop = set()
        for i, a in enumerate(self.tracks):
            for b in self.tracks[i + 1:]:
                if a.track_id in drop or b.track_id in drop:
                    continue
                if iou_pair(a.box, b.box) >= DUPLICATE_IOU:
                    drop.add(min((a, b), key=lambda t: (t.missed == 0, t.hits, -t.track_id)).track_id)
                elif _inside_share(a.box, b.box) >= DUPLICATE_INSIDE and _centres_close(a.box, b.box):
                    drop.add(min((a, b), key=lambda t: (t.hits, t.missed == 0, -t.track_id)).track_id)
        if drop:
            self.tracks = [t for t in self.tracks if t.track_id not in drop]


def _inside_share(a, b) -> float:
    """How much of the smaller of two ``[x, y, w, h]`` boxes lies inside the other (0..1)."""
    inter, area_a, area_b = overlap_pair(a, b)
    return inter / max(min(area_a, area_b), 1e-12)


def _centres_close(a, b) -> bool:
    """Centres within DUPLICATE_CENTRE x the larger box's side: one face framed twice, not a face over another."""
    side = max(float(a[2]), float(a[3]), float(b[2]), float(b[3]))
    return float(np.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2)) <= DUPLICATE_CENTRE * side
