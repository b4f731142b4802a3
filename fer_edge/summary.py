"""Per-person summaries: what each track (one person, :mod:`fer_edge.continuity`) showed while it lasted.

A :class:`TrackLog` takes :class:`~fer_edge.recognizer.FrameResult` s one by one and hands back a
:class:`PersonSummary` for every track that ended (``FrameResult.ended``: the face left, or a cut); at the
end of a stream :meth:`TrackLog.finish` closes the rest. ``predict --summary``, ``camera --summary-out`` and
the MQTT ``track`` topic all use it, so a person reads the same everywhere. :func:`summarize` does it for a
whole list of results.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: timeline rows kept per track for the picture; beyond it every other row goes (a long stream stays bounded)
TIMELINE_ROWS = 2000


@dataclass
class PersonSummary:
    """One track from its first to its last reported frame.

    Attributes:
        track_id: the id in the per-frame results.
        first_ms, last_ms: timestamps of its first and last reported frame.
        frames: frames it was reported in.
        emotion: its dominant emotion (the label it showed in most frames; None if it was never shown one).
        shares: each label's share of those frames (labels never shown are 0).
        changes: how many times its shown emotion changed from one reported frame to the next (frames reported
            "not sure" left out).
        unsure: the share of its frames reported without an emotion (``min_emotion_score``).
    """

    track_id: int
    first_ms: float
    last_ms: float
    frames: int
    emotion: str | None
    shares: dict[str, float]
    changes: int
    unsure: float = 0.0
    timeline: list = field(default_factory=list, repr=False)  # rows {"t_s", "probabilities"} for the picture

    @property
    def duration_s(self) -> float:
        return (self.last_ms - self.first_ms) / 1000.0

    def to_dict(self) -> dict:
        """The JSON of a person: ``--summary``, ``--summary-out`` and the MQTT ``track`` topic."""
        return {"track_id": self.track_id, "first_ms": round(self.first_ms, 1), "last_ms": round(self.last_ms, 1),
                "duration_s": round(self.duration_s, 3), "frames": self.frames, "emotion": self.emotion,
                "shares": {k: round(v, 4) for k, v in self.shares.items()}, "changes": self.changes,
                "unsure": round(self.unsure, 4)}


@dataclass
class _Open:
    first_ms: float
    last_ms: float
    counts: Counter
    last_emotion: str | None
    changes: int = 0
    timeline: list = field(default_factory=list)
    stride: int = 1
    seen: int = 0


class TrackLog:
    """Follows every track through the results it is given; ``timeline=True`` keeps each one's probabilities
    over time (at most :data:`TIMELINE_ROWS` rows a track) for :func:`~fer_edge.drawing.draw_timeline`."""

    def __init__(self, labels, *, timeline: bool = False):
        self.labels = list(labels)
        self.timeline = timeline
        self._open: dict[int, _Open] = {}

    @property
    def open_tracks(self) -> list[int]:
        return sorted(self._open)

    def add(self, result) -> list[PersonSummary]:
        """Take one frame's result; returns the people whose track ended at it, in id order."""
        done = [self._close(tid) for tid in result.ended if tid in self._open]
        for f in result.faces:
            if f.track_id is None:
                raise ValueError("TrackLog needs VIDEO or LIVE_STREAM results (faces with a track_id)")
            o = self._open.get(f.track_id)
            if o is None:
                o = self._open[f.track_id] = _Open(result.timestamp_ms, result.timestamp_ms, Counter(), f.emotion)
            elif f.emotion is not None and o.last_emotion is not None and f.emotion != o.last_emotion:
                o.changes += 1
            o.last_ms = result.timestamp_ms
            o.last_emotion = f.emotion if f.emotion is not None else o.last_emotion
            o.counts[f.emotion] += 1
            if self.timeline:
                if o.seen % o.stride == 0:
                    o.timeline.append({"t_s": result.timestamp_ms / 1000.0, "probabilities": dict(f.probabilities)})
                    if len(o.timeline) > TIMELINE_ROWS:
                        o.timeline, o.stride = o.timeline[::2], o.stride * 2
                o.seen += 1
        return done

    def finish(self) -> list[PersonSummary]:
        """Close every track still open (the end of a stream)."""
        return [self._close(tid) for tid in sorted(self._open)]

    def _close(self, tid: int) -> PersonSummary:
        o = self._open.pop(tid)
        frames = sum(o.counts.values())
        shares = {lab: o.counts.get(lab, 0) / frames for lab in self.labels}
        labelled = [lab for lab in o.counts if lab is not None]
        emotion = max(labelled, key=lambda lab: o.counts[lab]) if labelled else None  # a tie: the label shown first
        return PersonSummary(tid, o.first_ms, o.last_ms, frames, emotion, shares, o.changes,
                             o.counts.get(None, 0) / frames, o.timeline)


def summarize(results, labels, *, timeline: bool = False) -> list[PersonSummary]:
    """Every person in a sequence of ``FrameResult`` s (one video), in the order their tracks ended."""
    log = TrackLog(labels, timeline=timeline)
    people = [p for r in results for p in log.add(r)]
    return people + log.finish()


def interval_shares(counts: Counter, labels) -> dict[str, float]:
    """Each label's share of ``counts`` (0 for all when there is nothing): the state message's shares."""
    total = sum(counts.values())
    return {lab: (counts.get(lab, 0) / total if total else 0.0) for lab in labels}


def write_summary(path, people: list[PersonSummary], labels, *, source: str | None = None) -> tuple[Path, Path]:
    """``path`` (JSON: the people) and a PNG timeline beside it (same name, ``.png``); neither may exist yet.

    Raises:
        FileExistsError: either file is already there (nothing is overwritten).
    """
    import cv2

    from .drawing import draw_timeline

    path = Path(path)
    png = path.with_suffix(".png")
    for p in (path, png):
        if p.exists():
            raise FileExistsError(f"{p}: already exists (never overwritten)")
    body = {"source": source, "labels": list(labels), "people": [p.to_dict() for p in people]}
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    picture = draw_timeline({p.track_id: p.timeline for p in people if p.timeline}, labels, max_tracks=12)
    if not cv2.imwrite(str(png), picture):
        raise OSError(f"{png}: the PNG could not be written")
    return path, png

