"""What an :class:`~fer_edge.recognizer.EmotionRecognizer` is built from (style: MediaPipe's options classes).

``RecognizerOptions`` holds the model, the running mode and three groups: :class:`DetectorOptions` (which
faces), :class:`TrackingOptions` (how VIDEO and LIVE_STREAM follow them) and
:class:`~fer_edge.tracking.SmoothingOptions` (how their probabilities are smoothed). Every field is checked
when the options are made (``ValueError``). The defaults are the measured ones
(``benchmarks/results/video.md``). The flat keywords of 0.3 (``RecognizerOptions(tiling=...)``) still work
in 0.4 with a ``DeprecationWarning``; they go in 0.5.
"""
from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass, field, fields
from typing import Callable

from .tracking import SmoothingOptions

DETECTORS = ("blazeface", "blazeface-full", "yunet", "haar")


class RunningMode(enum.Enum):
    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"


def _at_least(owner: str, **values) -> None:
    for name, (value, least) in values.items():
        if value is not None and value < least:
            raise ValueError(f"{owner}.{name} must be at least {least}, got {value}")


@dataclass
class DetectorOptions:
    """Which faces are found.

    Attributes:
        name: ``blazeface`` (bundled, short range), ``blazeface-full`` (bundled, far faces), ``yunet`` (needs
            ``model``) or ``haar`` (OpenCV builds with CascadeClassifier).
        model: yunet's ``face_detection_yunet_*.onnx`` file (nothing is downloaded).
        tiling: the views a whole-frame scan looks at: frame, pair, frame+pair, quad, frame+quad, grid, frame+grid.
        min_score: the detection threshold, 0..1.
        max_faces: at most this many faces a frame.
        min_face_size: faces smaller than this many pixels are not classified.
        verify: (blazeface) IMAGE: a face the detector is unsure of is reported only if found again in closer views
            or judged a face by the face mesh model (``detection.presence``);
            VIDEO/LIVE_STREAM: a new face is reported only once the face mesh model judges it one.
        verify_tries: frames in which that check is tried before the candidate is dropped.
    """

    name: str = "blazeface"
    model: str | None = None
    tiling: str = "frame+grid"
    min_score: float = 0.55
    max_faces: int = 20
    min_face_size: int = 12
    verify: bool = True
    verify_tries: int = 5

    def __post_init__(self):
        if self.name not in DETECTORS:
            raise ValueError(f"DetectorOptions.name must be one of {', '.join(DETECTORS)}, got {self.name!r}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"DetectorOptions.min_score must be within 0..1, got {self.min_score}")
        _at_least("DetectorOptions", max_faces=(self.max_faces, 1), min_face_size=(self.min_face_size, 1),
                  verify_tries=(self.verify_tries, 1))


@dataclass
class TrackingOptions:
    """How VIDEO and LIVE_STREAM follow faces from frame to frame.

    Attributes:
        region_tracking: follow each face with one detector view ``region_scale`` x its size around where it
            is heading, instead of scanning the whole frame.
        region_scale: that view's size, 1..6 x the face.
        full_scan_every: scan the whole frame at least every n frames (new faces).
        track_every: a confirmed face is looked for (and its emotion classified) every n-th frame, in turn with
            the others; between, a small template of it is matched around where it should be.
        motion_scan: where the frame changes away from the followed faces, scan a view around the change...
        motion_scan_gap: ... at most every n frames.
        detect_every: with ``region_tracking`` off, run the whole-frame detector every n-th frame.
        confirm_frames: a face is reported from the frame in which it was seen that many times.
        confirm_score: ... and only while its mean detection score is at least this.
        instant_score: a first detection at least this sure needs no second frame (None: never).
        max_missed: a track ends after this many frames without its face.
        coast_frames: frames a lost face is still reported where it was heading.
        box_filter: One Euro ``(min_cutoff Hz, beta)`` smoothing of the reported boxes; None: raw boxes.
    """

    region_tracking: bool = True
    region_scale: float = 2.0
    full_scan_every: int = 20
    track_every: int = 7
    motion_scan: bool = True
    motion_scan_gap: int = 3
    detect_every: int = 1
    confirm_frames: int = 1
    confirm_score: float = 0.0
    instant_score: float | None = None
    max_missed: int = 5
    coast_frames: int = 1
    box_filter: tuple[float, float] | None = (1.5, 0.05)

    def __post_init__(self):
        _at_least("TrackingOptions", full_scan_every=(self.full_scan_every, 1), track_every=(self.track_every, 1),
                  motion_scan_gap=(self.motion_scan_gap, 1), detect_every=(self.detect_every, 1),
                  confirm_frames=(self.confirm_frames, 1), max_missed=(self.max_missed, 0),
                  coast_frames=(self.coast_frames, 0))
        if not 1.0 <= self.region_scale <= 6.0:
            raise ValueError(f"TrackingOptions.region_scale must be within 1..6, got {self.region_scale}")
        for name in ("confirm_score", "instant_score"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"TrackingOptions.{name} must be within 0..1, got {v}")
        if self.box_filter is not None and (len(self.box_filter) != 2 or min(self.box_filter) < 0):
            raise ValueError(f"TrackingOptions.box_filter must be (min_cutoff, beta) >= 0 or None, got {self.box_filter}")


#: 0.3's flat keywords -> (group, field): accepted in 0.4 with a DeprecationWarning
FLAT = {"detector_model": ("detector", "model"), "tiling": ("detector", "tiling"),
        "min_detection_score": ("detector", "min_score"), "max_faces": ("detector", "max_faces"),
        "min_face_size": ("detector", "min_face_size"), "verify_faces": ("detector", "verify"),
        "verify_tries": ("detector", "verify_tries"),
        **{name: ("tracking", name) for name in (
            "region_tracking", "region_scale", "full_scan_every", "track_every", "motion_scan", "motion_scan_gap",
            "detect_every", "confirm_frames", "confirm_score", "instant_score", "max_missed", "coast_frames",
            "box_filter")}}
GROUPS = {"detector": DetectorOptions, "tracking": TrackingOptions}


@dataclass(init=False)
class RecognizerOptions:
    """Everything an :class:`~fer_edge.recognizer.EmotionRecognizer` is built from; the defaults work.

    Attributes:
        model: a path, bytes, bundled name or tier (default, fast, accurate); None: the bundled default.
        running_mode: IMAGE, VIDEO or LIVE_STREAM.
        detector: :class:`DetectorOptions` (a detector name is taken too).
        tracking: :class:`TrackingOptions` (VIDEO and LIVE_STREAM).
        smoothing: :class:`~fer_edge.tracking.SmoothingOptions` (VIDEO and LIVE_STREAM).
        num_threads: CPU threads for LiteRT.
        device: an Edge TPU (``usb``, ``usb:N``, ``pci``, ``pci:N``); None: the CPU.
        flip_tta: average each face with its mirror image (2x classifier cost).
        balanced: the balanced operating point (the weakest emotions found more often, at a little accuracy;
            per-class offsets in the model's metadata, fitted on ``val/``).
        min_emotion_score: faces whose top calibrated probability is below this are reported with
            ``emotion=None`` ("not sure"); 0: always an emotion.
        result_callback: LIVE_STREAM only: ``result_callback(result: FrameResult, frame, timestamp_ms)``, called on
            a worker thread.
    """

    model: object = None
    running_mode: RunningMode = RunningMode.IMAGE
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    num_threads: int | None = 1
    device: str | None = None
    flip_tta: bool = False
    result_callback: Callable | None = None
    balanced: bool = False
    min_emotion_score: float = 0.0

    def __init__(self, model=None, running_mode: RunningMode = RunningMode.IMAGE, detector=None, tracking=None,
                 smoothing=None, num_threads: int | None = 1, device: str | None = None, flip_tta: bool = False,
                 result_callback: Callable | None = None, balanced: bool = False, min_emotion_score: float = 0.0,
                 **flat):
        unknown = sorted(set(flat) - set(FLAT))
        if unknown:
            raise TypeError(f"RecognizerOptions got an unexpected keyword argument {unknown[0]!r}")
        if isinstance(detector, str):
            flat = {"detector_name": detector, **flat}
            detector = None
        groups = {"detector": detector or DetectorOptions(), "tracking": tracking or TrackingOptions()}
        moved = {}
        for key, value in flat.items():
            group, name = ("detector", "name") if key == "detector_name" else FLAT[key]
            moved.setdefault(group, {})[name] = value
            given = "detector='...'" if key == "detector_name" else f"{key}=..."
            warnings.warn(f"RecognizerOptions({given}) is deprecated since 0.4 and goes in 0.5: use "
                          f"{group}={GROUPS[group].__name__}({name}=...)", DeprecationWarning, stacklevel=2)
        for group, values in moved.items():
            current = groups[group]
            groups[group] = GROUPS[group](**{**{f.name: getattr(current, f.name) for f in fields(current)}, **values})
        self.model, self.running_mode = model, running_mode
        self.detector, self.tracking = groups["detector"], groups["tracking"]
        self.smoothing = smoothing or SmoothingOptions()
        self.num_threads, self.device, self.flip_tta, self.result_callback = num_threads, device, flip_tta, result_callback
        self.balanced, self.min_emotion_score = balanced, min_emotion_score
        self.__post_init__()

    def __post_init__(self):
        if not isinstance(self.running_mode, RunningMode):
            raise ValueError(f"running_mode must be a RunningMode, got {self.running_mode!r}")
        for name, cls in (("detector", DetectorOptions), ("tracking", TrackingOptions),
                          ("smoothing", SmoothingOptions)):
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"{name} must be a {cls.__name__}, got {type(getattr(self, name)).__name__}")
        if not 0.0 <= self.min_emotion_score <= 1.0:
            raise ValueError(f"min_emotion_score must be within 0..1, got {self.min_emotion_score}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be at least 1 (or None), got {self.num_threads}")
        live = self.running_mode is RunningMode.LIVE_STREAM
        if live and not callable(self.result_callback):
            raise ValueError("LIVE_STREAM mode needs a result_callback(result, frame, timestamp_ms)")
        if not live and self.result_callback is not None:
            raise ValueError(f"result_callback is for LIVE_STREAM mode, not {self.running_mode.name}")

    def __getattr__(self, name):  # 0.3's flat reads (options.tiling): deprecated with the keywords
        if name in FLAT:
            group, field_name = FLAT[name]
            warnings.warn(f"RecognizerOptions.{name} is deprecated since 0.4: use .{group}.{field_name}",
                          DeprecationWarning, stacklevel=2)
            return getattr(getattr(self, group), field_name)
        raise AttributeError(f"'RecognizerOptions' object has no attribute {name!r}")
