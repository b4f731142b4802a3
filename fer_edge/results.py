"""What a recognizer answers: a face (:class:`FaceResult`) and a video frame's faces (:class:`FrameResult`),
each with the one JSON every output writes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: how a face whose top probability is under ``min_emotion_score`` is counted in shares and summaries
#: (its ``emotion`` is None: "not sure")
UNSURE = "unsure"


def shown(emotion: str | None) -> str:
    """The emotion as counted and shown: the label, or :data:`UNSURE` for a face reported without one."""
    return UNSURE if emotion is None else emotion


@dataclass(frozen=True)
class FaceResult:
    """One face.

    Attributes:
        box: ``(x, y, w, h)`` in image pixels.
        detection_score: the face detector's confidence, 0..1.
        emotion: the most probable label; None when its probability is under the recognizer's
            ``min_emotion_score`` ("not sure").
        emotion_score: the top probability, 0..1 (calibrated; smoothed over time in VIDEO/LIVE_STREAM modes).
        probabilities: every label's probability.
        keypoints: the detector's landmarks in image pixels (BlazeFace: eyes, nose, mouth, ears).
        track_id: the face's identity across frames (VIDEO/LIVE_STREAM), else None.
    """

    box: tuple[int, int, int, int]
    detection_score: float
    emotion: str | None
    emotion_score: float
    probabilities: dict[str, float]
    keypoints: tuple[tuple[float, float], ...] = ()
    track_id: int | None = None

    def to_dict(self) -> dict:
        """JSON-ready, with the attributes' names (one meaning per name: no ``score`` key since 0.3)."""
        d = asdict(self)
        d["box"] = list(self.box)
        d["detection_score"] = round(self.detection_score, 4)
        d["emotion_score"] = round(self.emotion_score, 4)
        d["probabilities"] = {k: round(v, 4) for k, v in self.probabilities.items()}
        d["keypoints"] = [[round(x, 1), round(y, 1)] for x, y in self.keypoints]
        if self.track_id is None:
            del d["track_id"]
        return d


@dataclass(frozen=True)
class FrameResult:
    """The faces of one video frame."""

    frame_index: int
    timestamp_ms: float
    faces: list[FaceResult]
    #: where this frame's time went, in ms: ``detect`` (full scans, regions, new-face checks), ``classify``
    #: (crops and the emotion model), ``track`` (matching and smoothing)
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: this frame starts a new scene (a shot cut, a loop restart, a camera moved at once): every earlier
    #: track ended before it, and smoothing starts afresh
    cut: bool = False
    #: the track ids reported in earlier frames that ended at this one (the face left, or a cut): a person's
    #: record can be closed here (:mod:`fer_edge.summary`)
    ended: tuple[int, ...] = ()
    #: VIDEO mode: the same time, stage by stage (:data:`fer_edge.video_pipeline.STAGES`), in ms; not in the JSON
    stages_ms: dict[str, float] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        """The per-frame JSON every output writes (``--json``, ``camera --json-out``, ``serve``'s events, MQTT)."""
        return {"frame": self.frame_index, "timestamp_ms": round(self.timestamp_ms, 1), "cut": self.cut,
                "ended": list(self.ended), "faces": [f.to_dict() for f in self.faces]}
